"""The connection pool and the three kinds of transaction the application opens.

* ``tenant(rid)``: bound to one restaurant; row-level security shows only its rows.
* ``system()``: a trusted cross-tenant transaction (QR lookup, /me, the sync worker).
* ``unscoped()``: no tenant at all; tenant tables show nothing (users, refresh tokens).

Each is one transaction: committed when the block ends normally, rolled back when it raises.
Each records the current trace (W3C traceparent of the current span, '' when none) as
``app.trace_context``, which the outbox trigger keeps on the rows it writes (sync/tracing.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from psycopg_pool import AsyncConnectionPool

from db import queries as q
from db.queries import Conn, Row

_PROPAGATOR = TraceContextTextMapPropagator()


def trace_context() -> str:
    """The current span's traceparent, or '' outside a (sampled or not) trace."""
    if not trace.get_current_span().get_span_context().is_valid:
        return ""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent", "")


class Database:
    def __init__(self, conninfo: str, *, min_size: int = 2, max_size: int = 10, timeout_s: float = 5.0):
        self.pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            open=False,
            kwargs={"application_name": "tabletop"},
        )

    async def open(self, *, wait: bool = False) -> None:
        # Not waiting lets the process start while the database is still down; /ready tells.
        await self.pool.open(wait=wait)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def tenant(self, restaurant_id: UUID) -> AsyncIterator[Conn]:
        async with self.pool.connection() as conn:
            await q.run(conn, "set_tenant", restaurant_id=restaurant_id, trace_context=trace_context())
            yield conn

    @asynccontextmanager
    async def restaurant(
        self, restaurant_id: UUID, *, session_id: UUID | None, user_id: UUID | None
    ) -> AsyncIterator[tuple[Conn, Row]]:
        """``tenant()`` for a caller, with what says whether it may come in, from the same
        statement: its guest session's end (``session_end``), or its account (``user_found``,
        ``is_platform_admin``, ``role``). See enter_restaurant in schema.sql."""
        async with self.pool.connection() as conn:
            entry = await q.one(conn, "enter_restaurant", restaurant_id=restaurant_id, trace_context=trace_context(),
                                session_id=session_id, user_id=user_id)
            yield conn, entry

    @asynccontextmanager
    async def statements(self) -> AsyncIterator[Conn]:
        """A connection on which every statement is its own transaction (autocommit), for
        work done in one statement that scopes itself (order_context, place_order): no BEGIN
        and COMMIT round trips. The connection goes back in transaction mode, as every other
        scope expects it: they set their settings transaction-locally, which on a connection left
        in autocommit would last one statement (row-level security would hide everything). Done
        here rather than by a pool ``reset`` callback, which sends every returned connection
        through the pool's maintenance task."""
        async with self.pool.connection() as conn:
            await conn.set_autocommit(True)
            try:
                yield conn
            finally:
                if not conn.closed:
                    await conn.set_autocommit(False)

    @asynccontextmanager
    async def system(self) -> AsyncIterator[Conn]:
        async with self.pool.connection() as conn:
            await q.run(conn, "set_system_scope", trace_context=trace_context())
            yield conn

    @asynccontextmanager
    async def user(self, user_id: UUID) -> AsyncIterator[Conn]:
        """A transaction of one user's own rows (saved venues) that reads every restaurant's
        public row."""
        async with self.pool.connection() as conn:
            await q.run(conn, "set_user_scope", user_id=user_id, trace_context=trace_context())
            yield conn

    @asynccontextmanager
    async def unscoped(self) -> AsyncIterator[Conn]:
        async with self.pool.connection() as conn:
            yield conn

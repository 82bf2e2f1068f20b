"""A process of the system with an in-memory span exporter, for tests/test_tracing.py: it
does one thing, then writes every span it recorded as JSON to the file given.

    python -m tests.tracing_harness api OUT GUEST_TOKEN ORDER_PATH BODY_JSON CALLBACK_PATH
        the API (api.app.create_app from the environment) places one order, as a guest, and
        takes one partner callback at CALLBACK_PATH
    python -m tests.tracing_harness worker OUT ORDER_ID
        the worker (sync.worker.serve from the environment) runs until every outbox row of
        the order is synced, then stops as on SIGTERM
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import psycopg
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

EXPORTER = InMemorySpanExporter()


def _install() -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(provider)


def _span(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None
    return {"name": span.name, "trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}",
            "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
            "attributes": dict(span.attributes or {}), "process": os.getpid()}


def _write(out: str, extra: dict[str, Any]) -> None:
    Path(out).write_text(json.dumps({"spans": [_span(s) for s in EXPORTER.get_finished_spans()], **extra}))


async def _api(out: str, token: str, path: str, body: str, callback: str) -> None:
    from api.app import create_app

    app = create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tabletop.test") as client:
            answer = await client.post(path, content=body, headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            await client.post(callback, json={})
    _write(out, {"status": answer.status_code, "order": answer.json()})


async def _worker(out: str, order_id: str) -> None:
    from sync.config import load_sync_settings
    from sync.worker import serve

    environ = dict(os.environ)
    serving = asyncio.create_task(serve(environ["DATABASE_URL"], load_sync_settings(environ, production=False),
                                        environ))
    async with await psycopg.AsyncConnection.connect(environ["DATABASE_URL"], autocommit=True) as conn:
        await conn.execute("SELECT set_config('app.scope', 'system', false)")
        for _ in range(300):
            cur = await conn.execute("SELECT count(*) FILTER (WHERE status <> 'synced'), count(*) FROM sync_log"
                                     " WHERE entity_id = %s", (order_id,))
            row = await cur.fetchone()
            assert row is not None
            if row[1] and not row[0]:
                break
            await asyncio.sleep(0.1)
    os.kill(os.getpid(), signal.SIGTERM)
    await serving
    _write(out, {})


def main() -> None:
    _install()
    role, out, *args = sys.argv[1:]
    if role == "api":
        asyncio.run(_api(out, *args))
    else:
        asyncio.run(_worker(out, *args))


if __name__ == "__main__":
    main()

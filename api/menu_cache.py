"""The menu as guests read it, cached per process by the restaurant's menu version, and the
conditional-request rules (ETag, If-None-Match, 304) of the reads that use it.

A QR scan storm on one restaurant reads the same menu hundreds of times a minute. Each read
checks the restaurant's menu version (db/menu.py version: one primary-key read in the request's
own transaction, so a change committed by any process is seen by the next read: no TTL, no
staleness), and only a version this process has not built yet reads the whole menu (two
queries, every item with its options) and serialises it, once: concurrent readers of the same
missing version wait for the one that builds it. The cache holds one entry per restaurant (an
older version is useless once a newer one is read), at most ``size`` restaurants, least recently
read out first. Size 0 turns it off: every read then takes the path from before the cache (no
version read, no ETag), which is what bench/ compares against.

A menu read between two version reads that agree is the menu of that version (every change to
anything the menu shows raises the version in its own transaction, menu_versions in schema.sql);
when they disagree a change committed meanwhile, and the menu read is answered but not cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import Response

from api.responses import dumps
from db import menu
from db.queries import Conn

# Part of every menu ETag: raise it when the menu document's shape changes in a release, so a
# client holding the old shape does not get 304 for an unchanged version.
SHAPE = "2"


@dataclass(frozen=True)
class CachedMenu:
    version: int | None  # None: read while the menu changed, or with the cache off
    etag: str | None
    document: dict[str, Any]
    body: bytes


def menu_etag(restaurant_id: UUID, version: int) -> str:
    # The restaurant is part of the tag so a client that follows a share link to another
    # restaurant never matches a tag of the first one.
    return f'"m{SHAPE}-{restaurant_id.hex[:12]}-{version}"'


def body_etag(body: bytes) -> str:
    return f'"h-{hashlib.sha256(body).hexdigest()[:24]}"'


class MenuCache:
    def __init__(self, size: int, reads: Counter | None = None):
        self.size = size
        self._reads = reads
        self._entries: OrderedDict[UUID, CachedMenu] = OrderedDict()
        self._building: dict[tuple[UUID, int], asyncio.Future[CachedMenu]] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, restaurant_id: UUID, version: int) -> CachedMenu | None:
        found = self._entries.get(restaurant_id)
        if found is None or found.version != version:
            return None
        self._entries.move_to_end(restaurant_id)
        return found

    def put(self, restaurant_id: UUID, entry: CachedMenu) -> None:
        current = self._entries.get(restaurant_id)
        if current is not None and current.version is not None and entry.version is not None \
                and current.version > entry.version:
            return  # a slower reader of an older version must not replace a newer one
        self._entries[restaurant_id] = entry
        self._entries.move_to_end(restaurant_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def _count(self, result: str) -> None:
        if self._reads is not None:
            self._reads.labels(result).inc()

    async def menu(
        self, conn: Conn, restaurant_id: UUID, build: Callable[[list[Any]], dict[str, Any]],
    ) -> CachedMenu:
        """The restaurant's current menu: from the cache when its version is cached, else read
        (once per version and process) with ``conn`` and shaped by ``build``."""
        if self.size == 0:
            self._count("off")
            document = build(await menu.full_menu(conn, restaurant_id))
            return CachedMenu(None, None, document, dumps(document))
        version = await menu.version(conn, restaurant_id)
        found = self.get(restaurant_id, version)
        if found is not None:
            self.hits += 1
            self._count("hit")
            return found
        key = (restaurant_id, version)
        pending = self._building.get(key)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not pending.cancelled() or (task is not None and task.cancelling()):
                    raise
                # The request building it went away: build it here.
        return await self._build(conn, restaurant_id, version, build)

    async def _build(
        self, conn: Conn, restaurant_id: UUID, version: int, build: Callable[[list[Any]], dict[str, Any]],
    ) -> CachedMenu:
        self.misses += 1
        self._count("miss")
        key = (restaurant_id, version)
        future: asyncio.Future[CachedMenu] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            document = build(await menu.full_menu(conn, restaurant_id))
            unchanged = await menu.version(conn, restaurant_id) == version
            entry = CachedMenu(version if unchanged else None, menu_etag(restaurant_id, version) if unchanged else None,
                               document, dumps(document))
            if unchanged:
                self.put(restaurant_id, entry)
            future.set_result(entry)
            return entry
        except BaseException:
            future.cancel()  # waiters build it themselves
            raise
        finally:
            if self._building.get(key) is future:
                del self._building[key]


# ------------------------------------------------------------------ conditional requests

_TAG = re.compile(r'\s*(?:W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


def none_match(request: Request, etag: str) -> bool:
    """Whether If-None-Match matches ``etag`` (weak comparison, RFC 9110 13.1.2): ``*``, or a
    list of entity tags with or without ``W/``. A header that is not a list of entity tags
    matches nothing, so the full answer goes out."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    if header.strip() == "*":
        return True
    tags, at = [], 0
    while at < len(header):
        match = _TAG.match(header, at)
        if match is None or match.end() == at:
            return False
        tags.append(match.group(1))
        at = match.end()
    return etag.removeprefix("W/") in tags


def conditional(request: Request, body: bytes, etag: str | None, *, private: bool) -> Response:
    """200 with ``body`` and its ETag, or 304 without a body when the client holds it already.
    Clients must revalidate (no-cache); a menu read with a token is not for shared caches."""
    headers = {"Cache-Control": "private, no-cache" if private else "no-cache"}
    if etag is not None:
        headers["ETag"] = etag
        if none_match(request, etag):
            return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)

"""The Convex client (sync/convex/client.py): kept-alive connections, the server closing
them, what each answer becomes, timeouts; and the pusher's changes sent without the encoder
(documents build Convex JSON already). A scripted server of the test's own plays
Convex, so each test chooses how it answers; tests/test_sync.py drives the client against
the stand-in through the whole system."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import orjson
import pytest
from convex.values import convex_to_json

from sync.convex import documents
from sync.convex.client import ConvexFunctionError, ConvexHttp, ConvexUnavailable

OK = orjson.dumps({"status": "success", "value": {"results": []}})
Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter, dict[str, Any]], Awaitable[bool]]


def answer(body: bytes = OK, status: str = "200 OK", *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: dict[str, Any]) -> bool:
    writer.write(answer())
    return True


@dataclass
class Server:
    """Reads each request whole (head and Content-Length body), records it, and lets the
    test's script answer it; the script says whether the connection stays open."""

    script: list[Answer] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0
    url: str = ""
    handlers: list[asyncio.Task[Any]] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.handlers.append(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode().split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = {"line": lines[0], "headers": headers, "body": orjson.loads(body) if body else None,
                           "connection": self.connections}
                self.requests.append(request)
                respond = self.script.pop(0) if self.script else plain
                keep = await respond(reader, writer, request)
                await writer.drain()
                if not keep:
                    return
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    s = Server()
    listener = await asyncio.start_server(s.serve, "127.0.0.1", 0)
    s.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    yield s
    listener.close()
    for task in s.handlers:
        task.cancel()
    await asyncio.gather(*s.handlers, return_exceptions=True)
    await listener.wait_closed()


@pytest.fixture
async def convex(server: Server) -> AsyncIterator[ConvexHttp]:
    client = ConvexHttp(server.url, "deploy-key", timeout_s=1.0)
    yield client
    await client.close()


async def test_calls_share_one_kept_alive_connection_and_send_convex_json(server: Server, convex: ConvexHttp):
    for n in range(5):
        assert await convex.mutation("sync:applyBatch", {"changes": [{"pgId": str(n), "version": n}]}) == {
            "results": []}
    assert server.connections == 1
    first = server.requests[0]
    assert first["line"] == "POST /api/mutation HTTP/1.1"
    assert first["headers"]["authorization"] == "Convex deploy-key"
    assert first["headers"]["content-type"] == "application/json"
    assert first["headers"]["host"] == server.url.removeprefix("http://")
    assert first["body"] == {"path": "sync:applyBatch", "args": {"changes": [{"pgId": "0", "version": 0.0}]},
                             "format": "json"}
    await convex.query("sync:epoch", {})
    assert server.requests[-1]["line"] == "POST /api/query HTTP/1.1"


async def test_a_base_url_with_a_path_prefixes_every_call(server: Server):
    client = ConvexHttp(server.url + "/deployment/", None)
    try:
        await client.query("sync:epoch", {})
    finally:
        await client.close()
    assert server.requests[0]["line"] == "POST /deployment/api/query HTTP/1.1"
    assert "authorization" not in server.requests[0]["headers"]


async def test_a_connection_the_server_closed_while_idle_is_replaced(server: Server, convex: ConvexHttp):
    async def then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: dict[str, Any]) -> bool:
        writer.write(answer())
        return False  # Node closes an idle kept-alive connection after 5 s; this one at once

    server.script = [then_close]
    await convex.query("sync:epoch", {})
    await asyncio.sleep(0.05)
    await convex.query("sync:epoch", {})
    assert server.connections == 2


async def test_what_convex_answers_becomes_the_same_errors_as_before(server: Server, convex: ConvexHttp):
    def scripted(raw: bytes) -> Answer:
        async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: dict[str, Any]) -> bool:
            writer.write(raw)
            return True
        return respond

    server.script = [
        scripted(answer(b'{"code":"ServiceUnavailable"}', "503 Service Unavailable")),
        scripted(answer(b"<html>bad gateway</html>")),
        scripted(answer(orjson.dumps({"status": "error", "errorMessage": "no", "errorData": {"code": "x"}}))),
        scripted(answer(orjson.dumps({"status": "odd"}))),
        scripted(b"SMTP ready\r\n\r\n"),
    ]
    with pytest.raises(ConvexUnavailable, match=re.escape('HTTP 503: {"code":"ServiceUnavailable"}')):
        await convex.query("sync:epoch", {})
    with pytest.raises(ConvexUnavailable, match=re.escape("non-JSON answer: <html>bad gateway</html>")):
        await convex.query("sync:epoch", {})
    with pytest.raises(ConvexFunctionError, match=r"^no$") as refused:
        await convex.mutation("sync:applyBatch", {"changes": []})
    assert refused.value.data == {"code": "x"}
    with pytest.raises(ConvexUnavailable, match=r"^unexpected answer: "):
        await convex.query("sync:epoch", {})
    with pytest.raises(ConvexUnavailable, match=r"^RemoteProtocolError: "):
        await convex.query("sync:epoch", {})
    assert await convex.query("sync:epoch", {}) == {"results": []}  # a fresh connection after the garbage


async def test_a_convex_that_never_answers_times_out_and_a_refused_connection_is_unavailable(server: Server):
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: dict[str, Any]) -> bool:
        await asyncio.sleep(30)
        return False

    server.script = [hang]
    client = ConvexHttp(server.url, None, timeout_s=0.3)
    try:
        with pytest.raises(ConvexUnavailable, match=r"^ReadTimeout: "):
            await client.query("sync:epoch", {})
        assert await client.query("sync:epoch", {}) == {"results": []}  # the hung connection is not reused
    finally:
        await client.close()
    assert [r["connection"] for r in server.requests] == [1, 2]

    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    nobody = ConvexHttp(f"http://127.0.0.1:{port}", None, timeout_s=1.0)
    try:
        with pytest.raises(ConvexUnavailable, match=r"^ConnectError: "):
            await nobody.query("sync:epoch", {})
    finally:
        await nobody.close()


def test_documents_are_built_in_convex_json_encoding_so_the_target_sends_them_as_they_are():
    """ConvexTarget sends changes with ``encoded=True`` (no encoder walk): documents.change
    must build nothing the encoder would change (ints, special floats, bytes, bad names)."""
    moment = datetime(2026, 12, 3, 13, 20, 42, 123456, tzinfo=UTC)
    order = {"id": uuid4(), "restaurant_id": uuid4(), "number": 2**40, "table_id": uuid4(), "table_label": "T1",
             "status": "pending", "order_type": "dine_in", "customer_name": None, "notes": "no onions",
             "subtotal": 68050, "tax": 0, "tip": 0, "discount": 0, "total": 68050, "currency": "INR", "version": 3,
             "created_at": moment, "updated_at": moment.isoformat(),
             "items": [{"id": str(uuid4()), "menu_item_id": str(uuid4()), "name": "Naan", "unit_price": 0,
                        "quantity": 2, "line_total": 0, "notes": None, "variation_name": "Large",
                        "addons": [{"id": str(uuid4()), "name": "Butter", "group_name": "Extras", "price": 1500}]}]}
    item = {"id": uuid4(), "restaurant_id": uuid4(), "category_id": uuid4(), "category_name": "Mains",
            "name": "Dal", "description": None, "price": 18050, "is_available": False, "rank": 0, "version": 1,
            "deleted_at": None}
    table = {"id": uuid4(), "restaurant_id": uuid4(), "label": "T2", "seats": None, "is_active": True, "version": 9}
    changes = [documents.change(kind, {"entity_id": row["id"], "restaurant_id": row["restaurant_id"],
                                       "entity_version": row["version"]}, row)
               for kind, row in (("order", order), ("menu_item", item), ("table", table))]
    changes.append(documents.change("table", {"entity_id": uuid4(), "restaurant_id": uuid4(),
                                              "entity_version": 4}, None))
    for change in changes:
        assert orjson.dumps(convex_to_json(change)) == orjson.dumps(change)


async def test_an_encoded_mutation_sends_its_args_as_they_are(server: Server, convex: ConvexHttp):
    args = {"changes": [{"pgId": "p", "version": 2.0, "doc": {"name": "Naan", "price": 2500.0}}]}
    await convex.mutation("sync:applyBatch", args, encoded=True)
    await convex.mutation("sync:applyBatch", {"changes": [{"version": 2}]})  # ints become floats, as before
    assert [r["body"]["args"] for r in server.requests] == [args, {"changes": [{"version": 2.0}]}]
    assert b'"version":2.0' in orjson.dumps(server.requests[-1]["body"])

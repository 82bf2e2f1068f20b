"""A local SMTP server for development and tests (aiosmtpd): it accepts every message, keeps
it in memory, and shows what it received over HTTP. Not a mail relay: nothing leaves the
machine. See scripts/smtp_standin.md.

    python -m scripts.smtp_standin --port 0 --http-port 0
    # stdout, exactly one line once both listen:
    smtp-standin ready smtp://127.0.0.1:41235 http://127.0.0.1:41234

HTTP control: ``GET /_standin/messages`` (every message received, oldest first: from, to,
subject, message_id, text, received_at), ``POST /_standin/reset`` (forget them, no fault),
``POST /_standin/fault {"mode": "ok" | "refuse451" | "refuse550" | "down", "count": n}``:
refuse the next n messages' recipients with 451 (try later) or 550 (mailbox refused), or
close the SMTP port (connections refused) until the mode is set back to ``ok``.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from scripts import standin_server
from scripts.standin_server import Fault

FAULTS = {"ok", "refuse451", "refuse550", "down"}
SMTP_PATH = "rcpt"  # the one place a refusal applies (Fault counts per path)


@dataclass
class Mailbox:
    """What the stand-in received, and the fault it is playing."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    fault: Fault = field(default_factory=lambda: Fault("ok", None, frozenset({SMTP_PATH})))

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        mode = self.fault.take(SMTP_PATH)
        if mode == "refuse451":
            return "451 4.3.0 stand-in: try again later"
        if mode == "refuse550":
            return "550 5.1.1 stand-in: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain",)) if parsed.is_multipart() else parsed
        # Lines as written, not as SMTP carried them (CRLF).
        text = body.get_content().replace("\r\n", "\n") if body is not None else ""
        self.messages.append({
            "id": len(self.messages) + 1, "mail_from": envelope.mail_from, "rcpt_to": list(envelope.rcpt_tos),
            "from": parsed["From"], "to": parsed["To"], "subject": parsed["Subject"],
            "message_id": parsed["Message-ID"], "text": text, "received_at": time.time(),
        })
        return "250 OK: kept by the stand-in"


class SmtpListener:
    """The SMTP port: open, or closed while the fault is ``down``."""

    def __init__(self, mailbox: Mailbox, port: int):
        self.mailbox, self.port = mailbox, port
        self.server: asyncio.Server | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: SMTP(self.mailbox, hostname="smtp-standin"),
                                               host="127.0.0.1", port=self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


def build_app(mailbox: Mailbox, listener: SmtpListener) -> Starlette:
    async def messages(request: Request) -> JSONResponse:
        return JSONResponse(mailbox.messages)

    async def reset(request: Request) -> JSONResponse:
        mailbox.messages.clear()
        mailbox.fault = Fault("ok", None, frozenset({SMTP_PATH}))
        if listener.server is None:
            await listener.open()
        return JSONResponse({"ok": True})

    async def fault(request: Request) -> JSONResponse:
        body = await request.json()
        mode, count = body.get("mode", "ok"), body.get("count")
        if mode not in FAULTS:
            return JSONResponse({"error": f"mode must be one of {sorted(FAULTS)}"}, status_code=400)
        mailbox.fault = Fault(mode, count, frozenset({SMTP_PATH}))
        if mode == "down":
            await listener.close()
        elif listener.server is None:
            await listener.open()
        return JSONResponse({"ok": True, "mode": mode})

    async def info(request: Request) -> JSONResponse:
        return JSONResponse({"smtp_host": "127.0.0.1", "smtp_port": listener.port})

    return Starlette(routes=[
        Route("/_standin/messages", messages, methods=["GET"]),
        Route("/_standin/reset", reset, methods=["POST"]),
        Route("/_standin/fault", fault, methods=["POST"]),
        Route("/_standin/info", info, methods=["GET"]),
    ])


async def serve(port: int, http_port: int) -> None:
    mailbox = Mailbox()
    listener = SmtpListener(mailbox, port)
    await listener.open()
    try:
        await standin_server.serve(build_app(mailbox, listener), asyncio.Event(), http_port, "smtp-standin",
                                   also=(f"smtp://127.0.0.1:{listener.port}",))
    finally:
        await listener.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8025, help="SMTP port; 0 picks a free one (see the ready line)")
    parser.add_argument("--http-port", type=int, default=8026, help="HTTP port; 0 picks a free one")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port, args.http_port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()

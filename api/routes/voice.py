"""Vapi's server URL (docs/voice.md): ``POST /api/voice/vapi/{rid}`` takes every server
message of a restaurant's voice assistant, and owners and managers read its calls.

Vapi sends the secret configured on the assistant's server credential, as ``X-Vapi-Secret``
(the legacy header) or ``Authorization: Bearer``; it is compared in constant time with
VAPI_SERVER_SECRET before the body is read. A missing or wrong one: 401, nothing written.
The restaurant is the path's (one assistant per restaurant, its server URL naming it): an
unknown one is 404.

- ``tool-calls``: each tool call is answered in ``results`` (``toolCallId``, ``name``, and
  ``result`` or ``error``), all with 200: a tool's refusal (an ambiguous name, an unavailable
  item, bad arguments) is for the assistant to ask the caller about, and writes nothing.
- ``end-of-call-report``: kept once per call (a repeated report changes nothing).
- ``status-update`` and Vapi's other informational messages: 200, nothing kept.
- ``assistant-request``: we configure no assistant per call; the error is spoken.
- Anything else (another request type, an unknown type, a body that is not Vapi's): 4xx.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import math
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import orjson
import structlog
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import voice as tools
from api.access import OWNER_MANAGER, restaurant_scope
from api.access import path_restaurant_id as _rid
from api.bodies import query_params
from api.errors import ApiError
from api.handoff import after_commit
from api.responses import JSON
from api.state import Services, services
from db import voice
from db.queries import Row

log = structlog.get_logger("api")

CallId = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,100}$")]
ToolCallId = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,100}$")]
ToolName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
MessageType = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._\[\]=\"-]{1,80}$")]
EndedReason = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,200}$")]
MAX_TOOL_CALLS = 10
MAX_ARGUMENTS_BYTES = 16 * 1024
MAX_SUMMARY_CHARS = 4000
MAX_TRANSCRIPT_CHARS = 20000
# Vapi's messages that want no answer (status-update included): accepted with 200, nothing kept.
INFORMATIONAL = frozenset({
    "status-update", "conversation-update", "speech-update", "transcript", "hang", "model-output",
    "user-interrupted", "transfer-update", "language-change-detected", "voice-input", "assistant.speechStarted",
    "phone-call-control", "chat.created", "chat.deleted", "session.created", "session.updated", "session.deleted",
    "call.deleted", "call.delete.failed",
})
# Vapi's messages that want an answer we do not give (their own servers, or features we do not use).
UNSUPPORTED = frozenset({"transfer-destination-request", "handoff-destination-request", "knowledge-base-request",
                         "voice-request", "call.endpointing.request"})
_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Vapi(BaseModel):
    # Vapi's messages carry far more than we read (the call, the assistant, the artifact).
    model_config = ConfigDict(extra="allow")


class Customer(Vapi):
    number: Any = None


class CallRef(Vapi):
    id: CallId
    customer: Customer | None = None


class ToolFunction(Vapi):
    name: ToolName
    arguments: Any = None  # a JSON string (Vapi's SDK) or an object (Vapi's docs)
    parameters: Any = None


class ToolCall(Vapi):
    id: ToolCallId
    type: str | None = None
    function: ToolFunction | None = None
    # The shape some of Vapi's examples show: the name and arguments at the top.
    name: ToolName | None = None
    arguments: Any = None
    parameters: Any = None

    def tool_name(self) -> str:
        name = self.function.name if self.function is not None else self.name
        if name is None:
            raise _invalid(f"tool call {self.id} names no function")
        return name

    def raw_arguments(self) -> Any:
        if self.function is not None:
            return self.function.arguments if self.function.arguments is not None else self.function.parameters
        return self.arguments if self.arguments is not None else self.parameters


class ToolWithToolCall(Vapi):
    toolCall: ToolCall | None = None  # Vapi's field names are camelCase


class Analysis(Vapi):
    summary: Annotated[str, Field(max_length=100_000)] | None = None


class Artifact(Vapi):
    transcript: Annotated[str, Field(max_length=2_000_000)] | None = None


class Message(Vapi):
    type: MessageType
    call: CallRef | None = None
    customer: Customer | None = None
    toolCallList: Annotated[list[ToolCall], Field(max_length=MAX_TOOL_CALLS)] | None = None
    toolWithToolCallList: Annotated[list[ToolWithToolCall], Field(max_length=MAX_TOOL_CALLS)] | None = None
    endedReason: EndedReason | None = None
    cost: Annotated[float, Field(ge=0, le=1_000_000)] | None = None
    startedAt: datetime | None = None
    endedAt: datetime | None = None
    analysis: Analysis | None = None
    artifact: Artifact | None = None
    summary: Annotated[str, Field(max_length=100_000)] | None = None  # older reports: at the top
    transcript: Annotated[str, Field(max_length=2_000_000)] | None = None

    @field_validator("cost")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("cost must be a finite number")
        return value

    def tool_calls(self) -> list[ToolCall]:
        if self.toolCallList:
            return self.toolCallList
        calls = [t.toolCall for t in self.toolWithToolCallList or [] if t.toolCall is not None]
        if not calls:
            raise _invalid("a tool-calls message carries toolCallList (or toolWithToolCallList)")
        return calls

    def call_id(self) -> str:
        if self.call is None:
            raise _invalid(f"a {self.type} message carries its call (call.id)")
        return self.call.id

    def caller_phone(self) -> str | None:
        """The caller's number when Vapi knows it (a phone call); anything else is no number."""
        for customer in (self.customer, self.call.customer if self.call else None):
            number = customer.number if customer is not None else None
            if isinstance(number, str) and re.fullmatch(r"\+?[0-9]{3,20}", number):
                return number
        return None


class ServerMessage(Vapi):
    """What Vapi POSTs to a server URL: ``{"message": {...}}``."""

    message: Message


class VoiceCallQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Annotated[str, Field(max_length=300)] | None = None


def _invalid(detail: str) -> ApiError:
    return ApiError(400, "invalid_message", detail)


def _masked(phone: str | None) -> str | None:
    return None if phone is None else "*" * max(len(phone) - 2, 0) + phone[-2:]


def _authenticate(request: Request, secret: str) -> None:
    """Fails closed: 401 unless X-Vapi-Secret or the bearer token is the configured secret."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    given = [request.headers.get("x-vapi-secret", ""), token.strip() if scheme.lower() == "bearer" else ""]
    expected = secret.encode()
    # Both compared every time, in constant time; an empty value (or an empty secret) matches nothing.
    matches = [hmac.compare_digest(expected, value.encode()) for value in given]
    if not secret or not any(matches):
        log.warning("voice_refused", reason="missing secret" if not any(given) else "wrong secret")
        raise ApiError(401, "invalid_secret", "send the server URL secret as X-Vapi-Secret (or Authorization: Bearer)",
                       headers={"WWW-Authenticate": "Bearer"})


def _parse(raw: bytes) -> Message:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "malformed_json", "the body is not valid JSON") from None
    try:
        return ServerMessage.model_validate(data).message
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise _invalid(f"not a Vapi server message ({where}: {first['msg']})") from None


async def vapi(request: Request) -> Response:
    svc = services(request)
    settings = svc.providers.voice
    _authenticate(request, settings.server_secret)
    rid = _rid(request)
    structlog.contextvars.bind_contextvars(restaurant_id=str(rid))
    message = _parse(await request.body())
    structlog.contextvars.bind_contextvars(vapi_message=message.type)
    if message.type in INFORMATIONAL or message.type.startswith("transcript["):
        await tools.restaurant_of(svc, rid)
        return JSON({})
    if message.type == "tool-calls":
        return await _tool_calls(request, svc, rid, message)
    if message.type == "end-of-call-report":
        return await _end_of_call(svc, rid, message)
    if message.type == "assistant-request":
        await tools.restaurant_of(svc, rid)
        # Vapi speaks the error: this server URL serves a saved assistant's tools, not assistants.
        return JSON({"error": "Sorry, ordering by phone is not set up for this number yet."})
    if message.type in UNSUPPORTED:
        raise ApiError(400, "unsupported_message", f"this server URL does not answer {message.type} messages")
    raise ApiError(400, "unknown_message_type", "not a Vapi server message type this server knows")


async def _tool_calls(request: Request, svc: Services, rid: UUID, message: Message) -> Response:
    calls = message.tool_calls()
    names = [tool_call.tool_name() for tool_call in calls]  # every call well-formed before any runs
    call = tools.Call(message.call_id(), message.caller_phone())
    structlog.contextvars.bind_contextvars(vapi_call_id=call.id, caller=_masked(call.caller_phone))
    restaurant = await tools.restaurant_of(svc, rid)
    toolbox = tools.Tools(svc, restaurant, call, svc.providers.voice.server_secret)
    # One budget for the whole message: Vapi waits for all of its tool calls' answers at once.
    deadline = asyncio.get_running_loop().time() + svc.providers.voice.tool_budget_s
    results = []
    for tool_call, name in zip(calls, names, strict=True):
        answer = await _run(request, svc, toolbox, name, tool_call.raw_arguments(), deadline)
        result: dict[str, Any] = {"toolCallId": tool_call.id, "name": name}
        if answer.error is not None:
            result["error"] = answer.error
        else:
            result["result"] = answer.say
        if answer.data:
            result["metadata"] = answer.data
        results.append(result)
        log.info("voice_tool", tool=name, refused=answer.error is not None)
    return JSON({"results": results})


def _arguments(raw: Any) -> bytes:
    """A tool call's arguments as a JSON object's text (Vapi sends a string, its docs an object)."""
    if raw is None:
        return b"{}"
    if isinstance(raw, str):
        if len(raw.encode()) > MAX_ARGUMENTS_BYTES:
            raise tools.Refused("The arguments are too long.")
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise tools.Refused("The arguments are not valid JSON.") from None
    if not isinstance(raw, dict):
        raise tools.Refused("The arguments must be a JSON object.")
    # Validated from JSON, as every body of the API is: strict types, and ids and times from strings.
    return orjson.dumps(raw)


async def _run(request: Request, svc: Services, toolbox: tools.Tools, name: str, raw: Any,
               deadline: float) -> tools.Answer:
    """One tool call's answer; a refusal is an answer too. Reads end by the message's ``deadline``
    (VAPI_TOOL_BUDGET_S after it arrived), placing an order does not: cut short after its commit,
    the caller would be told to try again for an order that exists (the same order would be
    found again, but the caller would have been told otherwise)."""
    try:
        args = _arguments(raw)
        if name == "search_menu":
            async with asyncio.timeout_at(deadline):
                return await toolbox.search_menu(tools.SearchMenu.model_validate_json(args))
        if name == "quote_order":
            async with asyncio.timeout_at(deadline):
                return await toolbox.quote_order(tools.OrderRequest.model_validate_json(args))
        if name == "place_order":
            answer, created = await toolbox.place_order(tools.PlaceOrder.model_validate_json(args))
            if not created.replayed:
                after_commit(request, "order", created.order["id"])
                svc.metrics.orders_created.labels("voice").inc()
            return answer
        if name == "order_status":
            async with asyncio.timeout_at(deadline):
                return await toolbox.order_status(tools.OrderStatus.model_validate_json(args))
        return tools.Answer(error=f"There is no tool named {name} here.")
    except ValidationError as exc:
        return tools.Answer(error=tools.args_error(exc))
    except tools.Refused as refused:
        return tools.Answer(error=refused.error, data=refused.data)
    except TimeoutError:
        log.warning("voice_tool_slow", tool=name, budget_s=svc.providers.voice.tool_budget_s)
        return tools.Answer(error="That is taking too long right now; please try again in a moment.")


def _text(value: str | None, limit: int) -> tuple[str | None, bool]:
    """Vapi's text as we keep it: without control characters (tab and line breaks stay), at most ``limit``."""
    if value is None:
        return None, False
    clean = _TEXT_CONTROLS.sub("", value)
    return clean[:limit], len(clean) > limit


async def _end_of_call(svc: Services, rid: UUID, message: Message) -> Response:
    call_id = message.call_id()
    if message.endedReason is None:
        raise _invalid("an end-of-call-report carries endedReason")
    structlog.contextvars.bind_contextvars(vapi_call_id=call_id)
    await tools.restaurant_of(svc, rid)
    summary, _ = _text(message.analysis.summary if message.analysis and message.analysis.summary is not None
                       else message.summary, MAX_SUMMARY_CHARS)
    transcript, truncated = _text(message.artifact.transcript if message.artifact and message.artifact.transcript
                                  is not None else message.transcript, MAX_TRANSCRIPT_CHARS)
    report = voice.CallReport(
        call_id=call_id, ended_reason=message.endedReason, summary=summary, transcript=transcript,
        transcript_truncated=truncated,
        cost_usd=Decimal(str(message.cost)).quantize(Decimal("0.0001")) if message.cost is not None else None,
        started_at=message.startedAt, ended_at=message.endedAt,
    )
    async with svc.db.tenant(rid) as conn:
        kept = await voice.record_call(conn, rid, report)
    log.info("voice_call_ended", ended_reason=message.endedReason, repeated=not kept)
    return JSON({})


# ------------------------------------------------------------------ owners' list of calls


def _cursor(raw: str | None) -> tuple[datetime, str] | None:
    if raw is None:
        return None
    try:
        received_at, _, call_id = base64.urlsafe_b64decode(raw.encode() + b"==").decode().partition("|")
        return datetime.fromisoformat(received_at), call_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, "invalid_cursor", "cursor is not one this API issued") from exc


def _call(row: Row) -> dict[str, Any]:
    return {**row, "cost_usd": float(row["cost_usd"]) if row["cost_usd"] is not None else None}


async def list_calls(request: Request) -> Response:
    """The restaurant's voice calls with their end-of-call reports and the orders they placed."""
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        query = query_params(request, VoiceCallQuery)
        rows = await voice.calls_page(scope.conn, _rid(request), cursor=_cursor(query.cursor), limit=query.limit)
    next_cursor = None
    if len(rows) == query.limit:
        last = rows[-1]
        next_cursor = base64.urlsafe_b64encode(f"{last['received_at'].isoformat()}|{last['call_id']}".encode()
                                               ).decode().rstrip("=")
    return JSON({"items": [_call(r) for r in rows], "next_cursor": next_cursor})


routes = [
    Route("/api/voice/vapi/{rid:uuid}", vapi, methods=["POST"]),
    Route("/api/restaurants/{rid:uuid}/voice/calls", list_calls, methods=["GET"]),
]

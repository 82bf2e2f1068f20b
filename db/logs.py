"""Process logging for every entry point (API, worker, scripts): structlog, JSON off a
terminal or in production, a console renderer on a terminal. Context such as request_id
is bound through contextvars and lands on every line.

Exceptions are logged as their types, messages and frames only (``safe_exception``): never
local variables, never a database error's quoted row. No log line may carry a password, a
token or a secret.

It lives in db/ because db is the one layer every process imports.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from typing import Any, Literal

import orjson
import psycopg
import structlog
from pydantic import ValidationError
from structlog.typing import EventDict

LogFormat = Literal["auto", "json", "console"]


MAX_FRAMES = 20
MAX_CHAIN = 5
MAX_MESSAGE = 300


def _message(exc: BaseException) -> str:
    """What an exception says, without the data it carries: a database error's DETAIL quotes the
    failing row (a sealed secret, a guest's phone), a validation error the input it refused."""
    if isinstance(exc, psycopg.Error):
        diag = exc.diag
        return (f"{diag.message_primary or type(exc).__name__} (sqlstate {diag.sqlstate or '-'}, "
                f"constraint {diag.constraint_name or '-'})")
    if isinstance(exc, ValidationError):
        return f"{exc.error_count()} validation errors at " + ", ".join(
            ".".join(map(str, err["loc"])) for err in exc.errors(include_input=False, include_url=False)[:10])
    return str(exc)[:MAX_MESSAGE]


def safe_exception(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """Replaces ``exc_info`` with the exception chain as types, messages and frames (file, line,
    function): never the frames' local variables, which hold passwords, tokens and secrets."""
    info = event.pop("exc_info", None)
    if not info:
        return event
    if info is True:
        info = sys.exc_info()
    exc = info if isinstance(info, BaseException) else info[1] if isinstance(info, tuple) else None
    chain: list[dict[str, Any]] = []
    while exc is not None and len(chain) < MAX_CHAIN:
        frames = traceback.extract_tb(exc.__traceback__)[-MAX_FRAMES:]
        chain.append({"type": f"{type(exc).__module__}.{type(exc).__qualname__}", "message": _message(exc),
                      "frames": [f"{f.filename}:{f.lineno} in {f.name}" for f in frames]})
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    event["exception"] = chain
    return event


# Datetimes and dataclasses go to the fallback (their repr), as with json.dumps; UUIDs, which
# json.dumps could only repr, come out as their string.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_line(value: Any, **kw: Any) -> str:
    """A log line as compact JSON, with orjson (the request line is rendered on every request); the
    standard encoder for what orjson refuses (an integer beyond 64 bits, a lone surrogate)."""
    try:
        return orjson.dumps(value, default=kw.get("default"), option=_ORJSON_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value, **kw)


def configure(fmt: LogFormat = "auto", level: str = "INFO", *, cache: bool = False) -> None:
    """``cache`` freezes loggers on first use: faster, but a later configure() (a test
    building another app) would not reach them, so only long-lived processes ask for it."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(json_line) if use_json else structlog.dev.ConsoleRenderer()
    )
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        safe_exception,  # in every format: no traceback renderer ever sees local variables
    ]
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        # sys.stderr is looked up when a logger is built, not once here: pytest's capsys and
        # capfd replace it per test phase, and a stream held from configure() time is closed
        # by then, so every later line (the request log in a finally) raised.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=cache,
    )

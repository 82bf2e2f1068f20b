"""Process logging for every entry point (API, worker, scripts): structlog, JSON off a
terminal or in production, a console renderer on a terminal. Context such as request_id
is bound through contextvars and lands on every line.

It lives in db/ because db is the one layer every process imports.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogFormat = Literal["auto", "json", "console"]


def configure(fmt: LogFormat = "auto", level: str = "INFO", *, cache: bool = False) -> None:
    """``cache`` freezes loggers on first use: faster, but a later configure() (a test
    building another app) would not reach them, so only long-lived processes ask for it."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if use_json:
        processors.append(structlog.processors.dict_tracebacks)
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        # sys.stderr is looked up when a logger is built, not once here: pytest's capsys and
        # capfd replace it per test phase, and a stream held from configure() time is closed
        # by then, so every later line (the request log in a finally) raised.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=cache,
    )

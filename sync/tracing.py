"""OpenTelemetry traces: set up from the standard ``OTEL_*`` variables, and the delivery
spans that continue, in whichever process delivers, the trace of the request that wrote
an outbox row.

Off by default. With ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) set, a
process exports its spans over OTLP/HTTP (the SDK reads the rest of the ``OTEL_*``
variables itself: headers, service name, sampler); ``OTEL_SDK_DISABLED=true`` keeps it
off. Tests install an SDK provider of their own (an in-memory exporter) before building
the app or the worker; anything that finds an SDK provider installed traces.

The trace context travels on the row: each transaction the app opens records the current
span's W3C ``traceparent`` as ``app.trace_context`` (db/pool.py), the ``enqueue_outbox``
trigger function stores it on the outbox row, the engine reads it back with the claim and
starts the row's delivery span as its child, 30 ms or 30 s later, in the API's pusher or
in another process's worker.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sync.outcome import Delivered, Outcome, Skip, label
from sync.target import Job

_PROPAGATOR = TraceContextTextMapPropagator()
_TRACER_NAME = "tabletop.sync"


def setup(service_name: str, environ: Mapping[str, str]) -> bool:
    """Installs an OTLP-exporting provider when the environment asks for one; True when
    this process traces (also when a provider was installed before, as tests do)."""
    if enabled():
        return True
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if not (environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: environ.get("OTEL_SERVICE_NAME", service_name)}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def enabled() -> bool:
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def instrument_clients() -> None:
    """Spans for outgoing HTTP (Convex, PetPooja, webhooks) and every SQL statement; the
    W3C headers go out with each HTTP call. Call once per process, after setup()."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    if not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry:
        HTTPXClientInstrumentor().instrument(request_hook=_no_query, async_request_hook=_no_query_async)
    if not PsycopgInstrumentor().is_instrumented_by_opentelemetry:
        PsycopgInstrumentor().instrument()


# Attributes that carry a URL: a restaurant's webhook URL may hold a token in its query, so
# spans keep scheme, host and path only (nothing secret may reach a trace, as in a log line).
_URL_ATTRIBUTES = ("url.full", "http.url")


def without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _no_query(span: Span, request: Any) -> None:
    if span.is_recording():
        for name in _URL_ATTRIBUTES:
            span.set_attribute(name, without_query(str(request.url)))


async def _no_query_async(span: Span, request: Any) -> None:
    _no_query(span, request)


def context_of(traceparent: str | None) -> Context | None:
    if not traceparent:
        return None
    return _PROPAGATOR.extract({"traceparent": traceparent})


def delivery_spans(target: str, jobs: Sequence[Job[Any]]) -> list[Span] | None:
    """One ``sync.deliver`` span per job, each a child of the trace its first row carries
    (linked to the others'); None when this process does not trace."""
    if not enabled():
        return None
    tracer = trace.get_tracer(_TRACER_NAME)
    spans = []
    for job in jobs:
        contexts = [c for c in (context_of(row.get("trace_context")) for row in job.rows) if c is not None]
        links = [Link(trace.get_current_span(c).get_span_context()) for c in contexts[1:]]
        first = job.rows[0]
        spans.append(tracer.start_span(
            f"sync.deliver {target}", context=contexts[0] if contexts else Context(), kind=SpanKind.PRODUCER,
            links=links, attributes={
                "sync.target": target, "sync.entity_type": first["entity_type"],
                "sync.entity_id": str(first["entity_id"]), "sync.restaurant_id": str(first["restaurant_id"]),
                "sync.rows": len(job.rows), "sync.version": job.version or first["entity_version"],
            }))
    return spans


@contextlib.contextmanager
def current(spans: list[Span] | None) -> Iterator[None]:
    """Makes a round's only delivery span the current one while it delivers, so the target's
    own calls (httpx, SQL) become its children; a round of several jobs has no single parent."""
    if spans is None or len(spans) != 1:
        yield
        return
    with trace.use_span(spans[0], end_on_exit=False):
        yield


def end_spans(spans: list[Span] | None, outcomes: Sequence[Outcome] | None) -> None:
    if spans is None:
        return
    for i, span in enumerate(spans):
        outcome = outcomes[i] if outcomes is not None else None
        if outcome is None:
            span.set_status(Status(StatusCode.ERROR, "handed back: the process stopped"))
        else:
            span.set_attribute("sync.outcome", label(outcome))
            if not isinstance(outcome, Delivered | Skip):
                span.set_status(Status(StatusCode.ERROR, getattr(outcome, "error", "")[:200]))
        span.end()

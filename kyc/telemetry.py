"""OpenTelemetry tracing: one trace per application, off by default and free when off.

:func:`setup` is called by every entry point (``kyc`` commands, the warm worker, the
web app, the flows package for Prefect's own workers). With ``KYC_TRACING`` off it
returns at once: the OpenTelemetry SDK and the instrumentation packages are never
imported, and the helpers below are no-ops that create nothing. With it on it installs
a tracer provider that exports OTLP over HTTP/protobuf, configured by the standard
``OTEL_*`` variables (endpoint, headers, service name, sampler), optionally with
X-Ray-compatible trace ids, and instruments SQLAlchemy, botocore, httpx and FastAPI.

How one application becomes one trace:

* the bridge opens a *landing* span for the object that completes an application and
  puts its ``traceparent`` into the event (:func:`start_span`, :func:`traceparent`);
* the process-application trigger passes it to the flow run as a parameter; the warm
  worker turns it into the run's ``__OTEL_TRACEPARENT`` label before running it
  (:func:`trace_labels`), which Prefect's engine reads to parent the flow run's span;
* Prefect 3 makes a span per flow run and task run (``prefect.telemetry``), each stage
  is a task run under it, and the instrumented SQL, AWS and HTTP calls (the webhook
  notification too) nest under the stage that makes them.

The batch flow runs its stages inline (no task runs): there each application gets a
root span of its own (linked to the batch's flow run) and each stage a span under it,
so a batch of N applications is N traces. Calls to the Prefect API are not traced
(``OTEL_PYTHON_HTTPX_EXCLUDED_URLS`` unless set): they are orchestration, not work.
No span carries personal data: ids, object keys, stage names and SQL text (never bound
values); URL query strings are removed from HTTP spans.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span

    from kyc.settings import Settings

log = logging.getLogger(__name__)

#: The label Prefect's engine reads a flow run's parent trace from.
TRACEPARENT_LABEL = "__OTEL_TRACEPARENT"
#: W3C trace context: version-traceid-spanid-flags.
_TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_TRACER = "kyc"

_lock = threading.Lock()
_enabled = False
_provider: Any = None


def enabled() -> bool:
    """True once :func:`setup` installed tracing in this process."""
    return _enabled


def setup(settings: Settings, *, exporter: SpanExporter | None = None) -> bool:
    """Install tracing when ``settings.tracing`` is on (once per process).

    Args:
        settings: the pipeline settings (``tracing``, ``tracing_xray_ids``).
        exporter: export to this exporter, synchronously, instead of OTLP (tests,
            or an embedding program with its own exporter); implies tracing on.

    Returns:
        Whether tracing is on in this process.
    """
    global _enabled, _provider
    if not settings.tracing and exporter is None:
        return _enabled
    with _lock:
        if _enabled:
            return True
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        resource = Resource.create({"service.namespace": "kyc"})
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            # OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) names it when set.
            resource = resource.merge(Resource({"service.name": "kyc-pipeline"}))
        options: dict[str, Any] = {"resource": resource}
        if settings.tracing_xray_ids:
            from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator

            options["id_generator"] = AwsXRayIdGenerator()
        provider = TracerProvider(**options)
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _instrument_libraries()
        _provider = provider
        _enabled = True
    log.info(
        "tracing on: OTLP/HTTP per OTEL_* settings%s",
        " (X-Ray ids)" * bool(options.get("id_generator")),
    )
    return True


def _prefect_api_pattern() -> str | None:
    """A regex matching the Prefect API URL this process talks to, if any."""
    try:
        from prefect.settings import get_current_settings

        url = get_current_settings().api.url
    except Exception:
        return None
    return re.escape(str(url).rstrip("/")) if url else None


def _without_query(url: Any) -> str:
    text = str(url)
    return text.split("?", 1)[0]


def _instrument_libraries() -> None:
    """SQLAlchemy, botocore, httpx (FastAPI apps: :func:`instrument_app`)."""
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # Engines made after this are traced; statements, never their bound values.
    SQLAlchemyInstrumentor().instrument(enable_commenter=False)
    BotocoreInstrumentor().instrument()
    prefect_api = _prefect_api_pattern()
    if prefect_api:
        # The instrumentation reads its exclusions from this variable only; one set
        # by the user wins.
        os.environ.setdefault("OTEL_PYTHON_HTTPX_EXCLUDED_URLS", prefect_api)

    def strip_query(span: Span, request: Any) -> None:
        # Register searches carry registration numbers in the query string.
        if span.is_recording():
            url = _without_query(getattr(request, "url", ""))
            span.set_attribute("url.full", url)
            span.set_attribute("http.url", url)

    HTTPXClientInstrumentor().instrument(request_hook=strip_query)


def instrument_app(app: Any) -> None:
    """Trace a FastAPI app's requests (no-op when tracing is off)."""
    if not _enabled:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    def strip_query(span: Span, scope: Mapping[str, Any]) -> None:
        # Console searches may carry names in the query string.
        if span.is_recording() and scope.get("query_string"):
            span.set_attribute("url.query", "[removed]")
            span.set_attribute("http.target", str(scope.get("path", "")))
            span.set_attribute("http.url", str(scope.get("path", "")))

    FastAPIInstrumentor.instrument_app(
        app, server_request_hook=strip_query, excluded_urls="/healthz,/metrics"
    )


def shutdown() -> None:
    """Export what is still buffered (at the end of a command or a worker)."""
    if _provider is not None:
        _provider.shutdown()


def _tracer() -> Any:
    from opentelemetry import trace

    return trace.get_tracer(_TRACER)


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Span | None]:
    """A span under the current one (None and nothing made when tracing is off)."""
    if not _enabled:
        yield None
        return
    with _tracer().start_as_current_span(name, attributes=dict(attributes or {})) as current:
        yield current


@contextlib.contextmanager
def application_span(application_id: str, *, new_trace: bool) -> Iterator[Span | None]:
    """The span of one application's processing.

    Args:
        application_id: the application (an id, never personal data).
        new_trace: start a trace of its own, linked to the current span (the batch:
            one trace per application, not one per batch).
    """
    if not _enabled:
        yield None
        return
    from opentelemetry import context, trace

    attributes = {"kyc.application_id": application_id}
    if not new_trace:
        with _tracer().start_as_current_span("kyc.application", attributes=attributes) as current:
            yield current
        return
    parent = trace.get_current_span().get_span_context()
    links = [trace.Link(parent)] if parent.is_valid else []
    with _tracer().start_as_current_span(
        "kyc.application", context=context.Context(), attributes=attributes, links=links
    ) as current:
        yield current


def start_span(name: str, attributes: Mapping[str, Any]) -> Span | None:
    """Start a span the caller ends (``span.end()``); None when tracing is off."""
    if not _enabled:
        return None
    from opentelemetry.trace import SpanKind

    started: Span = _tracer().start_span(name, attributes=dict(attributes), kind=SpanKind.PRODUCER)
    return started


def traceparent(of: Span | None) -> str | None:
    """The W3C ``traceparent`` of a span (to carry it across a process boundary)."""
    if of is None:
        return None
    from opentelemetry import propagate, trace

    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(of))
    return carrier.get("traceparent")


def trace_labels(parameters: Mapping[str, Any], labels: Mapping[str, Any]) -> dict[str, str]:
    """The flow-run label that makes Prefect parent a run's span on its landing trace.

    Args:
        parameters: the flow run's parameters (``traceparent`` set by the trigger).
        labels: the flow run's labels (a trace set already wins).

    Returns:
        ``{"__OTEL_TRACEPARENT": ...}``, or nothing (off, no or malformed parent).
    """
    value = parameters.get("traceparent")
    if not _enabled or TRACEPARENT_LABEL in labels or not isinstance(value, str):
        return {}
    return {TRACEPARENT_LABEL: value} if _TRACEPARENT.match(value) else {}


def link_current(parent: str | None) -> None:
    """Link the current span to ``parent`` when it is not already in that trace.

    A flow run started by a worker that did not set the trace label (Prefect's own
    process worker) still points at its landing trace this way.
    """
    if not _enabled or not parent or not _TRACEPARENT.match(parent):
        return
    from opentelemetry import propagate, trace

    remote = trace.get_current_span(propagate.extract({"traceparent": parent}))
    current = trace.get_current_span()
    theirs = remote.get_span_context()
    if current.is_recording() and current.get_span_context().trace_id != theirs.trace_id:
        current.add_link(theirs)


@contextlib.contextmanager
def untraced() -> Iterator[None]:
    """Calls made inside are not traced (a bridge's idle long polls)."""
    if not _enabled:
        yield
        return
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with suppress_instrumentation():
        yield

"""Prometheus metrics of the workers and the web app.

Counted in the process that does the work (cheap in-memory counters, always on):

* ``kyc_decisions_total{decision,source}`` and ``kyc_decision_reasons_total{decision,reason}``
  (one per reason code on a decision);
* ``kyc_stage_seconds{stage,outcome}``: each pipeline stage, retries included;
* ``kyc_application_seconds{status}`` and ``kyc_applications_total{status}``: one
  application from its first stage to its outcome (DECIDED, DEAD_LETTER, ...);
* ``kyc_applications_in_flight``: applications being processed now.

Read from the database at each scrape where a process asks for them
(:func:`watch_backlog`: the web app and the workers), so every instance reports the
same figures: ``kyc_outbox_pending``, ``kyc_review_queue_cases{state}`` (open,
unassigned, overdue, escalated) and ``kyc_dead_letters_open{error_code}``;
``kyc_backlog_up`` is 0 when the database could not be read.

Exposed by the web app at ``/metrics`` (with ``KYC_METRICS_TOKEN``) and by a worker
or bridge on ``KYC_METRICS_HOST:KYC_METRICS_PORT`` (:func:`serve`). No label carries
personal data: outcomes, reason and error codes, stage names.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.process_collector import ProcessCollector

if TYPE_CHECKING:
    from kyc.runtime import Runtime

log = logging.getLogger(__name__)

#: This project's metrics only (not the client library's defaults of other packages).
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

DECISIONS = Counter(
    "kyc_decisions", "Decisions recorded, by outcome and source.", ["decision", "source"],
    registry=REGISTRY,
)  # fmt: skip
DECISION_REASONS = Counter(
    "kyc_decision_reasons", "Reason codes on recorded decisions.", ["decision", "reason"],
    registry=REGISTRY,
)  # fmt: skip
STAGE_SECONDS = Histogram(
    "kyc_stage_seconds",
    "Time of one pipeline stage for one application, retries included.",
    ["stage", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
    registry=REGISTRY,
)
APPLICATION_SECONDS = Histogram(
    "kyc_application_seconds",
    "Time from an application's first stage to its outcome.",
    ["status"],
    buckets=(0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
    registry=REGISTRY,
)
APPLICATIONS = Counter(
    "kyc_applications", "Applications processed, by outcome status.", ["status"],
    registry=REGISTRY,
)  # fmt: skip
IN_FLIGHT = Gauge(
    "kyc_applications_in_flight", "Applications being processed now.", registry=REGISTRY
)


def count_decision(decision: str, reasons: Sequence[str], *, source: str) -> None:
    """Count one recorded decision and its reason codes."""
    DECISIONS.labels(decision=decision, source=source).inc()
    for reason in reasons:
        DECISION_REASONS.labels(decision=decision, reason=reason).inc()


@contextlib.contextmanager
def stage_timer(stage: str) -> Iterator[None]:
    """Time one stage (``outcome`` is ``ok`` or ``error``)."""
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        STAGE_SECONDS.labels(stage=stage, outcome=outcome).observe(time.perf_counter() - started)


@dataclass
class ApplicationClock:
    """One application in flight; set ``status`` to its outcome before it ends."""

    status: str = "FAILED"


@contextlib.contextmanager
def application_timer() -> Iterator[ApplicationClock]:
    """Count an application in flight and, when it ends, its outcome and time."""
    started = time.perf_counter()
    clock = ApplicationClock()
    IN_FLIGHT.inc()
    try:
        yield clock
    finally:
        IN_FLIGHT.dec()
        APPLICATIONS.labels(status=clock.status).inc()
        APPLICATION_SECONDS.labels(status=clock.status).observe(time.perf_counter() - started)


class BacklogCollector:
    """The database's backlog as gauges, read at each scrape."""

    def __init__(self, runtime: Callable[[], Runtime]) -> None:
        """``runtime`` returns the runtime to read through (looked up per scrape)."""
        self.runtime = runtime

    def describe(self) -> list[Any]:
        """Nothing up front: the registry must not scrape the database on register."""
        return []

    def collect(self) -> Iterator[Any]:
        """One read of the backlog; a database problem is a 0 in ``kyc_backlog_up``."""
        from kyc.services.backlog import backlog

        up = GaugeMetricFamily("kyc_backlog_up", "1 when the backlog could be read.")
        try:
            figures = backlog(self.runtime())
        except Exception as exc:
            log.warning("metrics: backlog not read: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            "kyc_outbox_pending", "Decision notifications not sent yet.", figures.outbox_pending
        )
        review = GaugeMetricFamily(
            "kyc_review_queue_cases", "MANUAL_REVIEW cases waiting, by state.", labels=["state"]
        )
        for state, count in figures.review.items():
            review.add_metric([state], count)
        yield review
        dead = GaugeMetricFamily(
            "kyc_dead_letters_open", "Unresolved dead letters.", labels=["error_code"]
        )
        for code, count in figures.dead_letters.items():
            dead.add_metric([code], count)
        yield dead


_backlog_lock = threading.Lock()
_backlog: BacklogCollector | None = None


def watch_backlog(runtime: Callable[[], Runtime]) -> None:
    """Report the database backlog gauges from this process (once per process)."""
    global _backlog
    with _backlog_lock:
        if _backlog is None:
            _backlog = BacklogCollector(runtime)
            REGISTRY.register(_backlog)
        else:
            _backlog.runtime = runtime  # the latest app's runtime (one app per process)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def serve(host: str, port: int) -> Callable[[], None]:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread (a worker's own port).

    Returns:
        A function that stops the server.
    """
    server, thread = start_http_server(port, addr=host, registry=REGISTRY)
    log.info("metrics on http://%s:%d/metrics", host, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop

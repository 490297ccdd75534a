"""How a flow runs its stages: one switch, chosen where the flow starts.

* :class:`TaskRunner` (the per-application flow: events, reprocessing, one-off runs)
  runs every stage as a Prefect task run of its own, so each is visible and retried
  on its own in the Prefect UI.
* :class:`InlineRunner` (the batch flow) calls the same task functions in the calling
  thread with the same retry policy, no task run: each task run costs Prefect's API
  server ~35-60 ms of CPU (measured by ``make bench --breakdown``), which next to
  ~0.5 s of engine work per application on a 2-core machine is throughput lost.
  Its ``batch`` flag also lets the GX gate validate the rows of applications in
  flight together (see :mod:`kyc.quality.gate`).

Both take the Prefect task objects of ``tasks/`` (thin wrappers of kyc.services),
so a stage is written once and only how it is called differs. Both time every stage
(``kyc_stage_seconds``); the inline runner also opens a span per stage when tracing is
on (Prefect makes the task runs' spans itself).
"""

from __future__ import annotations

import contextvars
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from kyc import metrics, telemetry
from tasks.pipeline import NOT_RETRIED, TASK_OPTIONS

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Pending(Protocol[R_co]):
    """A stage started with :meth:`Runner.submit`."""

    def result(self) -> R_co:
        """Wait for the stage; raise what it raised after its retries."""
        ...


class Runner(Protocol):
    """Runs pipeline stages (Prefect task objects from ``tasks/``)."""

    #: True when the caller decides many applications in one flow run (the batch):
    #: shared GX runs are worth it, per-stage visibility is not.
    batch: bool

    def run(self, stage: Any, *args: Any) -> Any:
        """Run a stage to completion (with its retry policy) and return its result."""
        ...

    def submit(self, stage: Any, *args: Any) -> Pending[Any]:
        """Start a stage beside the caller's work (register and licence checks)."""
        ...


class TaskRunner:
    """Every stage a Prefect task run of its own (the per-application flow)."""

    batch = False

    def run(self, stage: Any, *args: Any) -> Any:
        """Call the task: a task run, retried by Prefect."""
        with metrics.stage_timer(stage.name):
            return stage(*args)

    def submit(self, stage: Any, *args: Any) -> Pending[Any]:
        """Submit the task to the flow's task runner (runs concurrently)."""
        return _PrefectPending(stage.name, stage.submit(*args))


class _PrefectPending:
    def __init__(self, name: str, future: Any) -> None:
        self._name = name
        self._future = future
        self._started = time.perf_counter()
        self._timed = False

    def result(self) -> Any:
        try:
            return self._future.result(raise_on_failure=True)
        finally:
            # From submission to the result (what the stage cost the application).
            if not self._timed:
                self._timed = True
                ok = self._future.state.is_completed()
                metrics.STAGE_SECONDS.labels(
                    stage=self._name, outcome="ok" if ok else "error"
                ).observe(time.perf_counter() - self._started)


class InlineRunner:
    """Every stage a plain call in the calling thread, same retry policy (the batch flow).

    Args:
        workers: threads for :meth:`submit` (register and licence checks wait on
            remote services: a thread gives their wait the same overlap a task run
            would, without one).
    """

    batch = True

    def __init__(self, *, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kyc-checks")
        retries = int(TASK_OPTIONS["retries"])
        self._attempts = retries + 1
        self._delays = list(TASK_OPTIONS["retry_delay_seconds"])

    def run(self, stage: Any, *args: Any) -> Any:
        """Call the task's function, retrying transient failures as Prefect would."""
        with metrics.stage_timer(stage.name), telemetry.span(stage.name):
            return self._attempt(stage, *args)

    def _attempt(self, stage: Any, *args: Any) -> Any:
        for attempt in range(self._attempts):
            try:
                # ``stage.fn`` is looked up on every call (tests replace it).
                return stage.fn(*args)
            except NOT_RETRIED:
                raise
            except Exception:
                if attempt + 1 >= self._attempts:
                    raise
                time.sleep(self._delays[min(attempt, len(self._delays) - 1)])
        raise AssertionError("unreachable")  # pragma: no cover

    def submit(self, stage: Any, *args: Any) -> Pending[Any]:
        """Run the stage on this runner's threads (the caller's context: its flow run)."""
        future: Future[Any] = self._pool.submit(
            contextvars.copy_context().run, self.run, stage, *args
        )
        return future

    def close(self) -> None:
        """Let running checks finish; no new ones."""
        self._pool.shutdown(wait=True)


__all__ = ["InlineRunner", "Pending", "Runner", "TaskRunner"]

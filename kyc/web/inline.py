"""``KYC_INTAKE_PROCESS=inline``: the web process decides its own uploads.

For ``kyc serve`` alone (no Prefect worker, no event bridge): an accepted upload is
queued to one background thread that runs the same per-application pipeline the
batch flow runs (``flows.pipeline.process_application`` with an
:class:`~flows.runner.InlineRunner`), on the app's runtime. Requests never wait for
it. Decisions run one at a time: on a small machine a burst of uploads queues here
instead of starving the request handlers. Uploads still queued when the process
stops are in the landing, registered NEW: ``kyc ingest`` (or the event path) decides
them later.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from kyc import runtime
from kyc.runtime import Runtime
from kyc.services import intake

_log = logging.getLogger(__name__)


class InlineDecisions:
    """A one-thread queue of uploads to decide in this process.

    Args:
        rt: the web app's runtime (the pipeline's tasks use it, see :func:`runtime.using`).
        landing: the landing URI the uploads were written to.
    """

    def __init__(self, rt: Runtime, landing: str) -> None:
        self._rt = rt
        self._landing = landing
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kyc-intake-decide")
        self._runner: Any = None
        self._lock = threading.Lock()

    def submit(self, application_id: str) -> Future[None]:
        """Queue an upload; returns at once."""
        return self._pool.submit(contextvars.copy_context().run, self._decide, application_id)

    def _decide(self, application_id: str) -> None:
        # Prefect and the engines load on the first upload, not at web start-up.
        from flows.pipeline import process_application
        from flows.runner import InlineRunner

        with self._lock:
            if self._runner is None:
                self._runner = InlineRunner()
        try:
            with runtime.using(self._rt):
                found = intake.discover(self._rt, self._landing, application_id)
                bundle = next(
                    (b for b in found.complete if b.application_id == application_id), None
                )
                if bundle is None:
                    _log.warning(
                        "upload %s: not complete in the landing; not decided", application_id
                    )
                    return
                outcome = process_application(self._runner, self._landing, bundle)
            _log.info("upload %s: %s %s", application_id, outcome.status, outcome.decision or "")
        except Exception:
            # process_application records its own dead letters; this is only what
            # escaped it (e.g. the database went away): the upload stays NEW.
            _log.exception("upload %s: inline decision failed", application_id)

    def close(self) -> None:
        """Finish the queued decisions, then stop."""
        self._pool.shutdown(wait=True)
        if self._runner is not None:
            self._runner.close()

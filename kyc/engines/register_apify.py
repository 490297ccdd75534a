"""RegisterClient over Apify actors (one configurable actor per register).

An Apify actor run is asynchronous. This client offers the three steps separately
so that a flow can start the run, let go of its worker while the actor works, and
collect the result when Apify's webhook resumes it (see ``flows/registers.py``):

- :meth:`ApifyRegisterClient.start` starts the register's actor for a number,
  optionally with an ad-hoc webhook (called when the run ends);
- :meth:`ApifyRegisterClient.collect` reads a finished run's dataset items;
- :meth:`ApifyRegisterClient.lookup` (the RegisterClient port) does both, polling
  the run's status with exponential backoff in between — used where suspending
  is not possible (batch flows, the CLI, flows not started from a deployment).

Actor contract (what the configured actors must do): input
``{"register": "GMC", "registrationNumber": "7123456"}``; output dataset items
``{"registrationNumber", "found" (bool), "name", "status", "conditions" (list of
strings), "snapshotDate" (optional ISO date)}``. An actor with other field names
needs a thin wrapper actor (or a change to :func:`item_to_result`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from types import MappingProxyType
from typing import Any

from kyc.clients.http import RetryPolicy, limiter_for
from kyc.domain.records import RegisterOutcome, RegisterResult
from kyc.domain.registers import normalise_number
from kyc.engines.base import EngineUnavailable
from kyc.settings import basic_authorization

log = logging.getLogger(__name__)

#: Terminal statuses of an Apify run.
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED-OUT", "TIMED_OUT", "ABORTED"})
#: Webhook events sent when a run ends, whichever way.
END_EVENTS = ["ACTOR.RUN.SUCCEEDED", "ACTOR.RUN.FAILED", "ACTOR.RUN.TIMED_OUT", "ACTOR.RUN.ABORTED"]


@dataclass(frozen=True, slots=True)
class RunWebhook:
    """Where Apify reports the end of a run: URL, payload template, extra headers."""

    request_url: str
    payload_template: str
    headers_template: str | None = None


def prefect_resume_webhook(
    prefect_api_url: str, flow_run_id: str, *, auth_header: str | None = None
) -> RunWebhook:
    """A webhook that resumes a suspended Prefect flow run with the run's outcome.

    Prefect's REST API resumes a suspended run with ``POST /flow_runs/{id}/resume``
    and a body ``{"run_input": {...}}``; the input is what ``suspend_flow_run``
    waits for (:class:`flows.registers.RegisterRunDone`). The template uses only
    Apify's documented top-level variables: ``eventType`` and ``eventData``
    (``{"actorId", "actorRunId"}``).

    Args:
        prefect_api_url: the Prefect API as Apify can reach it (``https://.../api``).
        flow_run_id: the suspended flow run.
        auth_header: e.g. ``"Authorization: Bearer <key>"`` for Prefect Cloud.
    """
    headers = None
    if auth_header:
        name, _, value = auth_header.partition(":")
        headers = json.dumps({name.strip(): value.strip()})
    return RunWebhook(
        request_url=f"{prefect_api_url.rstrip('/')}/flow_runs/{flow_run_id}/resume",
        payload_template=(
            '{"run_input": {"event_type": {{eventType}}, "event_data": {{eventData}}}}'
        ),
        headers_template=headers,
    )


def item_to_result(
    register: str, number: str, items: list[dict[str, Any]], *, run_id: str, today: dt.date
) -> RegisterResult:
    """Map an actor's dataset items to a RegisterResult (see the actor contract)."""
    raw: dict[str, Any] = {"run_id": run_id, "items": items[:5]}
    for item in items:
        if normalise_number(str(item.get("registrationNumber") or "")) != number:
            continue
        if not item.get("found", True):
            break
        name, status = item.get("name"), item.get("status")
        if not name or not status:
            return RegisterResult(
                register, number, RegisterOutcome.UNAVAILABLE, raw=MappingProxyType(raw),
                source="register-apify", detail="actor item without name or status",
            )  # fmt: skip
        conds = item.get("conditions") or []
        snap = item.get("snapshotDate")
        return RegisterResult(
            register=register,
            number=number,
            outcome=RegisterOutcome.FOUND,
            name=str(name),
            status=str(status),
            conditions=tuple(str(c) for c in conds) if isinstance(conds, list) else (str(conds),),
            snapshot_date=dt.date.fromisoformat(str(snap)[:10]) if snap else today,
            raw=MappingProxyType(raw),
            source="register-apify",
        )
    return RegisterResult(
        register, number, RegisterOutcome.NOT_FOUND, snapshot_date=today,
        raw=MappingProxyType(raw), source="register-apify",
    )  # fmt: skip


class ApifyRegisterClient:
    """Runs one Apify actor per register through ``apify-client``."""

    name = "register-apify"

    def __init__(
        self,
        *,
        token: str | None,
        actors: dict[str, str],
        api_url: str = "https://api.apify.com",
        timeout: float = 10.0,
        policy: RetryPolicy | None = None,
        rate_per_second: float = 1.0,
        max_wait_seconds: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Create the client (``apify-client`` is imported here, lazily).

        Raises:
            EngineUnavailable: no token, no actor configured, or apify-client missing.
        """
        if not token:
            raise EngineUnavailable("KYC_REGISTER_ENGINE=apify needs KYC_APIFY_TOKEN")
        if not actors:
            raise EngineUnavailable(
                'KYC_REGISTER_ENGINE=apify needs KYC_APIFY_ACTORS, e.g. {"GMC": "user~gmc-actor"}'
            )
        try:
            from apify_client import ApifyClient
        except ImportError as exc:  # pragma: no cover - pinned in requirements
            raise EngineUnavailable("apify-client is not installed") from exc
        self.version = f"apify-client/{version('apify-client')}"
        self._actors = dict(actors)
        self._policy = policy or RetryPolicy()
        self._rate = rate_per_second
        self._max_wait = max_wait_seconds
        self._sleep = sleep
        # apify-client retries 429 / 5xx / network errors itself, with exponential
        # backoff from min_delay_between_retries; our limiter adds the rate limit.
        self._client = ApifyClient(
            token,
            api_url=api_url,
            api_public_url=api_url,
            max_retries=self._policy.retries,
            min_delay_between_retries=dt.timedelta(seconds=max(self._policy.backoff_seconds, 0.01)),
            timeout_short=dt.timedelta(seconds=timeout),
            timeout_medium=dt.timedelta(seconds=timeout),
            timeout_long=dt.timedelta(seconds=timeout),
            timeout_max=dt.timedelta(seconds=timeout),
        )

    def _limit(self, register: str) -> None:
        limiter_for(f"register-apify:{register}", self._rate).acquire()

    def start(self, register: str, number: str, *, webhook: RunWebhook | None = None) -> str:
        """Start the register's actor for one number; returns the run id.

        Raises:
            EngineUnavailable: no actor configured for the register.
            Exception: what apify-client raises after its retries (callers map it).
        """
        actor = self._actors.get(register)
        if not actor:
            raise EngineUnavailable(f"no Apify actor configured for {register}")
        hooks: Any = None
        if webhook is not None:
            hook: dict[str, Any] = {
                "event_types": END_EVENTS,
                "request_url": webhook.request_url,
                "payload_template": webhook.payload_template,
            }
            if webhook.headers_template:
                hook["headers_template"] = webhook.headers_template
            hooks = [hook]
        self._limit(register)
        run = self._client.actor(actor).start(
            run_input={"register": register, "registrationNumber": number}, webhooks=hooks
        )
        log.info("%s register: started Apify run %s", register, run.id)
        return str(run.id)

    def start_resumable(
        self,
        register: str,
        number: str,
        *,
        prefect_api_url: str,
        flow_run_id: str,
        prefect_auth_string: str | None = None,
    ) -> str:
        """Start a run whose end resumes a suspended Prefect flow run (AsyncRegisterClient).

        With ``prefect_auth_string`` the webhook carries ``Authorization: Basic ...``
        (what a Prefect server with PREFECT_SERVER_API_AUTH_STRING, or a proxy with
        the same basic credential, requires). Apify keeps the webhook, header
        included, with the run: the credential is shared with Apify.

        Returns:
            The Apify run id.
        """
        auth = None
        if prefect_auth_string is not None:
            auth = f"Authorization: {basic_authorization(prefect_auth_string)}"
        return self.start(
            register,
            number,
            webhook=prefect_resume_webhook(prefect_api_url, flow_run_id, auth_header=auth),
        )

    def status(self, register: str, run_id: str) -> str:
        """The run's status (READY, RUNNING, SUCCEEDED, FAILED, ...)."""
        self._limit(register)
        run = self._client.run(run_id).get()
        if run is None:
            raise LookupError(f"Apify run {run_id} not found")
        return str(getattr(run.status, "value", run.status))

    def collect(self, register: str, number: str, run_id: str) -> RegisterResult:
        """The result of a finished run (UNAVAILABLE when it did not succeed)."""
        try:
            self._limit(register)
            run = self._client.run(run_id).get()
            if run is None:
                raise LookupError(f"Apify run {run_id} not found")
            status = str(getattr(run.status, "value", run.status))
            if status != "SUCCEEDED":
                return self._unavailable(register, number, f"actor run {status}", run_id)
            self._limit(register)
            page = self._client.dataset(run.default_dataset_id).list_items(clean=True)
            items = [dict(i) for i in page.items]
        except Exception as exc:
            log.warning("%s register: Apify run %s unusable: %s", register, run_id, exc)
            return self._unavailable(register, number, f"Apify: {type(exc).__name__}", run_id)
        return item_to_result(register, number, items, run_id=run_id, today=dt.date.today())

    def wait(self, register: str, run_id: str) -> str:
        """Poll the run with exponential backoff until it ends or the wait runs out."""
        deadline = time.monotonic() + self._max_wait
        delay = max(self._policy.backoff_seconds, 0.05)
        while True:
            status = self.status(register, run_id)
            if status in TERMINAL or time.monotonic() >= deadline:
                return status
            self._sleep(min(delay, max(deadline - time.monotonic(), 0.0)))
            delay = min(delay * 2, 30.0)

    def lookup(self, register: str, number: str) -> RegisterResult:
        """Start, poll and collect (see RegisterClient). Holds the caller while waiting."""
        try:
            run_id = self.start(register, number)
            status = self.wait(register, run_id)
        except EngineUnavailable as exc:
            return self._unavailable(register, number, str(exc), None)
        except Exception as exc:
            log.warning("%s register: Apify unavailable: %s", register, type(exc).__name__)
            return self._unavailable(register, number, f"Apify: {type(exc).__name__}", None)
        if status not in TERMINAL:
            return self._unavailable(register, number, "actor run did not finish in time", run_id)
        return self.collect(register, number, run_id)

    def _unavailable(
        self, register: str, number: str, detail: str, run_id: str | None
    ) -> RegisterResult:
        return RegisterResult(
            register, number, RegisterOutcome.UNAVAILABLE, source=self.name, detail=detail,
            raw=MappingProxyType({"run_id": run_id} if run_id else {}),
        )  # fmt: skip

"""Waiting for an asynchronous register check without holding a worker slot.

With ``KYC_REGISTER_ENGINE=apify`` a register check is an Apify actor run that may
take minutes. In a per-application flow run started from a deployment, we use
Prefect 3's **suspend_flow_run(wait_for_input=...)**:

1. ``start-register-run`` starts the actor with an ad-hoc Apify webhook whose
   target is Prefect's own REST endpoint ``POST /flow_runs/{id}/resume`` and whose
   payload is ``{"run_input": {"event_type": ..., "event_data": ...}}``;
2. the flow suspends: its process exits and the worker slot is free;
3. when the run ends, Apify calls the webhook, Prefect validates the input against
   :class:`RegisterRunDone` and reschedules the flow run; a worker runs it again
   from the top (the tasks are cheap and idempotent), ``suspend_flow_run`` with the
   same key now returns the input at once, and ``collect-register-run`` reads the
   run's dataset into the register cache;
4. the application is then processed as usual, the register check answered from
   the cache.

Suspension needs a deployment run (Prefect must be able to start the run again) and
a Prefect API reachable by Apify (``KYC_APIFY_WEBHOOK_PREFECT_API_URL``). Anywhere
else — the batch flow, ad-hoc runs, the CLI — the Apify client polls the run with
exponential backoff inside the register task (holding that slot while it waits).
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow, get_run_logger
from prefect.context import FlowRunContext
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput
from pydantic import Field

from kyc.domain.application import ApplicationInvalid
from kyc.domain.landing import LandingBundle
from kyc.domain.records import RegisterResult
from kyc.settings import get_settings
from tasks import pipeline as t


class RegisterRunDone(RunInput):
    """What Apify's webhook sends to resume the flow run (see the module docstring)."""

    event_type: str
    event_data: dict[str, Any] = Field(default_factory=dict)


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except Exception:
        return logging.getLogger(__name__)


def suspension_possible() -> bool:
    """True inside a flow run started from a deployment, with a webhook URL configured."""
    settings = get_settings()
    if settings.register_engine != "apify" or not settings.apify_webhook_prefect_api_url:
        return False
    ctx = FlowRunContext.get()
    return bool(ctx and ctx.flow_run and ctx.flow_run.deployment_id)


def await_register_run(landing: str, bundle: LandingBundle) -> RegisterResult | None:
    """Start the application's Apify register run and suspend until it ends.

    Call from a flow (never a task: Prefect suspends flow runs only). Returns at
    once with None when suspension is not possible or not needed; otherwise may not
    return at all in this process (the flow run is suspended and later re-run).

    Returns:
        The register's answer once the run has ended, or None.
    """
    if not suspension_possible():
        return None
    from tasks.registers import collect_register_run, start_register_run

    app = t.load_form(landing, bundle)
    if isinstance(app, ApplicationInvalid) or app.registration.type.value == "NONE":
        return None
    ctx = FlowRunContext.get()
    assert ctx is not None and ctx.flow_run is not None  # checked by suspension_possible
    reg, number = app.registration.type.value, app.registration.number
    run_id = start_register_run(reg, number, str(ctx.flow_run.id))
    if run_id is None:
        return None
    _logger().info("application %s: waiting for register run %s", bundle.application_id, run_id)
    done = suspend_flow_run(
        wait_for_input=RegisterRunDone,
        key=f"register-run-{run_id}",
        timeout=int(get_settings().apify_max_wait_seconds),
    )
    _logger().info(
        "application %s: register run ended (%s)", bundle.application_id, done.event_type
    )
    return collect_register_run(reg, number or "", run_id)


@flow(name="recheck-registers", log_prints=False)
def recheck_registers() -> list[dict[str, str]]:
    """Re-check registers that were unavailable when applications were decided.

    Scheduled as a sweep (see prefect.yaml); ``kyc register-recheck`` runs it once.

    Returns:
        One ``{"application_id", "register", "outcome"}`` per application re-checked.
    """
    from tasks.registers import recheck_registers_task

    return recheck_registers_task()

"""Prefect tasks for asynchronous (Apify) register checks: start a run, collect it.

Thin, like tasks/pipeline.py: the work is in kyc.engines.register_apify and
kyc.engines.register_check. Used by flows/registers.py around a suspension.
"""

from __future__ import annotations

import datetime as dt
import logging

from prefect import task

from kyc import runtime
from kyc.db import register_repository as rrepo
from kyc.db.engine import session_scope
from kyc.domain.records import RegisterOutcome, RegisterResult
from kyc.domain.registers import canonical_register, normalise_number, number_problem
from kyc.engines.register_apify import ApifyRegisterClient, prefect_resume_webhook
from kyc.settings import get_settings
from kyc.wiring import build_engines
from tasks.pipeline import TASK_OPTIONS

log = logging.getLogger(__name__)


@task(name="start-register-run", **TASK_OPTIONS)
def start_register_run(register: str, number: str | None, flow_run_id: str) -> str | None:
    """Start the register's Apify actor with a webhook that resumes this flow run.

    Idempotent: a flow run resumed after its suspension runs again from the top and
    gets the run it started before (kept in ``register_cache.pending_run_id``).

    Returns:
        The Apify run id to wait for; None when there is nothing to wait for (a fresh
        cached answer, a malformed number, or a register client that is not Apify).
    """
    settings = get_settings()
    checker = build_engines(settings).register_checker
    client = checker.client
    reg = canonical_register(register)
    if reg is None or number_problem(reg, number) is not None:
        return None
    if not isinstance(client, ApifyRegisterClient) or not settings.apify_webhook_prefect_api_url:
        return None
    clean = normalise_number(number)
    if checker.cached(reg, clean) is not None:
        return None
    with session_scope(runtime.database()) as s:
        row = rrepo.get_cached(s, reg_type=reg, reg_number=clean)
    now = dt.datetime.now(dt.UTC)
    if row is not None and row.pending_run_id and row.expires_at > now:
        return row.pending_run_id
    run_id = client.start(
        reg,
        clean,
        webhook=prefect_resume_webhook(settings.apify_webhook_prefect_api_url, flow_run_id),
    )
    with session_scope(runtime.database()) as s:
        rrepo.put_cached(
            s,
            reg_type=reg,
            reg_number=clean,
            result_json=None,
            source=client.name,
            fetched_at=now,
            expires_at=now + dt.timedelta(seconds=settings.apify_max_wait_seconds),
            pending_run_id=run_id,
        )
    return run_id


@task(name="collect-register-run", **TASK_OPTIONS)
def collect_register_run(register: str, number: str, run_id: str) -> RegisterResult:
    """Read a finished Apify run and cache its answer (found / not found)."""
    checker = build_engines(get_settings()).register_checker
    client = checker.client
    reg = canonical_register(register) or register
    clean = normalise_number(number)
    if not isinstance(client, ApifyRegisterClient):  # settings changed under us
        return checker.check(reg, clean)
    result = client.collect(reg, clean, run_id)
    if result.outcome is RegisterOutcome.UNAVAILABLE:
        with session_scope(runtime.database()) as s:
            rrepo.put_cached(
                s,
                reg_type=reg,
                reg_number=clean,
                result_json=None,
                source=client.name,
                fetched_at=dt.datetime.now(dt.UTC),
                expires_at=dt.datetime.now(dt.UTC),
            )
    else:
        checker.store(result)
    return result


@task(name="recheck-registers", **TASK_OPTIONS)
def recheck_registers_task() -> list[dict[str, str]]:
    """Re-check every application decided while its register was unavailable.

    Each answer is recorded as a new ``reg_checks`` row (and cached), so a reviewer
    sees it and a reprocessing of the application decides from the cache. Applications
    whose register is still unavailable stay on the list for the next run.

    Returns:
        One ``{"application_id", "register", "outcome"}`` per application re-checked.
    """
    from kyc.db import repository as repo

    checker = build_engines(get_settings()).register_checker
    with session_scope(runtime.database()) as s:
        # The sweep is also the cache's TTL deletion (what DynamoDB TTL did in the seed);
        # reads never trust an expired entry, so this only keeps the table small.
        purged = rrepo.purge_expired(s, now=dt.datetime.now(dt.UTC))
        pending = rrepo.unavailable_register_checks(s)
    log.info("register cache: %d expired entries purged", purged)
    out: list[dict[str, str]] = []
    for p in pending:
        result = checker.check(p.reg_type, p.reg_number)
        with session_scope(runtime.database()) as s:
            repo.record_reg_check(
                s,
                application_id=p.application_id,
                user_id=p.user_id,
                reg_type=p.reg_type,
                reg_number=result.number or p.reg_number,
                status=result.outcome.value,
                detail=result.as_dict(),
            )
        log.info("application %s: register re-checked: %s", p.application_id, result.outcome)
        out.append(
            {
                "application_id": p.application_id,
                "register": p.reg_type,
                "outcome": result.outcome.value,
            }
        )
    return out

"""Register checks: the register cache, the pipeline's register stage, async runs, re-checks.

Whichever RegisterClient is configured, a check goes through :class:`RegisterChecker`:

1. a malformed number is NUMBER_INVALID at once (no register is called);
2. a fresh cached answer (``register_cache``, TTL ``KYC_REGISTER_CACHE_TTL_SECONDS``)
   is used without calling out;
3. otherwise the client looks the number up; FOUND / NOT_FOUND answers are cached,
   UNAVAILABLE ones are not (the next application re-checks).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import sqlalchemy as sa

from kyc.db import register_repository as rrepo
from kyc.db import repository as repo
from kyc.db.engine import session_scope
from kyc.domain.records import RegisterOutcome, RegisterResult
from kyc.domain.registers import canonical_register, normalise_number, number_problem
from kyc.engines.base import RegisterClient

if TYPE_CHECKING:
    from kyc.runtime import Runtime
    from kyc.services.case import Case

log = logging.getLogger(__name__)

CACHEABLE = frozenset({RegisterOutcome.FOUND, RegisterOutcome.NOT_FOUND})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RegisterChecker:
    """A RegisterClient behind number validation and the database cache."""

    def __init__(
        self,
        client: RegisterClient,
        database: Callable[[], sa.Engine],
        *,
        ttl_seconds: int,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        """Create the checker; ``database`` returns the migrated engine when needed."""
        self.client = client
        self._database = database
        self._ttl = dt.timedelta(seconds=ttl_seconds)
        self._clock = clock

    def cached(self, register: str, number: str) -> RegisterResult | None:
        """The fresh cached answer for a (canonical register, normalised number)."""
        with session_scope(self._database()) as s:
            row = rrepo.get_cached(s, reg_type=register, reg_number=number)
        if row is None or not row.fresh(self._clock()) or row.result_json is None:
            return None
        result = RegisterResult.from_dict(row.result_json)
        return replace(result, source=f"{result.source}+cache")

    def store(self, result: RegisterResult) -> None:
        """Cache a FOUND / NOT_FOUND answer until the TTL expires."""
        if result.outcome not in CACHEABLE or self._ttl.total_seconds() <= 0:
            return
        now = self._clock()
        with session_scope(self._database()) as s:
            rrepo.put_cached(
                s,
                reg_type=result.register,
                reg_number=result.number,
                result_json=result.as_dict(),
                source=result.source,
                fetched_at=now,
                expires_at=now + self._ttl,
            )

    def check(self, register: str, number: str | None) -> RegisterResult:
        """Check one claimed registration.

        Args:
            register: GMC | GDC | NMC | GPHC, or an alias (GPC).
            number: the number as the applicant typed it.

        Returns:
            The result; NUMBER_INVALID without any call when the format is wrong.
        """
        reg = canonical_register(register) or register
        problem = number_problem(register, number)
        clean = normalise_number(number)
        if problem is not None:
            return RegisterResult(reg, clean, RegisterOutcome.NUMBER_INVALID, detail=problem)
        hit = self.cached(reg, clean)
        if hit is not None:
            log.info("%s register: cached answer used", reg)
            return hit
        result = self.client.lookup(reg, clean)
        self.store(result)
        return result


# --------------------------------------------------------------------------------------
# the pipeline's register stage
# --------------------------------------------------------------------------------------


def check_register(
    rt: Runtime, case: Case, known: RegisterResult | None = None
) -> RegisterResult | None:
    """Check the claimed professional registration (cache, then the register) and record it.

    Args:
        rt: the runtime.
        case: the application.
        known: the answer already obtained by the flow (an asynchronous register run
            it waited for while suspended); recorded as is, without another look-up.

    Returns:
        The register's answer; None when the applicant claims no registration.
    """
    reg = case.application.registration
    if reg.type.value == "NONE":
        return None
    result = known or rt.registers.check(reg.type.value, reg.number)
    with session_scope(rt.db) as s:
        repo.record_reg_check(
            s,
            application_id=case.refs.application_id,
            user_id=case.refs.user_id,
            reg_type=reg.type.value,
            reg_number=result.number or reg.number,
            status=result.outcome.value,
            detail=result.as_dict(),
        )
    return result


# --------------------------------------------------------------------------------------
# asynchronous (Apify) register runs around a flow run's suspension
# --------------------------------------------------------------------------------------


def start_register_run(
    rt: Runtime, register: str, number: str | None, flow_run_id: str
) -> str | None:
    """Start an asynchronous look-up whose end resumes ``flow_run_id``.

    Idempotent: a flow run resumed after its suspension runs again from the top and
    gets the run it started before (kept in ``register_cache.pending_run_id``).

    Returns:
        The run id to wait for; None when there is nothing to wait for (a fresh
        cached answer, a malformed number, or a register client that cannot call
        back: see :func:`kyc.wiring.async_register_client`).
    """
    client = rt.engines.async_register_client
    api_url = rt.settings.apify_webhook_prefect_api_url
    reg = canonical_register(register)
    if client is None or not api_url or reg is None or number_problem(reg, number) is not None:
        return None
    clean = normalise_number(number)
    checker = rt.registers
    if checker.cached(reg, clean) is not None:
        return None
    with session_scope(rt.db) as s:
        row = rrepo.get_cached(s, reg_type=reg, reg_number=clean)
    now = _now()
    if row is not None and row.pending_run_id and row.expires_at > now:
        return row.pending_run_id
    auth = rt.settings.prefect_auth_string
    run_id = client.start_resumable(
        reg,
        clean,
        prefect_api_url=api_url,
        flow_run_id=flow_run_id,
        prefect_auth_string=auth.get_secret_value() if auth is not None else None,
    )
    wait = dt.timedelta(seconds=rt.settings.apify_max_wait_seconds)
    _mark_pending(rt, reg, clean, source=client.name, run_id=run_id, until=now + wait)
    return run_id


def _mark_pending(
    rt: Runtime, register: str, number: str, *, source: str, run_id: str | None, until: dt.datetime
) -> None:
    """Remember a run under way (``run_id``) until ``until``, or clear it (None, now)."""
    with session_scope(rt.db) as s:
        rrepo.put_cached(
            s,
            reg_type=register,
            reg_number=number,
            result_json=None,
            source=source,
            fetched_at=_now(),
            expires_at=until,
            pending_run_id=run_id,
        )


def collect_register_run(rt: Runtime, register: str, number: str, run_id: str) -> RegisterResult:
    """Read a finished asynchronous run and cache its answer (found / not found)."""
    checker = rt.registers
    reg = canonical_register(register) or register
    clean = normalise_number(number)
    client = rt.engines.async_register_client
    if client is None:  # the settings changed while the flow run was suspended
        return checker.check(reg, clean)
    result = client.collect(reg, clean, run_id)
    if result.outcome is RegisterOutcome.UNAVAILABLE:
        # Clears the pending run: the next check starts afresh.
        _mark_pending(rt, reg, clean, source=client.name, run_id=None, until=_now())
    else:
        checker.store(result)
    return result


def recheck_registers(rt: Runtime) -> list[dict[str, str]]:
    """Re-check every application decided while its register was unavailable.

    Each answer is recorded as a new ``reg_checks`` row (and cached), so a reviewer
    sees it and a reprocessing of the application decides from the cache.
    Applications whose register is still unavailable stay on the list.

    Returns:
        One ``{"application_id", "register", "outcome"}`` per application re-checked.
    """
    checker = rt.registers
    with session_scope(rt.db) as s:
        # The sweep is also the cache's TTL deletion (what DynamoDB TTL did in the
        # seed); reads never trust an expired entry, so this only keeps the table small.
        purged = rrepo.purge_expired(s, now=_now())
        pending = rrepo.unavailable_register_checks(s)
    log.info("register cache: %d expired entries purged", purged)
    out: list[dict[str, str]] = []
    for p in pending:
        result = checker.check(p.reg_type, p.reg_number)
        with session_scope(rt.db) as s:
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

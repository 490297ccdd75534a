"""Register checks with the register cache: validate the number, reuse, or look up.

Whichever RegisterClient is configured, a check goes through here:

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

import sqlalchemy as sa

from kyc.db import register_repository as rrepo
from kyc.db.engine import session_scope
from kyc.domain.records import RegisterOutcome, RegisterResult
from kyc.domain.registers import canonical_register, normalise_number, number_problem
from kyc.engines.base import RegisterClient

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

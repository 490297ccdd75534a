"""LicenceValidator from local rules: jurisdiction formats, derived parts, expiry.

It cannot confirm that an issuer holds the licence (only a DLDV-style service can,
see ``licence_http``), so its ``verified`` means "nothing wrong found by the rules".
"""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

from kyc.domain.licences import check_licence
from kyc.domain.records import LicenceClaim, LicenceResult


class LocalLicenceValidator:
    """Applies :func:`kyc.domain.licences.check_licence`."""

    name = "licence-local"
    version = "1"

    def validate(self, claim: LicenceClaim, *, today: dt.date) -> LicenceResult:
        """Validate one licence by the jurisdiction's rules (see LicenceValidator)."""
        check = check_licence(claim, today=today)
        if not check.applicable:
            return LicenceResult(
                verified=None, engine=self.name, raw=MappingProxyType({"detail": check.detail})
            )
        matches: dict[str, bool | None] = {
            "number": check.format_valid if check.derived_consistent is None else
            bool(check.format_valid and check.derived_consistent),
            "expiry_date": not check.expired,
            "date_of_birth": None,
            "first_name": None,
            "last_name": None,
        }  # fmt: skip
        return LicenceResult(
            verified=not check.findings,
            field_matches=MappingProxyType(matches),
            findings=check.findings,
            engine=self.name,
            raw=MappingProxyType(
                {
                    "format_valid": check.format_valid,
                    "derived_consistent": check.derived_consistent,
                    "expired": check.expired,
                }
            ),
        )

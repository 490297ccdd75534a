"""LicenceValidator over a DLDV-style HTTP service (configurable mapping).

Driver's licence data verification services (AAMVA's DLDV in the US, and the
commercial services that resell it) take the licence number, the holder's date of
birth and name and the expiry date, and answer with a match flag per field rather
than the issuer's data. This client is generic:

- ``KYC_LICENCE_HTTP_URL``: the endpoint (POST, JSON body);
- ``KYC_LICENCE_HTTP_AUTH_HEADER`` / ``KYC_LICENCE_HTTP_AUTH_VALUE``: the credential
  header (e.g. ``Authorization`` / ``Bearer ...`` or ``x-api-key`` / ``...``);
- ``KYC_LICENCE_HTTP_REQUEST_MAP``: JSON object, service field -> our claim field
  (``number``, ``date_of_birth``, ``first_name``, ``middle_name``, ``last_name``,
  ``expiry_date``, ``region``, ``country``); dates are sent as ISO ``YYYY-MM-DD``;
- ``KYC_LICENCE_HTTP_RESPONSE_MAP``: JSON object, our field -> dotted path of the
  service's match flag in the response (``matches.dateOfBirth``), plus ``found`` ->
  path of the "record found" flag. Flags may be booleans or "Y"/"N"/"MATCH"/
  "NO_MATCH" strings; a missing path means "not checked".

The service's whole response is kept as evidence (``licence_checks``).
"""

from __future__ import annotations

import datetime as dt
import logging
from types import MappingProxyType
from typing import Any

import httpx

from kyc.clients.http import RetryPolicy, ServiceUnavailable, limiter_for, request
from kyc.domain.records import Finding, LicenceClaim, LicenceResult, Reason

log = logging.getLogger(__name__)

_TRUE = {"true", "y", "yes", "match", "matched", "1"}
_FALSE = {"false", "n", "no", "no_match", "nomatch", "mismatch", "not_matched", "0"}


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _path(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _claim_value(claim: LicenceClaim, name: str) -> Any:
    value = getattr(claim, name)
    return value.isoformat() if isinstance(value, dt.date) else value


class HttpLicenceValidator:
    """Calls a DLDV-style service with a configurable request/response mapping."""

    name = "licence-http"
    version = "1"

    def __init__(
        self,
        *,
        url: str,
        request_map: dict[str, str],
        response_map: dict[str, str],
        auth_header: str | None = None,
        auth_value: str | None = None,
        timeout: float = 10.0,
        policy: RetryPolicy | None = None,
        rate_per_second: float = 5.0,
        countries: tuple[str, ...] = ("US", "USA"),
    ) -> None:
        """Create the client (see the module docstring for the mapping).

        Raises:
            ValueError: the request map names a field the claim does not have.
        """
        unknown = {v for v in request_map.values()} - set(LicenceClaim.__dataclass_fields__)
        if unknown:
            raise ValueError(f"licence request map names unknown claim fields: {sorted(unknown)}")
        self._url = url
        self._countries = frozenset(c.upper() for c in countries)
        self._request_map = dict(request_map)
        self._response_map = dict(response_map)
        self._policy = policy or RetryPolicy()
        self._rate = rate_per_second
        headers = {"Content-Type": "application/json"}
        if auth_header and auth_value:
            headers[auth_header] = auth_value
        self._client = httpx.Client(timeout=httpx.Timeout(timeout), headers=headers)

    def validate(self, claim: LicenceClaim, *, today: dt.date) -> LicenceResult:
        """Ask the service about one licence (see LicenceValidator)."""
        if claim.country.strip().upper() not in self._countries:
            # Not the service's jurisdiction: nothing to ask, nothing concluded.
            return LicenceResult(
                verified=None,
                engine=self.name,
                raw=MappingProxyType({"detail": "country not covered by the service"}),
            )
        body = {field: _claim_value(claim, ours) for field, ours in self._request_map.items()}
        try:
            resp = request(
                self._client,
                "POST",
                self._url,
                policy=self._policy,
                limiter=limiter_for("licence-http", self._rate),
                json=body,
            )
            data = resp.json()
        except ServiceUnavailable as exc:
            log.warning("licence service unavailable: %s", exc)
            return self._not_verified(f"licence service unavailable: {exc}", {})
        except ValueError:
            return self._not_verified("licence service answered with malformed JSON", {})
        if not isinstance(data, dict):
            return self._not_verified("licence service answer is not a JSON object", {})
        raw = MappingProxyType(data)
        found_path = self._response_map.get("found")
        if found_path and _flag(_path(data, found_path)) is False:
            return self._not_verified("no licence record found", data)
        matches = {
            ours: _flag(_path(data, path))
            for ours, path in self._response_map.items()
            if ours != "found"
        }
        failed = sorted(k for k, v in matches.items() if v is False)
        findings: tuple[Finding, ...] = ()
        if failed:
            findings = (
                Finding(
                    Reason.LICENCE_DATA_MISMATCH, "issuer record differs: " + ", ".join(failed)
                ),
            )
        elif not any(v is True for v in matches.values()):
            findings = (Finding(Reason.LICENCE_NOT_VERIFIED, "service returned no match flags"),)
        return LicenceResult(
            verified=not findings,
            field_matches=MappingProxyType(matches),
            findings=findings,
            engine=self.name,
            raw=raw,
        )

    def _not_verified(self, detail: str, raw: dict[str, Any]) -> LicenceResult:
        return LicenceResult(
            verified=False if raw else None,
            findings=(Finding(Reason.LICENCE_NOT_VERIFIED, detail),),
            engine=self.name,
            raw=MappingProxyType(raw),
        )

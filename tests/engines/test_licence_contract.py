"""One contract suite for every LicenceValidator (local rules, DLDV-style HTTP service)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import pytest

from kyc.clients.http import RetryPolicy
from kyc.domain.records import LicenceClaim, LicenceResult, Reason
from kyc.engines.base import LicenceValidator
from kyc.engines.licence_http import HttpLicenceValidator
from kyc.engines.licence_local import LocalLicenceValidator
from kyc.settings import Settings
from tests.fixtures.registers import LicenceService, licence_service

TODAY = dt.date(2026, 11, 23)
GOOD = LicenceClaim("USA", "CA", "D1234567", dt.date(1990, 4, 1), "Olivia", "Smith", dt.date(2030, 1, 1))
RECORD = {"dob": "1990-04-01", "first": "Olivia", "last": "Smith", "expiry": "2030-01-01"}


def _http(url: str, key: str = "test-key-0123456789", **kw) -> HttpLicenceValidator:
    s = Settings()
    return HttpLicenceValidator(url=url, request_map=s.licence_http_request_map,
                                response_map=s.licence_http_response_map, auth_header="x-api-key",
                                auth_value=key, timeout=1.0,
                                policy=kw.pop("policy", RetryPolicy(retries=1, backoff_seconds=0.01)), **kw)


@pytest.fixture(params=["local", "http"])
def case(request: pytest.FixtureRequest) -> Iterator[tuple[LicenceValidator, LicenceClaim]]:
    """A validator and a claim it must reject."""
    if request.param == "local":
        yield LocalLicenceValidator(), dataclasses.replace(GOOD, number="12345678")  # not a CA format
    else:
        svc = LicenceService(records={"D1234567": RECORD})
        with licence_service(svc) as url:
            yield _http(url), dataclasses.replace(GOOD, date_of_birth=dt.date(1991, 4, 1))


def test_implements_the_port(case) -> None:
    validator, _ = case
    assert isinstance(validator, LicenceValidator)
    assert validator.name.startswith("licence-") and validator.version


def test_good_licence_is_verified(case) -> None:
    validator, _ = case
    r = validator.validate(GOOD, today=TODAY)
    assert isinstance(r, LicenceResult)
    assert r.verified is True and r.findings == ()
    assert r.field_matches["number"] is True
    assert r.engine == validator.name


def test_bad_licence_has_a_licence_finding(case) -> None:
    validator, bad = case
    r = validator.validate(bad, today=TODAY)
    assert r.verified is False
    assert {f.reason for f in r.findings} <= {Reason.LICENCE_NOT_VERIFIED, Reason.LICENCE_DATA_MISMATCH}
    assert r.findings


def test_http_field_mismatch_names_the_field() -> None:
    svc = LicenceService(records={"D1234567": RECORD})
    with licence_service(svc) as url:
        r = _http(url).validate(dataclasses.replace(GOOD, date_of_birth=dt.date(1991, 4, 1)), today=TODAY)
    assert [f.reason for f in r.findings] == [Reason.LICENCE_DATA_MISMATCH]
    assert r.findings[0].detail == "issuer record differs: date_of_birth"
    assert r.field_matches["date_of_birth"] is False and r.field_matches["last_name"] is True
    # the request used the configured mapping
    assert svc.requests[0] == {"licenseNumber": "D1234567", "dateOfBirth": "1991-04-01", "firstName": "Olivia",
                               "lastName": "Smith", "expirationDate": "2030-01-01", "jurisdiction": "CA"}


def test_http_no_record_is_not_verified() -> None:
    with licence_service(LicenceService()) as url:
        r = _http(url).validate(GOOD, today=TODAY)
    assert r.verified is False and r.findings[0].reason is Reason.LICENCE_NOT_VERIFIED
    assert r.raw == {"recordFound": False}


def test_http_service_down_is_not_verified_never_an_exception() -> None:
    svc = LicenceService(records={"D1234567": RECORD}, failures=[503, 503])
    with licence_service(svc) as url:
        r = _http(url).validate(GOOD, today=TODAY)
    assert r.verified is None and "unavailable" in r.findings[0].detail
    svc = LicenceService(records={"D1234567": RECORD}, failures=[503])
    with licence_service(svc) as url:
        assert _http(url).validate(GOOD, today=TODAY).verified is True  # retried


def test_http_wrong_credential_is_not_verified() -> None:
    with licence_service(LicenceService(records={"D1234567": RECORD})) as url:
        r = _http(url, key="wrong").validate(GOOD, today=TODAY)
    assert r.verified is None and "HTTP 401" in r.findings[0].detail


def test_request_map_must_name_claim_fields() -> None:
    with pytest.raises(ValueError, match="unknown claim fields"):
        HttpLicenceValidator(url="http://127.0.0.1:9/", request_map={"x": "shoe_size"}, response_map={})


def test_local_rules_skip_other_countries() -> None:
    r = LocalLicenceValidator().validate(dataclasses.replace(GOOD, country="GB", region=None), today=TODAY)
    assert r.verified is None and r.findings == ()


def test_http_service_is_not_asked_about_other_countries() -> None:
    svc = LicenceService(records={"D1234567": RECORD})
    with licence_service(svc) as url:
        r = _http(url).validate(dataclasses.replace(GOOD, country="GB", region=None), today=TODAY)
    assert r.verified is None and r.findings == () and svc.requests == []

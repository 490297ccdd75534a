import json

import pytest

from kyc.domain.application import (
    ApplicationInvalid,
    DocumentType,
    RegisterType,
    application_schema,
    parse_application,
)


def form(**over):
    base = {
        "application_id": "app-1",
        "email": "a@example.org",
        "first_name": "Ann",
        "last_name": "Lee",
        "date_of_birth": "1990-04-01",
        "address": {
            "line1": "1 Main St",
            "city": "Leeds",
            "region": "",
            "postal_code": "LS1 1AA",
            "country": "GB",
        },
        "document": {
            "type": "passport",
            "number": "123456789",
            "issuing_country": "GBR",
            "expiry_date": "2030-01-01",
        },
        "registration": {"type": "NONE", "number": None},
    }
    base.update(over)
    return json.dumps(base)


def test_valid_form_parses():
    app = parse_application(form(), expected_id="app-1")
    assert app.document.type is DocumentType.PASSPORT
    assert app.registration.type is RegisterType.NONE
    assert app.date_of_birth.isoformat() == "1990-04-01"
    assert json.loads(form())["email"] == app.to_json()["email"]


def test_gpc_is_an_alias_of_gphc():
    app = parse_application(form(registration={"type": "GPC", "number": "2012345"}))
    assert app.registration.type is RegisterType.GPHC


@pytest.mark.parametrize(
    ("raw", "expect"),
    [
        (b'{"application_id": ', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (form(email="not-an-email").encode(), "email"),
        (form(date_of_birth="1990-02-30").encode(), "date_of_birth"),
        (
            form(
                document={
                    "type": "visa",
                    "number": "1",
                    "issuing_country": "GB",
                    "expiry_date": "2030-01-01",
                }
            ).encode(),
            "document/type",
        ),
        (json.dumps({"application_id": "app-1"}).encode(), "required"),
        (form(extra_field=1).encode(), "additionalProperties"),
    ],
)
def test_invalid_forms_name_the_problem(raw, expect):
    with pytest.raises(ApplicationInvalid) as err:
        parse_application(raw)
    assert expect in str(err.value)
    assert err.value.problems


def test_id_must_match_folder():
    with pytest.raises(ApplicationInvalid, match="landing folder"):
        parse_application(form(), expected_id="other")


def test_problems_do_not_echo_pii():
    with pytest.raises(ApplicationInvalid) as err:
        parse_application(form(email="secret-person"))
    assert "secret-person" not in str(err.value)


def test_schema_is_loadable():
    assert application_schema()["title"].startswith("KYC application")


def test_liveness_session_id_is_optional_and_validated():
    sid = "11111111-1111-4111-8111-111111111111"
    app = parse_application(form(liveness={"session_id": sid}))
    assert app.liveness_session_id == sid
    assert app.to_json()["liveness"] == {"session_id": sid}
    assert parse_application(json.dumps(app.to_json())) == app  # round trip
    assert parse_application(form()).liveness_session_id is None
    assert "liveness" not in parse_application(form()).to_json()
    assert parse_application(form(liveness=None)).liveness_session_id is None
    with pytest.raises(ApplicationInvalid, match="liveness/session_id: pattern"):
        parse_application(form(liveness={"session_id": "not-a-uuid"}))
    with pytest.raises(ApplicationInvalid, match="additionalProperties"):
        parse_application(form(liveness={"session": sid}))


# --------------------------------------------------------------------------------------
# hostile forms: clear APPLICATION_INVALID problems, never the values themselves
# --------------------------------------------------------------------------------------

_PII = ("Jane", "Doe", "1990-01-31", "jane@example.com", "P1234567", "10 Downing")


def _invalid(raw: bytes | str) -> list[str]:
    with pytest.raises(ApplicationInvalid) as info:
        parse_application(raw)
    problems = info.value.problems
    assert problems and all(len(p) <= 300 for p in problems)
    for p in problems:
        assert not any(v in p for v in _PII), p
    return problems


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            json.dumps(["Jane", "Doe", "1990-01-31", "jane@example.com", "P1234567"]),
            "type violated",
        ),
        (json.dumps({"first_name": "Jane\u0000", "last_name": "Doe"}), "NUL"),
        ('{"first_name": "Jane\\ud800", "last_name": "Doe"}', "surrogate"),
        ("[" * 100_000 + "]" * 100_000, "larger than"),
        ("[" * 30_000 + "]" * 30_000, "nested deeper"),
        ('{"a": ' * 40 + "1" + "}" * 40, "nested deeper"),
        ('{"n": ' + "9" * 5000 + "}", "number too long"),
        (json.dumps({"first_name": "J" * 10_000_000}), "larger than"),
        ("", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
    ],
)
def test_hostile_forms_are_invalid_with_a_clear_reason(raw: str, expected: str) -> None:
    problems = _invalid(raw)
    assert any(expected in p for p in problems), problems


def test_schema_problems_name_paths_and_rules_not_values() -> None:
    form = json.loads(json.dumps(_VALID_FORM_FOR_HOSTILE))
    form["email"] = "jane@example.com not an email"
    form["document"]["type"] = "P1234567"
    form["address"]["line1"] = {"x": "10 Downing"}
    form["unexpected_key\n"] = "Jane"
    problems = _invalid(json.dumps(form))
    text = " | ".join(problems)
    assert "email: pattern violated" in text
    assert "document/type: enum violated (one of:" in text
    assert "address/line1: type violated (must be string)" in text
    assert "unexpected_key: additionalProperties violated (unknown member)" in text


_VALID_FORM_FOR_HOSTILE: dict[str, object] = {
    "application_id": "app-1",
    "email": "x@example.org",
    "first_name": "A",
    "last_name": "B",
    "date_of_birth": "1980-01-01",
    "address": {
        "line1": "1 Road",
        "city": "Leeds",
        "region": "",
        "postal_code": "LS1",
        "country": "GB",
    },
    "document": {
        "type": "passport",
        "number": "123456789",
        "issuing_country": "GBR",
        "expiry_date": "2030-01-01",
    },
    "registration": {"type": "NONE"},
}


def test_problems_name_path_and_rule_never_the_value():
    bad = json.loads(form(first_name=["Secretia"], nickname="Sec"))
    bad["document"]["type"] = "secret-visa"
    bad["registration"]["number"] = 12345678
    del bad["address"]["city"]
    with pytest.raises(ApplicationInvalid) as err:
        parse_application(json.dumps(bad))
    details = {(p.path, p.rule): p.detail for p in err.value.details}
    assert details == {
        ("address/city", "required"): "required member is missing",
        ("document/type", "enum"): "one of: driving_licence, passport, id_card",
        ("first_name", "type"): "must be string",
        ("nickname", "additionalProperties"): "unknown member",
        ("registration/number", "type"): "must be string or null",
    }
    for value in ("Secretia", "secret-visa", "12345678"):
        assert value not in str(err.value)
    assert err.value.problems == [str(p) for p in err.value.details]
    assert err.value.details[0].as_json().keys() == {"path", "rule", "detail"}

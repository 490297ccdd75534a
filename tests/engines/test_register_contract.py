"""One contract suite for every RegisterClient: snapshot, direct HTTP, Apify.

Each implementation is fed the same register data through the medium it really
uses: a loaded extract in PostgreSQL, search pages served on loopback, the Apify
API served on loopback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from kyc.clients.http import RetryPolicy
from kyc.domain.records import RegisterOutcome, RegisterResult
from kyc.engines.base import RegisterClient
from kyc.engines.register_apify import ApifyRegisterClient
from kyc.engines.register_http import HttpRegisterClient
from kyc.engines.register_snapshot import SnapshotRegisterClient, load_extract
from tests.fixtures.registers import FakeApify, RegisterSite, fake_apify, register_site

pytestmark = pytest.mark.db

#: (register, number) -> entry, the same for every implementation.
ENTRIES = {
    ("GMC", "7123456"): {"name": "Dr Noah Walker", "status": "Registered with a licence to practise",
                         "conditions": []},
    ("NMC", "98Y1234D"): {"name": "George Johnson", "status": "Registered",
                          "conditions": ["Interim conditions of practice"]},
    ("GPHC", "2999001"): {"name": "Arthur Evans", "status": "Removed", "conditions": []},
    # loaded only so that the GDC "register" exists for the snapshot client
    ("GDC", "999001"): {"name": "Demo Dentist-Example", "status": "Registered", "conditions": []},
}
FAST = RetryPolicy(retries=1, backoff_seconds=0.01, max_retry_after_seconds=1)


def _extract(path: Path) -> Path:
    lines = ["register,number,name,status,conditions,snapshot_date"]
    for (reg, num), e in ENTRIES.items():
        lines.append(f"{reg},{num},{e['name']},{e['status']},{'|'.join(e['conditions'])},2026-11-01")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(params=["snapshot", "http", "apify"])
def client(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> Iterator[RegisterClient]:
    kind = request.param
    if kind == "snapshot":
        # The session database: the extract replaces only these registers' rows, and
        # no other test reads register_snapshot.
        engine = sa.create_engine(pg_url)
        load_extract(engine, _extract(tmp_path / "extract.csv"))
        yield SnapshotRegisterClient(lambda: engine)
        engine.dispose()
    elif kind == "http":
        site = RegisterSite(entries={k: {**v, "number": k[1]} for k, v in ENTRIES.items()})
        with register_site(site) as base:
            yield HttpRegisterClient(site.urls(base), timeout=2, policy=FAST, rate_per_second=1000)
    else:
        api = FakeApify(
            items={k: [{"registrationNumber": k[1], "found": True, **v}] for k, v in ENTRIES.items()},
            polls_to_finish=2,
        )
        actors = {r: f"kyc~{r.lower()}-register" for r in ("GMC", "GDC", "NMC", "GPHC")}
        with fake_apify(api) as base:
            yield ApifyRegisterClient(token="apify-test-token", actors=actors, api_url=base, policy=FAST,
                                      rate_per_second=1000, max_wait_seconds=10)


def test_implements_the_port(client: RegisterClient) -> None:
    assert isinstance(client, RegisterClient)
    assert client.name.startswith("register-") and client.version


def test_registered(client: RegisterClient) -> None:
    r = client.lookup("GMC", "7123456")
    assert isinstance(r, RegisterResult)
    assert (r.register, r.number, r.outcome) == ("GMC", "7123456", RegisterOutcome.FOUND)
    assert r.name == "Dr Noah Walker"
    assert r.status == "Registered with a licence to practise"
    assert r.conditions == ()
    assert isinstance(r.snapshot_date, dt.date)
    assert r.source == client.name
    assert r.raw  # evidence kept


def test_conditions_are_returned(client: RegisterClient) -> None:
    r = client.lookup("NMC", "98Y1234D")
    assert r.outcome is RegisterOutcome.FOUND
    assert r.conditions == ("Interim conditions of practice",)


def test_removed_keeps_the_registers_wording(client: RegisterClient) -> None:
    r = client.lookup("GPHC", "2999001")
    assert r.outcome is RegisterOutcome.FOUND and r.status == "Removed"


def test_not_found(client: RegisterClient) -> None:
    r = client.lookup("GMC", "7999999")
    assert r.outcome is RegisterOutcome.NOT_FOUND
    assert r.name is None and r.status is None


def test_result_is_json_ready(client: RegisterClient) -> None:
    import json

    r = client.lookup("NMC", "98Y1234D")
    assert RegisterResult.from_dict(json.loads(json.dumps(r.as_dict()))) == r

"""Register extracts: CSV and Parquet loading, replacement, bad files, the demo snapshot."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from kyc.db import register_repository as rrepo
from kyc.db.engine import session_scope
from kyc.demo.registers import (
    DEMO_REGISTER_SNAPSHOT,
    RealExtractLoaded,
    load_demo_register,
    remove_demo_register,
)
from kyc.domain.records import RegisterOutcome
from kyc.engines.register_snapshot import (
    ExtractInvalid,
    SnapshotRegisterClient,
    load_extract,
    read_extract,
)

pytestmark = pytest.mark.db

HEADER = "register,number,name,status,conditions,snapshot_date\n"


@pytest.fixture
def engine(fresh_pg_url: str) -> Iterator[sa.Engine]:
    eng = sa.create_engine(fresh_pg_url)
    yield eng
    eng.dispose()


def test_csv_and_parquet_load_the_same_entries(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv_rows = read_extract((HEADER + "GPC,2012345,A B,Registered,Warning|Undertakings,2026-10-01\n").encode(),
                            filename="x.csv")
    table = pa.table({"register": ["GPC"], "number": ["2012345"], "name": ["A B"], "status": ["Registered"],
                      "conditions": ["Warning|Undertakings"], "snapshot_date": ["2026-10-01"]})
    pq.write_table(table, tmp_path / "x.parquet")
    pq_rows = read_extract((tmp_path / "x.parquet").read_bytes(), filename="x.parquet")
    assert csv_rows == pq_rows
    [row] = csv_rows
    assert (row.reg_type, row.conditions, row.snapshot_date) == ("GPHC", ("Warning", "Undertakings"),
                                                                 dt.date(2026, 10, 1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("register,number,name\nGMC,7123456,A B\n", "header lacks column(s): status"),
        (HEADER + "GMC,71234,A B,Registered,,2026-10-01\n", "row 2: GMC number must be 7 digits"),
        (HEADER + "HCPC,1234567,A B,Registered,,2026-10-01\n", "row 2: unknown register"),
        (HEADER + "GMC,7123456,,Registered,,2026-10-01\n", "row 2: missing name"),
        (HEADER + "GMC,7123456,A B,Registered,,01/10/2026\n", "row 2: snapshot_date is not an ISO date"),
    ],
)
def test_bad_extracts_name_the_row(text: str, message: str) -> None:
    with pytest.raises(ExtractInvalid, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_extract(text.encode(), filename="bad.csv")


def test_new_extract_replaces_the_registers_entries_and_cache(engine: sa.Engine, tmp_path: Path) -> None:
    old = tmp_path / "gmc-old.csv"
    old.write_text(HEADER + "GMC,7123456,A B,Registered,,2026-10-01\nGMC,7000001,C D,Registered,,2026-10-01\n")
    new = tmp_path / "gmc-new.csv"
    new.write_text(HEADER + "GMC,7123456,A B,Suspended,,2026-11-01\n")
    assert load_extract(engine, old) == 2
    now = dt.datetime.now(dt.UTC)
    with session_scope(engine) as s:
        rrepo.put_cached(s, reg_type="GMC", reg_number="7123456", result_json={"x": 1}, source="t",
                         fetched_at=now, expires_at=now + dt.timedelta(days=1))
    assert load_extract(engine, new) == 1
    client = SnapshotRegisterClient(lambda: engine)
    r = client.lookup("GMC", "7123456")
    assert r.status == "Suspended" and r.snapshot_date == dt.date(2026, 11, 1)
    gone = client.lookup("GMC", "7000001")
    assert gone.outcome is RegisterOutcome.NOT_FOUND and gone.snapshot_date == dt.date(2026, 11, 1)
    with session_scope(engine) as s:
        assert rrepo.get_cached(s, reg_type="GMC", reg_number="7123456") is None


def test_register_without_extract_is_unavailable(engine: sa.Engine) -> None:
    r = SnapshotRegisterClient(lambda: engine).lookup("GDC", "12345")
    assert r.outcome is RegisterOutcome.UNAVAILABLE and r.detail == "no GDC extract loaded"


def test_demo_snapshot_never_replaces_a_real_extract(engine: sa.Engine, tmp_path: Path) -> None:
    assert load_demo_register(engine) == 8
    assert load_demo_register(engine) == 8  # reloading the demo's own is fine
    real = tmp_path / "gmc-2026-11.csv"
    real.write_text(HEADER + "GMC,7123456,A B,Registered,,2026-11-01\n")
    load_extract(engine, real)
    with pytest.raises(RealExtractLoaded, match=r"gmc-2026-11\.csv"):
        load_demo_register(engine)
    # `kyc register-load` of a real extract then removes the demo's other registers too
    assert remove_demo_register(engine) == 5  # its 3 GMC entries went with the GMC extract
    client = SnapshotRegisterClient(lambda: engine)
    assert client.lookup("NMC", "98Y1234D").outcome is RegisterOutcome.UNAVAILABLE
    assert client.lookup("GMC", "7123456").name == "A B"
    assert DEMO_REGISTER_SNAPSHOT.is_file()

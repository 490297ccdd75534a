"""RegisterClient over a register extract loaded into the database (offline default).

Employers and agencies can buy or download extracts of the registers (the GMC sells
its List of Registered Medical Practitioners as a data file); ``kyc register-load``
loads one (CSV, or Parquet when pyarrow is installed) into ``register_snapshot``.
A number absent from a loaded extract is NOT_FOUND; a register with no extract
loaded at all is UNAVAILABLE (we cannot say), never NOT_FOUND.

Extract columns (header row, any order): ``register`` (GMC | GDC | NMC | GPHC |
GPC), ``number``, ``name``, ``status`` (the register's wording), ``conditions``
(annotations separated by ``|``; may be empty), ``snapshot_date`` (ISO date of
the extract).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

import sqlalchemy as sa

from kyc.db import register_repository as rrepo
from kyc.db.engine import session_scope
from kyc.domain.records import RegisterOutcome, RegisterResult
from kyc.domain.registers import canonical_register, normalise_number, number_problem

COLUMNS = ("register", "number", "name", "status", "conditions", "snapshot_date")


class ExtractInvalid(ValueError):
    """A register extract file cannot be loaded (the message names the row and column)."""


def _rows_from_records(records: list[dict[str, str]]) -> list[rrepo.SnapshotRow]:
    out: list[rrepo.SnapshotRow] = []
    for i, rec in enumerate(records, start=2):  # row 1 is the header
        missing = [c for c in COLUMNS if c != "conditions" and not str(rec.get(c) or "").strip()]
        if missing:
            raise ExtractInvalid(f"row {i}: missing {', '.join(missing)}")
        reg = canonical_register(str(rec["register"]))
        if reg is None:
            raise ExtractInvalid(f"row {i}: unknown register")
        problem = number_problem(reg, str(rec["number"]))
        if problem:
            raise ExtractInvalid(f"row {i}: {problem}")
        try:
            snap = dt.date.fromisoformat(str(rec["snapshot_date"]).strip()[:10])
        except ValueError as exc:
            raise ExtractInvalid(f"row {i}: snapshot_date is not an ISO date") from exc
        conds = tuple(c.strip() for c in str(rec.get("conditions") or "").split("|") if c.strip())
        out.append(
            rrepo.SnapshotRow(
                reg_type=reg,
                reg_number=normalise_number(str(rec["number"])),
                full_name=str(rec["name"]).strip(),
                status=str(rec["status"]).strip(),
                conditions=conds,
                snapshot_date=snap,
            )
        )
    return out


def read_extract(data: bytes, *, filename: str) -> list[rrepo.SnapshotRow]:
    """Parse a register extract (CSV, or Parquet by file extension).

    Raises:
        ExtractInvalid: missing columns, bad register, number or date.
        RuntimeError: a Parquet file without pyarrow installed.
    """
    if filename.lower().endswith(".parquet"):
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise RuntimeError(
                "reading Parquet extracts needs pyarrow (pip install pyarrow); "
                "or convert the extract to CSV"
            ) from exc
        table = pq.read_table(io.BytesIO(data))
        records = [
            {k: "" if v is None else str(v) for k, v in r.items()} for r in table.to_pylist()
        ]
    else:
        text = data.decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in reader.fieldnames or []]
        absent = [c for c in COLUMNS if c not in header]
        if absent:
            raise ExtractInvalid(f"header lacks column(s): {', '.join(absent)}")
        records = [{(k or "").strip(): (v or "") for k, v in r.items()} for r in reader]
    return _rows_from_records(records)


def load_extract(database: sa.Engine, path: Path) -> int:
    """Load an extract file into ``register_snapshot``; returns the entries loaded."""
    rows = read_extract(path.read_bytes(), filename=path.name)
    with session_scope(database) as s:
        return rrepo.load_snapshot(s, rows=rows, source_file=path.name)


class SnapshotRegisterClient:
    """Looks numbers up in the loaded register extracts."""

    name = "register-snapshot"
    version = "1"

    def __init__(self, database: Callable[[], sa.Engine]) -> None:
        """Create the client; ``database`` returns the (migrated) engine when first needed."""
        self._database = database

    def lookup(self, register: str, number: str) -> RegisterResult:
        """Find one number in the loaded extract (see RegisterClient)."""
        with session_scope(self._database()) as s:
            entry = rrepo.find_snapshot_entry(s, reg_type=register, reg_number=number)
            loaded = None if entry else rrepo.snapshot_loaded(s, reg_type=register)
        if entry is None:
            if loaded is None:
                return RegisterResult(
                    register, number, RegisterOutcome.UNAVAILABLE, source=self.name,
                    detail=f"no {register} extract loaded",
                )  # fmt: skip
            return RegisterResult(
                register, number, RegisterOutcome.NOT_FOUND, snapshot_date=loaded, source=self.name
            )
        return RegisterResult(
            register=register,
            number=number,
            outcome=RegisterOutcome.FOUND,
            name=entry.full_name,
            status=entry.status,
            conditions=entry.conditions,
            snapshot_date=entry.snapshot_date,
            raw=MappingProxyType(
                {
                    "name": entry.full_name,
                    "status": entry.status,
                    "conditions": list(entry.conditions),
                    "snapshot_date": entry.snapshot_date.isoformat(),
                }
            ),
            source=self.name,
        )

"""``kyc register-load``, ``register-check`` and ``register-recheck``: professional registers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from kyc.cli.common import JsonLines, Verbose, console, prefect_env


def register_load(
    file: Annotated[Path, typer.Argument(help="Register extract (CSV, or Parquet with pyarrow).")],
) -> None:
    """Load a register extract into the database (replaces that register's extract).

    A real extract also removes the demo's fictional entries of every register, so
    that they can never answer for a real applicant.
    """
    from kyc import runtime
    from kyc.demo.registers import DEMO_REGISTER_SNAPSHOT, remove_demo_register
    from kyc.engines.register_snapshot import ExtractInvalid, load_extract

    try:
        n = load_extract(runtime.database(), file)
        if file.name != DEMO_REGISTER_SNAPSHOT.name:
            removed = remove_demo_register(runtime.database())
            if removed:
                console.print(f"removed {removed} fictional demo register entries")
    except (ExtractInvalid, RuntimeError, OSError) as exc:
        console.print(f"[red]{file.name}: {exc}")
        raise typer.Exit(2) from exc
    console.print(f"loaded {n} register entries from {file.name}")


def register_check(
    reg_type: Annotated[str, typer.Option("--type", help="GMC, GDC, NMC, GPHC (or GPC).")],
    number: Annotated[str, typer.Option("--number", help="Registration number / NMC PIN.")],
    name: Annotated[str, typer.Option("--name", help="Applicant's full name, e.g. 'Noah Walker'.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check one registration with the configured register client (and the cache).

    Exit status: 0 registered and the name agrees, 1 any other outcome, 2 bad usage.
    """
    from kyc import runtime
    from kyc.domain.records import Decision
    from kyc.domain.registers import RegisterApplicant, assess, canonical_register
    from kyc.domain.rules import Thresholds, decision_for

    if canonical_register(reg_type) is None:
        console.print(f"[red]unknown register {reg_type!r}: use GMC, GDC, NMC or GPHC")
        raise typer.Exit(2)
    parts = name.split()
    if len(parts) < 2:
        console.print("[red]--name needs a first and a last name")
        raise typer.Exit(2)
    rt = runtime.current()
    result = rt.registers.check(reg_type, number)
    findings = assess(
        RegisterApplicant(reg_type, number, parts[0], " ".join(parts[1:-1]) or None, parts[-1]),
        result,
    )
    # The decision rules weigh the findings, with the configured thresholds.
    decision = decision_for(findings, Thresholds.from_settings(rt.settings))
    record = {
        **result.as_dict(),
        "findings": [f.as_dict() for f in findings],
        "decision": decision.value,
    }
    if as_json:
        sys.stdout.write(json.dumps(record, default=str) + "\n")
    else:
        console.print_json(json.dumps(record, default=str))
    raise typer.Exit(0 if decision is Decision.PASS else 1)


def register_recheck(
    as_json: JsonLines = False,
    verbose: Verbose = False,
) -> None:
    """Re-check registers that were unavailable when applications were decided."""
    prefect_env(verbose)
    from flows.registers import recheck_registers

    rows = recheck_registers()
    for r in rows:
        if as_json:
            sys.stdout.write(json.dumps(r) + "\n")
        else:
            console.print(f"{r['application_id']}: {r['register']} {r['outcome']}")
    if not as_json:
        console.print(f"{len(rows)} application(s) re-checked")

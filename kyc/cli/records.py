"""``kyc decisions`` and ``kyc dead-letters``: what the pipeline recorded."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kyc.cli.common import JsonLines, console


def decisions(
    as_json: JsonLines = False,
    all_versions: Annotated[
        bool, typer.Option("--all-versions", help="Include superseded decisions.")
    ] = False,
    application_id: Annotated[str | None, typer.Option("--application")] = None,
) -> None:
    """Print recorded decisions (latest version per application by default)."""
    from kyc import runtime
    from kyc.db.engine import session_scope
    from kyc.db.repository import list_decisions

    with session_scope(runtime.database()) as s:
        rows = list_decisions(s, latest_only=not all_versions, application_id=application_id)
    if as_json:
        for r in rows:
            sys.stdout.write(json.dumps(r.as_json()) + "\n")
        return
    table = Table(title="KYC decisions")
    for col in ("application", "version", "decision", "reasons", "decided at"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r.application_id,
            str(r.version),
            r.decision,
            ", ".join(r.reasons),
            r.decided_at.isoformat(),
        )
    Console().print(table)


def dead_letters(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print unresolved dead letters (applications that could not be processed)."""
    from kyc import runtime
    from kyc.db.engine import session_scope
    from kyc.db.repository import list_dead_letters

    with session_scope(runtime.database()) as s:
        rows = list_dead_letters(s, unresolved_only=True)
    for r in rows:
        sys.stdout.write(json.dumps(r, default=str) + "\n") if as_json else console.print(r)

"""``kyc audit verify`` and ``kyc audit export``: the tamper-evident record."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from kyc.cli.common import console


def _anchor(value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    seq, sep, digest = value.partition(":")
    if not sep or not seq.isdigit() or len(digest) != 64:
        raise typer.BadParameter("expected SEQ:HASH as printed by an earlier `kyc audit verify`")
    return int(seq), digest.lower()


def verify(
    anchor: Annotated[
        str | None,
        typer.Option(help="SEQ:HASH of a head recorded earlier; it must still be in the chain."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute the audit log's hash chain; exit 1 naming the first bad row."""
    from kyc import runtime
    from kyc.db.chain import verify as verify_chain
    from kyc.db.engine import session_scope

    expected = _anchor(anchor)
    with session_scope(runtime.database()) as s:
        report = verify_chain(s, anchor=expected)
    if as_json:
        sys.stdout.write(json.dumps(report.as_json()) + "\n")
    elif report.ok:
        console.print(
            f"audit chain intact: {report.rows} rows;"
            f" head {report.head_seq}:{report.head_hash} (record it as an anchor)"
        )
    else:
        console.print(
            f"[red]audit chain BROKEN at row {report.first_bad}"
            f" (audit_id {report.bad_audit_id}): {report.problem}"
        )
    if not report.ok:
        raise typer.Exit(1)


def export(
    application_id: Annotated[str, typer.Option("--application", help="The application id.")],
) -> None:
    """Print everything recorded about one application as JSON (regulator, subject access)."""
    from kyc import runtime
    from kyc.db.chain import application_story
    from kyc.db.engine import session_scope

    with session_scope(runtime.database()) as s:
        story = application_story(s, application_id)
    if story is None:
        console.print(f"[red]no application {application_id!r}")
        raise typer.Exit(1)
    sys.stdout.write(json.dumps(story, indent=2, sort_keys=True) + "\n")

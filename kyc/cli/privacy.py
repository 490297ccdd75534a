"""``kyc erase`` and ``kyc retention``: deleting what we keep about people."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from kyc.cli.common import console


def erase(
    user: Annotated[str | None, typer.Option("--user", help="The user id (UUID).")] = None,
    email: Annotated[str | None, typer.Option("--email", help="The user's email address.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Erase a person: objects and face embeddings deleted, personal data redacted.

    The decisions (versions, outcomes, reason codes) and the audit chain stay as
    proof; the erasure is recorded in the audit log. Running it again is safe.
    """
    from kyc import runtime
    from kyc.services.privacy import UnknownPerson, erase_user, find_user

    rt = runtime.current()
    try:
        user_id = find_user(rt, user_id=user, email=email)
    except UnknownPerson as exc:
        console.print(f"[red]{exc}")
        raise typer.Exit(1) from exc
    report = erase_user(rt, user_id)
    if as_json:
        sys.stdout.write(json.dumps(report.as_json()) + "\n")
        return
    console.print(
        f"user {report.user_id} erased{' (again)' if report.already_erased else ''}:"
        f" {len(report.applications)} application(s), {report.objects_deleted} object(s),"
        f" {report.embeddings_deleted} face embedding(s) deleted"
    )


def retention(
    apply: Annotated[
        bool, typer.Option("--apply", help="Delete (default: only list what would go).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Delete objects and embeddings kept past KYC_RETENTION_*_DAYS after a final decision."""
    from kyc import runtime
    from kyc.services.privacy import apply_retention

    report = apply_retention(runtime.current(), apply=apply)
    if as_json:
        sys.stdout.write(json.dumps(report.as_json()) + "\n")
        return
    verb = "deleted" if report.applied else "would delete (dry run; --apply to delete)"
    console.print(
        f"retention: {len(report.applications)} application(s) {verb}"
        + (
            f": {report.objects_deleted} object(s), {report.embeddings_deleted} embedding(s)"
            if report.applied
            else ""
        )
    )
    for app_id in report.applications:
        console.print(f"  {app_id}")

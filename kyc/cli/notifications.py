"""``kyc notifications`` and ``kyc expiry-reminders``: messages to applicants and staff."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from kyc.cli.common import (
    JsonLines,
    Verbose,
    console,
    prefect_env,
    quiet_ephemeral_shutdown,
    wide_console,
)


def notifications(
    failed: Annotated[
        bool, typer.Option("--failed", help="Only notifications that failed after retries.")
    ] = False,
    as_json: JsonLines = False,
    application_id: Annotated[str | None, typer.Option("--application")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 200,
    resend_failed: Annotated[
        bool,
        typer.Option(
            "--resend-failed",
            help="Send failed decision notifications again (same message id), then list.",
        ),
    ] = False,
    dispatch: Annotated[
        bool,
        typer.Option(
            "--dispatch", help="Send the outbox's due messages now (what the scheduled flow does)."
        ),
    ] = False,
) -> None:
    """Print the notification delivery log (every attempt, newest first)."""
    from kyc import runtime
    from kyc.db.engine import session_scope
    from kyc.db.notifications import list_deliveries

    if dispatch:
        from kyc.services.notify import dispatch_outbox, pending_notifications

        for line in dispatch_outbox(runtime.current(), limit=10_000):
            console.print(line)
        console.print(
            f"outbox: {pending_notifications(runtime.current())} message(s) still pending"
        )

    if resend_failed:
        from kyc.services.notify import resend_failed_decisions

        for line in resend_failed_decisions(runtime.current()):
            console.print(line)

    with session_scope(runtime.database()) as s:
        rows = list_deliveries(s, failed_only=failed, application_id=application_id, limit=limit)
    if as_json:
        for r in rows:
            sys.stdout.write(json.dumps(r) + "\n")
        return
    table = Table(title="Notification deliveries" + (" (failed)" if failed else ""))
    for col in (
        "at",
        "channel",
        "event",
        "application",
        "attempt",
        "status",
        "code",
        "ms",
        "error",
    ):
        table.add_column(col)
    colour = {"DELIVERED": "green", "RETRYING": "yellow", "FAILED": "red"}
    for r in rows:
        table.add_row(
            r["created_at"],
            r["channel"],
            r["event"],
            r["application_id"] or "",
            str(r["attempt"]),
            f"[{colour[r['status']]}]{r['status']}[/]",
            "" if r["status_code"] is None else str(r["status_code"]),
            f"{r['latency_ms']:.0f}",
            r["error"] or "",
        )
    wide_console().print(table)


def expiry_reminders(
    today: Annotated[
        str | None, typer.Option(help="Run as of this date (YYYY-MM-DD); default today (UTC).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The run summary as JSON.")] = False,
    verbose: Verbose = False,
) -> None:
    """Send the expiry reminders due now (the weekly flow, run once by hand)."""
    import datetime as dt

    if today is not None:
        try:
            dt.date.fromisoformat(today)
        except ValueError:
            raise typer.BadParameter("--today must be YYYY-MM-DD") from None
    prefect_env(verbose)
    from flows.expiry import expiry_reminders as flow

    try:
        run = flow(today)
    finally:
        quiet_ephemeral_shutdown()
    if as_json:
        sys.stdout.write(json.dumps(run.as_dict()) + "\n")
    elif not run.configured:
        console.print(
            "[yellow]no reminder channel configured[/] (set KYC_SMTP_HOST or KYC_SNS_TOPIC_ARN)"
        )
    else:
        console.print(
            f"expiry reminders as of {run.today}: {run.due} due, {run.sent} sent, "
            f"{run.already_sent} already sent, {run.failed} failed"
        )
    if run.failed:
        raise typer.Exit(1)

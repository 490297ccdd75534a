"""``kyc review-stats``: what reviewers made of each automated reason (the feedback loop)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def _duration(seconds: float | None) -> str:
    """``3h 12m`` / ``4m 10s`` / ``-``."""
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def review_stats(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    since: Annotated[
        float | None, typer.Option("--since", min=0, help="Only outcomes of the last DAYS days.")
    ] = None,
) -> None:
    """Per automated reason code: approved / rejected by reviewers; time in queue; throughput."""
    from kyc import runtime
    from kyc.services.review import review_stats as compute

    start = None if since is None else dt.datetime.now(dt.UTC) - dt.timedelta(days=since)
    stats = compute(runtime.current(), start)
    if as_json:
        sys.stdout.write(json.dumps(stats.as_json()) + "\n")
        return
    out = Console()
    table = Table(title=f"Review outcomes per automated reason ({stats.outcomes} reviewed)")
    for col in ("reason", "reviewed", "approved", "rejected", "resubmission", "escalated"):
        table.add_column(col, justify="left" if col == "reason" else "right")
    table.add_column("approval rate", justify="right")
    for r in stats.by_reason:
        rate = "-" if r.approval_rate is None else f"{r.approval_rate:.0%}"
        table.add_row(
            r.reason,
            *(str(n) for n in (r.reviewed, r.approved, r.rejected, r.resubmission, r.escalated)),
            rate,
        )
    out.print(table)
    out.print(f"median time in queue: {_duration(stats.median_seconds_in_queue)}")
    people = Table(title="Reviewer throughput")
    for col in ("reviewer", "outcomes", "median time to decide"):
        people.add_column(col)
    for p in stats.reviewers:
        people.add_row(p.reviewer, str(p.outcomes), _duration(p.median_seconds_to_decide))
    out.print(people)

"""``kyc ingest``, ``process``, ``reprocess`` and ``bridge``: deciding applications."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kyc.cli.common import (
    JsonLines,
    Verbose,
    console,
    ephemeral_api_dies_with_us,
    prefect_env,
    quiet_ephemeral_shutdown,
    wide_console,
)

#: Outcomes that need another run: ``kyc ingest`` exits 1 when any application ended so.
#: PROCESSING_FAILED: an error of ours or of a dependency (e.g. the database went away);
#: OBJECT_UNREADABLE: the landing store failed to give the objects.
RETRY_NEEDED = ("PROCESSING_FAILED", "OBJECT_UNREADABLE")


def run_ingest(landing: str, verbose: bool, fanout_chunk: int | None = None) -> list[Any]:
    """Run the batch flow over a landing prefix with a progress bar on stderr.

    Args:
        landing: folder or ``s3://bucket/prefix``.
        verbose: Prefect logs at INFO.
        fanout_chunk: hand chunks of this many applications to the pool's workers
            (None: KYC_FANOUT_CHUNK; 0: decide them in this process).

    Returns:
        The flow's outcomes, one per application.
    """
    prefect_env(verbose)
    from flows import ingest as ingest_mod

    with Progress(
        TextColumn("[bold]deciding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        bar = progress.add_task(
            "starting (embedded PostgreSQL, Prefect API, engines)...", total=None
        )
        ephemeral_api_dies_with_us()

        def hook(outcome: Any) -> None:
            progress.update(bar, advance=1, description=outcome.application_id)

        def total(count: int) -> None:
            progress.update(bar, total=count)

        ingest_mod.PROGRESS_HOOKS.append(hook)
        ingest_mod.DISCOVERY_HOOKS.append(total)
        try:
            return ingest_mod.ingest_landing(landing, fanout_chunk)
        finally:
            ingest_mod.PROGRESS_HOOKS.remove(hook)
            ingest_mod.DISCOVERY_HOOKS.remove(total)
            quiet_ephemeral_shutdown()


def outcome_table(outcomes: list[Any], expected: dict[str, dict[str, Any]] | None = None) -> Table:
    """The outcomes as a table: the decision each got (or its run status) and why.

    Args:
        outcomes: the flow's outcomes.
        expected: ``expected.json``'s cases by application id (the demo): adds the
            expected outcome and whether the outcome and its reasons agree.

    Returns:
        The table to print.
    """
    table = Table(title="KYC decisions", show_lines=False)
    table.add_column("application", no_wrap=True)
    table.add_column("decision", no_wrap=True)
    table.add_column("run", no_wrap=True)
    table.add_column("reasons")
    if expected is not None:
        table.add_column("expected")
        table.add_column("ok")
    colour = {"PASS": "green", "FAIL": "red", "MANUAL_REVIEW": "yellow"}
    for o in outcomes:
        shown = o.decision or o.status
        row = [
            o.application_id,
            f"[{colour.get(shown, 'magenta')}]{shown}[/]",
            "new" if o.status == "DECIDED" else o.status.lower().replace("_", " "),
            ", ".join(o.reasons) or o.detail[:60],
        ]
        if expected is not None:
            exp = expected.get(o.application_id, {})
            want = exp.get("expected", "?")
            ok = want == shown and all(
                r in o.reasons or r in o.detail for r in exp.get("expected_reasons", [])
            )
            row += [want, "[green]yes[/]" if ok else "[red]NO[/]"]
        table.add_row(*row)
    return table


def ingest(
    landing: Annotated[
        str | None, typer.Argument(help="Folder or s3://bucket/prefix (default KYC_LANDING).")
    ] = None,
    as_json: JsonLines = False,
    verbose: Verbose = False,
    fanout_chunk: Annotated[
        int | None,
        typer.Option(
            "--fanout-chunk",
            min=0,
            help="Hand chunks of N applications to the kyc-process pool's workers"
            " (needs PREFECT_API_URL; default KYC_FANOUT_CHUNK; 0: decide here).",
        ),
    ] = None,
) -> None:
    """Run the batch flow over a landing prefix and print each application's outcome."""
    from kyc.settings import get_settings

    outcomes = run_ingest(landing or get_settings().landing, verbose, fanout_chunk)
    if as_json:
        for o in outcomes:
            sys.stdout.write(json.dumps(o.as_dict()) + "\n")
    else:
        wide_console().print(outcome_table(outcomes))
    failed = [o.application_id for o in outcomes if o.detail.startswith(RETRY_NEEDED)]
    if failed:
        # Invalid applications are expected outcomes; a processing failure is ours,
        # and so is an application left for the next sweep (its objects unreadable).
        console.print(
            f"[red]{len(failed)} application(s) failed to process (dead letters):"
            f" {', '.join(failed[:10])}"
        )
        raise typer.Exit(1)


def process(
    application_id: str,
    landing: Annotated[str | None, typer.Option(help="Folder or s3://bucket/prefix.")] = None,
    verbose: Verbose = False,
) -> None:
    """Decide one application (the per-event flow)."""
    prefect_env(verbose)
    ephemeral_api_dies_with_us()
    from flows.process_application import process_application

    outcome = process_application(application_id, landing)
    sys.stdout.write(json.dumps(outcome.as_dict()) + "\n")


def reprocess(
    application_id: str,
    verbose: Verbose = False,
) -> None:
    """Decide an application again from its stored objects (a new decision version).

    The earlier versions stay (see ``kyc decisions --all-versions``); the audit log
    records the new one as reprocessed.
    """
    prefect_env(verbose)
    ephemeral_api_dies_with_us()
    from flows.reprocess import reprocess_application

    outcome = reprocess_application(application_id)
    quiet_ephemeral_shutdown()
    sys.stdout.write(json.dumps(outcome.as_dict()) + "\n")
    if outcome.status != "DECIDED":
        console.print(f"[red]{application_id}: {outcome.status}: {outcome.detail}")
        raise typer.Exit(1)


def bridge(
    sqs_queue_url: Annotated[
        str | None,
        typer.Option(help="SQS queue receiving the landing bucket's S3 notifications."),
    ] = None,
    watch: Annotated[
        Path | None, typer.Option(help="Landing folder to watch instead (no AWS).")
    ] = None,
    landing: Annotated[
        str | None, typer.Option(help="s3://bucket/prefix of the queue's bucket (KYC_LANDING).")
    ] = None,
    dlq_url: Annotated[
        str | None, typer.Option(help="Move unreadable messages here at once.")
    ] = None,
    sqs_endpoint_url: Annotated[
        str | None, typer.Option(help="SQS endpoint (moto, LocalStack); empty for AWS.")
    ] = None,
    interval: Annotated[float, typer.Option(help="Folder scan interval, seconds.")] = 1.0,
    replay: Annotated[
        bool, typer.Option(help="Also emit for objects already in the folder at start.")
    ] = False,
) -> None:
    """Turn landed objects into Prefect events (``aws.s3.object.created``).

    Runs until interrupted. Events go to PREFECT_API_URL, where the
    process-application deployment's trigger starts a run per event.
    """
    import logging
    import signal
    import threading

    from deployments.bridge import FolderWatcher, PrefectEmitter, SqsBridge
    from kyc.settings import get_settings

    if (sqs_queue_url is None) == (watch is None):
        console.print("[red]give exactly one of --sqs-queue-url and --watch")
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    settings = get_settings()
    try:
        if watch is not None:
            FolderWatcher(watch, PrefectEmitter(), interval=interval, replay=replay).run(stop)
        else:
            import boto3

            target = landing or settings.landing
            if not target.startswith("s3://"):
                console.print("[red]--landing (or KYC_LANDING) must be s3://bucket/prefix")
                raise typer.Exit(2)
            sqs = boto3.client(
                "sqs",
                region_name=settings.aws_region,
                endpoint_url=sqs_endpoint_url or settings.sqs_endpoint_url,
            )
            assert sqs_queue_url is not None
            SqsBridge(
                sqs,
                sqs_queue_url,
                target,
                PrefectEmitter(),
                dlq_url=dlq_url or settings.sqs_dlq_url,
            ).run(stop)
    except KeyboardInterrupt:
        pass

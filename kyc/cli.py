"""The ``kyc`` command: demo, ingest, process, decisions, dead letters, database."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(help="Open KYC onboarding pipeline.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console(stderr=True)

#: Defaults for Prefect's embedded (ephemeral) API; the environment wins.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # The 20 s default is tight on a 2-core machine while other work runs.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "GX_ANALYTICS_ENABLED": "false",
    # The ephemeral server records task runs in batches, every 5 s by default; a short
    # interval lets it finish before the CLI exits (see _quiet_ephemeral_shutdown).
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "0.5",
}


def _prefect_env(verbose: bool) -> None:
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if verbose:
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"


def _run_ingest(landing: str, verbose: bool) -> list[Any]:
    _prefect_env(verbose)
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

        def hook(outcome: Any) -> None:
            progress.update(bar, advance=1, description=outcome.application_id)

        def total(count: int) -> None:
            progress.update(bar, total=count)

        ingest_mod.PROGRESS_HOOKS.append(hook)
        ingest_mod.DISCOVERY_HOOKS.append(total)
        try:
            return ingest_mod.ingest_landing(landing)
        finally:
            ingest_mod.PROGRESS_HOOKS.remove(hook)
            ingest_mod.DISCOVERY_HOOKS.remove(total)
            _quiet_ephemeral_shutdown()


def _quiet_ephemeral_shutdown() -> None:
    """Let Prefect's ephemeral server record the last task runs before we exit.

    With the ephemeral API the server subprocess is terminated at exit; if its
    task-run recorder is mid-flush it logs a traceback about Prefect's own
    bookkeeping (our decisions are already committed to PostgreSQL by then). So:
    send the client's pending events, then give the recorder (flushing every 0.5 s)
    a moment. With a real server (PREFECT_API_URL set) nothing waits.
    """
    import time

    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_URL

    EventsWorker.drain_all(timeout=5)
    if not PREFECT_API_URL.value():
        time.sleep(1.5)


def _wide_console() -> Console:
    # Reason codes are long; when stdout is not a terminal rich assumes 80 columns.
    out = Console()
    return out if out.is_terminal else Console(width=160)


def _outcome_table(outcomes: list[Any], expected: dict[str, dict[str, Any]] | None = None) -> Table:
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


@app.command()
def ingest(
    landing: Annotated[
        str | None, typer.Argument(help="Folder or s3://bucket/prefix (default KYC_LANDING).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the batch flow over a landing prefix and print each application's outcome."""
    from kyc.settings import get_settings

    outcomes = _run_ingest(landing or get_settings().landing, verbose)
    if as_json:
        for o in outcomes:
            sys.stdout.write(json.dumps(o.as_dict()) + "\n")
    else:
        _wide_console().print(_outcome_table(outcomes))


@app.command()
def process(
    application_id: str,
    landing: Annotated[str | None, typer.Option(help="Folder or s3://bucket/prefix.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Decide one application (the per-event flow)."""
    _prefect_env(verbose)
    from flows.process_application import process_application

    outcome = process_application(application_id, landing)
    sys.stdout.write(json.dumps(outcome.as_dict()) + "\n")


def _engine_settings(**update: Any) -> Any:
    """Settings with an engine choice overridden, or exit 2 with the validation error."""
    from pydantic import ValidationError

    from kyc.settings import Settings

    try:
        # Built afresh (environment + overrides) so the override is validated too.
        return Settings(**{k: v for k, v in update.items() if v is not None})
    except ValidationError as exc:
        console.print(f"[red]invalid settings or option: {exc}")
        raise typer.Exit(2) from exc


def _build_engine(build: Any, settings: Any) -> Any:
    """An engine from kyc.wiring, or exit 2 with its EngineUnavailable message."""
    from kyc.engines.base import EngineUnavailable

    try:
        return build(settings)
    except EngineUnavailable as exc:
        console.print(f"[red]engine unavailable: {exc}")
        raise typer.Exit(2) from exc


def _emit(records: Any, as_json: bool, columns: tuple[str, ...]) -> bool:
    """Print records (JSON lines, or a table); True when every record is ok."""
    all_ok = True
    table = Table(*columns, "reasons")
    for record in records:
        all_ok = all_ok and bool(record["ok"])
        if as_json:
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        else:
            table.add_row(*(str(record.get(c)) for c in columns), ", ".join(record["reasons"]))
    if not as_json:
        _wide_console().print(table)
    return all_ok


@app.command("read-document")
def read_document(
    images: Annotated[list[Path], typer.Argument(help="Document fronts, one result each.")],
    back: Annotated[
        list[Path] | None,
        typer.Option("--back", help="Back image (PDF417 side); once per IMAGE, in order."),
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="local | textract (default KYC_DOCUMENT_ENGINE).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Read identity documents; print AnalyzeID-shaped fields, reasons and timings.

    Exits 1 when any input was unreadable (its object says why), 2 on usage errors.
    """
    from kyc.engine_cli import document_record
    from kyc.wiring import build_document_reader

    backs: list[Path | None] = list(back or [])
    if backs and len(backs) != len(images):
        console.print(f"[red]--back given {len(backs)} time(s) for {len(images)} image(s)")
        raise typer.Exit(2)
    settings = _engine_settings(document_engine=engine)
    reader = _build_engine(build_document_reader, settings)
    pairs = zip(images, backs or [None] * len(images), strict=True)
    records = (document_record(reader, front, b) for front, b in pairs)
    if not _emit(records, as_json, ("file", "engine")):
        raise typer.Exit(1)


@app.command("compare-faces")
def compare_faces(
    selfie: Annotated[Path | None, typer.Argument(help="Selfie (SourceImage).")] = None,
    document: Annotated[
        Path | None, typer.Argument(help="Document image or portrait (TargetImage).")
    ] = None,
    pairs: Annotated[
        Path | None, typer.Option(help="CSV with columns file_x (selfie), file_y (document).")
    ] = None,
    base: Annotated[
        Path | None, typer.Option(help="Folder for relative CSV paths (default: the CSV's).")
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="local | rekognition (default KYC_FACE_ENGINE).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Compare faces; print similarity, match (vs KYC_FACE_MATCH_THRESHOLD), distance, reasons.

    Exits 1 when any pair could not be compared (its object says why), 2 on usage errors.
    """
    from kyc.domain.rules import Thresholds
    from kyc.engine_cli import FacePair, face_records, read_pairs_csv
    from kyc.wiring import build_face_matcher

    if (pairs is None) == (selfie is None or document is None) or (pairs and selfie):
        console.print("[red]give SELFIE DOCUMENT_IMAGE, or --pairs pairs.csv (not both)")
        raise typer.Exit(2)
    if pairs is not None:
        try:
            todo = read_pairs_csv(pairs, base)
        except (OSError, ValueError) as exc:
            console.print(f"[red]cannot read {pairs}: {exc}")
            raise typer.Exit(2) from exc
    else:
        assert selfie is not None and document is not None
        todo = [FacePair(selfie, document)]
    settings = _engine_settings(face_engine=engine)
    matcher = _build_engine(build_face_matcher, settings)
    thresholds = Thresholds(
        face_match=settings.face_match_threshold, face_reject=settings.face_reject_threshold
    )
    records = face_records(matcher, todo, thresholds)
    if not _emit(records, as_json, ("file_x", "file_y", "similarity", "match")):
        raise typer.Exit(1)


@app.command()
def reprocess(
    application_id: str,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Decide an application again from its stored objects (a new decision version).

    The earlier versions stay (see ``kyc decisions --all-versions``); the audit log
    records the new one as reprocessed.
    """
    _prefect_env(verbose)
    from flows.reprocess import reprocess_application

    outcome = reprocess_application(application_id)
    _quiet_ephemeral_shutdown()
    sys.stdout.write(json.dumps(outcome.as_dict()) + "\n")
    if outcome.status != "DECIDED":
        console.print(f"[red]{application_id}: {outcome.status}: {outcome.detail}")
        raise typer.Exit(1)


@app.command()
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


@app.command("demo-generate")
def demo_generate(
    landing: Annotated[Path, typer.Argument(help="Folder to write the demo landing prefix into.")],
) -> None:
    """Generate the synthetic demo applications (and expected.json) into a folder."""
    from kyc.demo.generate import generate_demo
    from kyc.settings import get_settings
    from kyc.storage.local import LocalStore

    landing.mkdir(parents=True, exist_ok=True)
    cases = generate_demo(LocalStore(landing), get_settings().shared_data_dir)
    console.print(f"wrote {len(cases)} applications under {landing}/incoming")


@app.command()
def demo(
    landing: Annotated[
        Path | None, typer.Option(help="Demo landing folder (default var/demo-landing).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Generate 30 synthetic applications, decide them, print expected vs actual."""
    import shutil

    from kyc.settings import PROJECT_ROOT, get_settings

    # The demo's documents carry no liveness evidence (single still selfies); it runs
    # with the 'record' policy so genuine applicants can PASS, and says so.
    os.environ.setdefault("KYC_LIVENESS_POLICY", "record")
    from kyc.demo.generate import generate_demo
    from kyc.storage.local import LocalStore

    get_settings.cache_clear()
    settings = get_settings()
    folder = landing or PROJECT_ROOT / "var" / "demo-landing"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if not (settings.shared_data_dir / "faces").is_dir():
        console.print(
            f"[red]face photos not found in {settings.shared_data_dir}/faces"
            " (set KYC_SHARED_DATA_DIR)"
        )
        raise typer.Exit(2)
    console.print(f"generating demo applications in {folder} ...")
    generate_demo(LocalStore(folder), settings.shared_data_dir)
    _load_demo_register(settings)
    console.print(
        f"liveness policy: [bold]{settings.liveness_policy}[/]"
        " (no liveness evidence is kept as a warning, not a pass)"
    )
    outcomes = _run_ingest(str(folder), verbose)
    expected = {c["application_id"]: c for c in json.loads((folder / "expected.json").read_text())}
    _wide_console().print(_outcome_table(outcomes, expected))
    wrong = [
        o
        for o in outcomes
        if expected.get(o.application_id, {}).get("expected") != (o.decision or o.status)
    ]
    if wrong:
        console.print(f"[red]{len(wrong)} application(s) did not get the expected decision")
        raise typer.Exit(1)
    console.print(f"[green]all {len(outcomes)} applications got the expected outcome")


def _load_demo_register(settings: Any) -> None:
    """Load the bundled fictional register snapshot for the demo's register cases."""
    if settings.register_engine != "snapshot":
        console.print(
            f"register engine: [bold]{settings.register_engine}[/] (demo snapshot not used)"
        )
        return
    from kyc import runtime
    from kyc.demo.registers import RealExtractLoaded, load_demo_register

    try:
        n = load_demo_register(runtime.database())
    except RealExtractLoaded as exc:
        console.print(f"[yellow]{exc}")
        return
    console.print(f"register engine: snapshot ({n} fictional demo register entries loaded)")


@app.command("register-load")
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


@app.command("register-check")
def register_check(
    reg_type: Annotated[str, typer.Option("--type", help="GMC, GDC, NMC, GPHC (or GPC).")],
    number: Annotated[str, typer.Option("--number", help="Registration number / NMC PIN.")],
    name: Annotated[str, typer.Option("--name", help="Applicant's full name, e.g. 'Noah Walker'.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check one registration with the configured register client (and the cache).

    Exit status: 0 registered and the name agrees, 1 any other outcome, 2 bad usage.
    """
    from kyc.domain.records import Decision
    from kyc.domain.registers import RegisterApplicant, assess, canonical_register
    from kyc.domain.rules import Thresholds, decision_for
    from kyc.settings import get_settings
    from kyc.wiring import build_register_checker

    if canonical_register(reg_type) is None:
        console.print(f"[red]unknown register {reg_type!r}: use GMC, GDC, NMC or GPHC")
        raise typer.Exit(2)
    parts = name.split()
    if len(parts) < 2:
        console.print("[red]--name needs a first and a last name")
        raise typer.Exit(2)
    settings = get_settings()
    result = build_register_checker(settings).check(reg_type, number)
    findings = assess(
        RegisterApplicant(reg_type, number, parts[0], " ".join(parts[1:-1]) or None, parts[-1]),
        result,
    )
    # The decision rules weigh the findings (register findings do not depend on the
    # numeric thresholds; the liveness policy is the configured one).
    decision = decision_for(findings, Thresholds(liveness_policy=settings.liveness_policy))
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


@app.command("register-recheck")
def register_recheck(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Re-check registers that were unavailable when applications were decided."""
    _prefect_env(verbose)
    from flows.registers import recheck_registers

    rows = recheck_registers()
    for r in rows:
        if as_json:
            sys.stdout.write(json.dumps(r) + "\n")
        else:
            console.print(f"{r['application_id']}: {r['register']} {r['outcome']}")
    if not as_json:
        console.print(f"{len(rows)} application(s) re-checked")


@app.command()
def decisions(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
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


@app.command("dead-letters")
def dead_letters(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print unresolved dead letters (applications that could not be processed)."""
    from kyc import runtime
    from kyc.db.engine import session_scope
    from kyc.db.repository import list_dead_letters

    with session_scope(runtime.database()) as s:
        rows = list_dead_letters(s, unresolved_only=True)
    for r in rows:
        sys.stdout.write(json.dumps(r, default=str) + "\n") if as_json else console.print(r)


@app.command()
def notifications(
    failed: Annotated[
        bool, typer.Option("--failed", help="Only notifications that failed after retries.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    application_id: Annotated[str | None, typer.Option("--application")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 200,
    resend_failed: Annotated[
        bool,
        typer.Option(
            "--resend-failed",
            help="Send failed decision notifications again (same message id), then list.",
        ),
    ] = False,
) -> None:
    """Print the notification delivery log (every attempt, newest first)."""
    from kyc import runtime
    from kyc.db.engine import session_scope
    from kyc.db.notifications import list_deliveries

    if resend_failed:
        from tasks.notify import resend_failed_decisions

        for line in resend_failed_decisions():
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
    _wide_console().print(table)


@app.command("expiry-reminders")
def expiry_reminders(
    today: Annotated[
        str | None, typer.Option(help="Run as of this date (YYYY-MM-DD); default today (UTC).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The run summary as JSON.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Send the expiry reminders due now (the weekly flow, run once by hand)."""
    import datetime as dt

    if today is not None:
        try:
            dt.date.fromisoformat(today)
        except ValueError:
            raise typer.BadParameter("--today must be YYYY-MM-DD") from None
    _prefect_env(verbose)
    from flows.expiry import expiry_reminders as flow

    try:
        run = flow(today)
    finally:
        _quiet_ephemeral_shutdown()
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


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations to KYC_DATABASE_URL (or the embedded database)."""
    from kyc import runtime

    runtime.database()
    console.print("database is at the latest migration")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

"""``kyc demo`` and ``kyc demo-generate``: the synthetic demo applications."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from kyc.cli.common import Verbose, console, wide_console
from kyc.cli.pipeline import outcome_table, run_ingest


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


def demo(
    landing: Annotated[
        Path | None, typer.Option(help="Demo landing folder (default var/demo-landing).")
    ] = None,
    verbose: Verbose = False,
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
    outcomes = run_ingest(str(folder), verbose)
    expected = {c["application_id"]: c for c in json.loads((folder / "expected.json").read_text())}
    wide_console().print(outcome_table(outcomes, expected))
    _demo_accounts(settings)
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


def _demo_accounts(settings: Any) -> None:
    """Make the console's demo reviewer and approver; print how to log in (once)."""
    from kyc import runtime
    from kyc.demo.accounts import DemoAccountsRefused, ensure_demo_accounts
    from kyc.services.accounts import AccountError

    try:
        made = ensure_demo_accounts(runtime.current())
    except DemoAccountsRefused as exc:
        console.print(f"[yellow]{exc}")
        return
    except AccountError as exc:
        console.print(f"[red]demo accounts not made: {exc} (KYC_DEMO_PASSWORD)")
        raise typer.Exit(2) from None
    url = f"http://{settings.web_host}:{settings.web_port}/"
    # The password goes to the terminal once and nowhere else (no log, no file).
    password = "as set in KYC_DEMO_PASSWORD" if made.chosen else made.password
    console.print(
        f"review console (after [bold]make up[/]): {url}\n"
        f"  log in as [bold]{made.usernames[0]}[/] (reviewer) or [bold]{made.usernames[1]}[/]"
        f" (approver), password: [bold]{password}[/]"
        + ("" if made.chosen else " (shown once; a new one each demo run)")
    )

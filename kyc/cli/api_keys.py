"""``kyc api-keys create|list|revoke``: keys for client systems of the intake API."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from kyc.cli.common import JsonLines, console, wide_console

app = typer.Typer(help="API keys for client systems of the intake API.", no_args_is_help=True)


def _iso(value: object) -> str:
    return "" if value is None else value.isoformat(timespec="seconds")  # type: ignore[attr-defined]


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Who the key is for (a client system).")],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="A scope; repeat for several (default: intake)."),
    ] = None,
) -> None:
    """Create a key and print it once on stdout: it is stored only as a hash."""
    from kyc import runtime
    from kyc.services.api_keys import ApiKeyError, create_api_key

    try:
        created = create_api_key(runtime.current(), name, scope or None)
    except ApiKeyError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    console.print(
        f"API key {created.row.prefix!r} for {created.row.name!r} "
        f"(scopes: {', '.join(created.row.scopes) or 'none'}). "
        "Store it now: it cannot be shown again."
    )
    sys.stdout.write(created.key + "\n")


@app.command("list")
def list_keys(as_json: JsonLines = False) -> None:
    """List every key (prefix, name, scopes, created, last used, revoked); never secrets."""
    from kyc import runtime
    from kyc.services.api_keys import list_api_keys

    rows = list_api_keys(runtime.current())
    if as_json:
        for r in rows:
            line = {
                "prefix": r.prefix,
                "name": r.name,
                "scopes": r.scopes,
                "created_at": _iso(r.created_at),
                "last_used_at": _iso(r.last_used_at) or None,
                "revoked_at": _iso(r.revoked_at) or None,
            }
            sys.stdout.write(json.dumps(line) + "\n")
        return
    table = Table(title="API keys")
    for col in ("prefix", "name", "scopes", "created", "last used", "revoked"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r.prefix,
            r.name,
            ",".join(r.scopes),
            _iso(r.created_at),
            _iso(r.last_used_at),
            f"[red]{_iso(r.revoked_at)}[/]" if r.revoked_at else "",
        )
    wide_console().print(table)


@app.command("revoke")
def revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix (see list).")]) -> None:
    """Revoke a key: requests made with it are refused from now on."""
    from kyc import runtime
    from kyc.services.api_keys import ApiKeyError, revoke_api_key

    try:
        row = revoke_api_key(runtime.current(), prefix)
    except ApiKeyError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"API key {row.prefix!r} ({row.name!r}) revoked at {_iso(row.revoked_at)}")

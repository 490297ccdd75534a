"""``kyc users``: the review console's local accounts (add, list, disable, set a role)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kyc.cli.common import JsonLines, console
from kyc.domain.review import Role

users_app = typer.Typer(help="Review console accounts.", no_args_is_help=True)

RoleOption = Annotated[
    Role, typer.Option("--role", help="viewer, reviewer, approver or admin.", case_sensitive=False)
]


def _password(from_stdin: bool) -> str:
    """The new password: one line of stdin, or asked twice without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@users_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="The login name.")],
    role: RoleOption = Role.REVIEWER,
    display_name: Annotated[
        str | None, typer.Option("--display-name", help="Shown in the console.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Create a console account with a password (argon2id hash)."""
    from kyc import runtime
    from kyc.services.accounts import AccountError, add_user

    password = _password(password_stdin)
    try:
        account = add_user(
            runtime.current(), username, role=role, display_name=display_name, password=password
        )
    except AccountError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(f"added {account.username} ({account.role})")


@users_app.command("list")
def list_(as_json: JsonLines = False) -> None:
    """List console accounts."""
    from kyc import runtime
    from kyc.services.accounts import list_users

    accounts = list_users(runtime.current())
    if as_json:
        for a in accounts:
            row = {
                "username": a.username,
                "display_name": a.display_name,
                "role": a.role,
                "disabled": a.disabled,
                "sso": a.oidc_subject is not None,
                "created_at": a.created_at.isoformat(),
            }
            sys.stdout.write(json.dumps(row) + "\n")
        return
    table = Table(title="Console users")
    for col in ("username", "display name", "role", "state", "created"):
        table.add_column(col)
    for a in accounts:
        state = "disabled" if a.disabled else "active"
        table.add_row(a.username, a.display_name, a.role, state, a.created_at.isoformat())
    Console().print(table)


def _change(username: str, what: str, role: Role | None = None) -> None:
    from kyc import runtime
    from kyc.services.accounts import AccountError, disable_user, set_role

    rt = runtime.current()
    try:
        account = set_role(rt, username, role) if role else disable_user(rt, username)
    except AccountError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(f"{account.username}: {what}; their sessions are ended")


@users_app.command("disable")
def disable(username: Annotated[str, typer.Argument()]) -> None:
    """Disable an account (its sessions end at once)."""
    _change(username, "disabled")


@users_app.command("set-role")
def set_role(username: Annotated[str, typer.Argument()], role: RoleOption) -> None:
    """Give an account another role (its sessions end)."""
    _change(username, f"role {role}", role)

"""Console accounts and sessions (SQL only; the rules are in :mod:`kyc.services.accounts`)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kyc.db.models import ConsoleSession, ConsoleUser


@dataclass(frozen=True, slots=True)
class Account:
    """A console user as the services see it (never the password hash)."""

    console_user_id: uuid.UUID
    username: str
    display_name: str
    role: str
    disabled: bool
    oidc_subject: str | None
    created_at: dt.datetime


def _account(row: ConsoleUser) -> Account:
    return Account(
        console_user_id=row.console_user_id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        disabled=row.disabled_at is not None,
        oidc_subject=row.oidc_subject,
        created_at=row.created_at,
    )


def by_username(session: Session, username: str) -> ConsoleUser | None:
    """The account row of ``username`` (disabled ones too)."""
    return session.execute(
        sa.select(ConsoleUser).where(ConsoleUser.username == username)
    ).scalar_one_or_none()


def by_subject(session: Session, subject: str) -> ConsoleUser | None:
    """The account row mapped to an OpenID Connect subject."""
    return session.execute(
        sa.select(ConsoleUser).where(ConsoleUser.oidc_subject == subject)
    ).scalar_one_or_none()


def add_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    role: str,
    password_hash: str | None,
    oidc_subject: str | None = None,
) -> Account:
    """Insert an account (the caller checked the username is free)."""
    row = ConsoleUser(
        username=username,
        display_name=display_name,
        role=role,
        password_hash=password_hash,
        oidc_subject=oidc_subject,
    )
    session.add(row)
    session.flush()
    session.refresh(row)
    return _account(row)


def as_account(row: ConsoleUser) -> Account:
    """The public view of an account row."""
    return _account(row)


def list_users(session: Session) -> list[Account]:
    """Every account, by username."""
    rows = session.execute(sa.select(ConsoleUser).order_by(ConsoleUser.username)).scalars()
    return [_account(r) for r in rows]


def end_sessions(session: Session, console_user_id: uuid.UUID) -> int:
    """Delete every session of one account (disabled, role changed); returns how many."""
    result = session.execute(
        sa.delete(ConsoleSession).where(ConsoleSession.console_user_id == console_user_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def add_session(
    session: Session,
    *,
    token_hash: str,
    console_user_id: uuid.UUID,
    csrf_token: str,
    expires_at: dt.datetime,
) -> None:
    """Store a new session row."""
    session.add(
        ConsoleSession(
            token_hash=token_hash,
            console_user_id=console_user_id,
            csrf_token=csrf_token,
            expires_at=expires_at,
        )
    )
    session.flush()


def session_user(
    session: Session, token_hash: str, now: dt.datetime
) -> tuple[ConsoleUser, ConsoleSession] | None:
    """The live session of a token hash and its (enabled) account; None otherwise."""
    row = session.execute(
        sa.select(ConsoleUser, ConsoleSession)
        .join(ConsoleSession, ConsoleSession.console_user_id == ConsoleUser.console_user_id)
        .where(
            ConsoleSession.token_hash == token_hash,
            ConsoleSession.expires_at > now,
            ConsoleUser.disabled_at.is_(None),
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


def delete_session(session: Session, token_hash: str) -> None:
    """Forget one session (logout)."""
    session.execute(sa.delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash))


def purge_expired(session: Session, now: dt.datetime) -> int:
    """Delete expired session rows; returns how many."""
    result = session.execute(sa.delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)

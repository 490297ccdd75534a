"""Intake: what a landing holds, the form, the application's rows, dead letters."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kyc.db import repository as repo
from kyc.db.engine import session_scope
from kyc.domain.application import Application, ApplicationInvalid, parse_application
from kyc.domain.landing import IncompleteApplication, LandingBundle, group_landing
from kyc.runtime import Runtime
from kyc.services.case import ApplicationImages, Case


class DatabaseUnavailable(RuntimeError):
    """The pipeline's database cannot be reached: nothing can be decided or recorded."""


@dataclass(frozen=True, slots=True)
class Discovery:
    """What a landing prefix holds right now."""

    complete: list[LandingBundle]
    incomplete: list[IncompleteApplication]


def check_database(rt: Runtime) -> str:
    """Connect (starting the embedded server if configured) and migrate; fail clearly.

    Returns:
        The server version string.

    Raises:
        DatabaseUnavailable: the database cannot be reached or migrated.
    """
    try:
        with rt.db.connect() as conn:
            return str(conn.execute(sa.text("show server_version")).scalar_one())
    except Exception as exc:
        raise DatabaseUnavailable(f"database unavailable: {type(exc).__name__}: {exc}") from exc


def discover(rt: Runtime, landing: str, application_id: str | None = None) -> Discovery:
    """List the landing prefix (or one application's folder) and group its objects."""
    prefix = f"incoming/{application_id}/" if application_id else "incoming/"
    complete, incomplete = group_landing(rt.store(landing).list(prefix))
    return Discovery(complete, incomplete)


def already_decided(rt: Runtime, bundle: LandingBundle) -> repo.DecisionRow | None:
    """The decision already made on these exact objects, if any (idempotency)."""
    with session_scope(rt.db) as s:
        rows = repo.list_decisions(
            s, application_id=bundle.application_id, input_fingerprint=bundle.fingerprint
        )
    return rows[0] if rows else None


def decided_applications(rt: Runtime, bundles: list[LandingBundle]) -> dict[str, repo.DecisionRow]:
    """Which of these bundles were decided on exactly these objects (one query per batch).

    A run deciding the same objects concurrently is still caught when the decision is
    recorded (:class:`kyc.db.repository.AlreadyDecided`).
    """
    with session_scope(rt.db) as s:
        return repo.decided_inputs(s, keys=[(b.application_id, b.fingerprint) for b in bundles])


@dataclass(frozen=True, slots=True)
class BatchProgress:
    """Where a fanned-out batch stands in the database (flows/fanout.py)."""

    #: application → the decision on the batch's objects
    decided: dict[str, repo.DecisionRow]
    #: application → (error code, detail) of a dead letter recorded since the start
    dead: dict[str, tuple[str, str]]


def database_now(rt: Runtime) -> dt.datetime:
    """The database's clock (claims and dead letters are stamped by it)."""
    with rt.db.connect() as conn:
        now: dt.datetime = conn.execute(sa.text("select now()")).scalar_one()
    return now


def batch_progress(rt: Runtime, keys: list[tuple[str, str]], since: dt.datetime) -> BatchProgress:
    """Decisions on these keys and dead letters of their applications since ``since``."""
    with session_scope(rt.db) as s:
        decided = repo.decided_inputs(s, keys=keys)
        dead = repo.dead_letters_since(s, application_ids=[k[0] for k in keys], since=since)
    return BatchProgress(decided, dead)


def load_form(rt: Runtime, landing: str, bundle: LandingBundle) -> Application | ApplicationInvalid:
    """Read and validate application.json.

    An invalid form is returned, not raised: it is an expected outcome that the
    flow turns into a dead letter, not a failure to retry or alert on.
    """
    raw = rt.store(landing).get(bundle.form.key)
    try:
        return parse_application(raw, expected_id=bundle.application_id)
    except ApplicationInvalid as exc:
        return exc


def register_application(
    rt: Runtime, landing: str, bundle: LandingBundle, app: Application
) -> repo.ApplicationRefs:
    """Create/refresh the user, application, id_document (NEW) and selfie rows."""
    with session_scope(rt.db) as s:
        return repo.register_application(
            s,
            application=app,
            landing_uri=rt.store(landing).uri,
            input_fingerprint=bundle.fingerprint,
            front_key=bundle.front.key,
            front_etag=bundle.front.etag,
            back_key=bundle.back.key if bundle.back else None,
            back_etag=bundle.back.etag if bundle.back else None,
            selfie_key=bundle.selfie.key,
            selfie_etag=bundle.selfie.etag,
        )


def open_case(
    rt: Runtime,
    landing: str,
    bundle: LandingBundle,
    app: Application,
    refs: repo.ApplicationRefs,
) -> Case:
    """The application in flight, its images ready to be fetched once (nothing read yet)."""
    return Case(landing, bundle, app, refs, ApplicationImages.of(rt.store(landing), bundle))


def stored_application(rt: Runtime, application_id: str) -> repo.StoredApplication | None:
    """Where an application was landed and its latest decision version (reprocessing)."""
    with session_scope(rt.db) as s:
        return repo.stored_application(s, application_id=application_id)


def dead_letter(
    rt: Runtime,
    landing: str,
    application_id: str | None,
    stage: str,
    error_code: str,
    detail: str,
    payload: dict[str, Any] | None = None,
) -> int:
    """Record an application that could not be processed (visible, re-processable)."""
    with session_scope(rt.db) as s:
        return repo.record_dead_letter(
            s,
            application_id=application_id,
            landing_uri=rt.store(landing).uri,
            stage=stage,
            error_code=error_code,
            detail=detail,
            payload=payload,
        )


def advance(session: Any, refs: repo.ApplicationRefs, status: str) -> None:
    """Move the application's id_document to the next status (audited)."""
    repo.set_document_status(
        session,
        id_document_id=refs.id_document_id,
        status=status,
        application_id=refs.application_id,
    )

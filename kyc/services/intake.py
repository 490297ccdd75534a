"""Intake: what a landing holds, the form, the application's rows, dead letters."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kyc.db import repository as repo
from kyc.db.engine import session_scope
from kyc.domain.application import Application, ApplicationInvalid, parse_application
from kyc.domain.landing import IncompleteApplication, LandingBundle, group_landing, settle
from kyc.runtime import Runtime
from kyc.services.case import ApplicationImages, Case
from kyc.storage.local import LocalStore


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


def discover(
    rt: Runtime,
    landing: str,
    application_id: str | None = None,
    *,
    wait: bool = False,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Discovery:
    """List the landing prefix (or one application's folder) and group its objects.

    On a local folder, an application whose files changed within
    ``KYC_LANDING_SETTLE_SECONDS`` is reported as settling, not complete (it may be
    half-written). With ``wait`` (one application: the per-event flow), the call
    waits until the folder has settled instead, re-listing it each time, at most
    ten settle periods (a file written to for longer is reported settling).
    S3 objects appear whole (PutObject is atomic), so S3 landings do not settle.
    """
    store = rt.store(landing)
    prefix = f"incoming/{application_id}/" if application_id else "incoming/"
    seconds = rt.settings.landing_settle_seconds if isinstance(store, LocalStore) else 0.0
    for _ in range(10 if wait else 1):
        complete, incomplete = group_landing(store.list(prefix))
        ready, settling = settle(complete, now=clock(), settle_seconds=seconds)
        if not (wait and settling):
            break
        newest = max(s.last_landed or 0.0 for s in settling)
        sleep(max(0.05, newest + seconds - clock()))
    if isinstance(store, LocalStore):
        ready, incomplete = _report_symlinks(store, prefix, ready, incomplete)
    return Discovery(ready, incomplete + settling)


def _report_symlinks(
    store: LocalStore,
    prefix: str,
    ready: list[LandingBundle],
    incomplete: list[IncompleteApplication],
) -> tuple[list[LandingBundle], list[IncompleteApplication]]:
    """Applications with a symbolic link in them are malformed, not silently partial.

    A link may point anywhere (another applicant's folder, /etc): it is never
    followed, and the application is reported so that someone looks at it.
    """
    problems: dict[str, list[str]] = {}
    for key in store.symlinks(prefix):
        parts = key.split("/")
        if len(parts) >= 2 and parts[0] == "incoming" and parts[1]:
            what = "the application folder" if len(parts) == 2 else repr("/".join(parts[2:]))
            problems.setdefault(parts[1], []).append(f"symbolic link {what} not followed")
    if not problems:
        return ready, incomplete
    out = [
        IncompleteApplication(
            i.application_id,
            i.missing,
            i.problems + tuple(problems.pop(i.application_id, [])),
            i.last_landed,
        )
        for i in incomplete
    ]
    kept = []
    for bundle in ready:
        extra = problems.pop(bundle.application_id, None)
        if extra:
            out.append(IncompleteApplication(bundle.application_id, (), tuple(extra)))
        else:
            kept.append(bundle)
    out += [IncompleteApplication(app, (), tuple(p)) for app, p in sorted(problems.items())]
    return kept, out


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
        return register_in(s, rt, landing, bundle, app)


def register_in(
    session: Session, rt: Runtime, landing: str, bundle: LandingBundle, app: Application
) -> repo.ApplicationRefs:
    """:func:`register_application` inside the caller's transaction.

    The intake API records its own rows (the uploading key, the Idempotency-Key's
    response) in the same transaction, so that either all of them exist or none.
    """
    return repo.register_application(
        session,
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
    images: ApplicationImages | None = None,
) -> Case:
    """The application in flight; its images as fetched, else ready to be fetched once."""
    if images is None:
        images = ApplicationImages.of(rt.store(landing), bundle)
    return Case(landing, bundle, app, refs, images)


def fetch_images(rt: Runtime, landing: str, bundle: LandingBundle) -> ApplicationImages:
    """Read every image of the application now, before anything is decided on them.

    An engine that cannot read its input reports a finding (ENGINE_ERROR, an
    unreadable image), which would make a store that failed for a moment into a
    review case. Reading first keeps the two apart: a store failure raises here and
    the application is left undecided for the next sweep. Each object is still
    read once: the pictures keep the bytes for every stage.

    Raises:
        ObjectNotFound: an object vanished since the listing.
        StoreError: the store failed (after its client's retries).
        OSError: a local read failed.
    """
    images = ApplicationImages.of(rt.store(landing), bundle)
    for picture in images.all():
        picture.data  # noqa: B018 - the read itself is the point
    return images


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

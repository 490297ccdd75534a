"""The intake API's storage: uploads and their keys, Idempotency-Key replays, status.

Functions take the session first and run inside the caller's transaction; the
upload's rows are written in the same transaction as the application's own
(:func:`kyc.services.intake.register_in`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kyc.db.models import (
    ApplicationRow,
    AuditLog,
    DeadLetter,
    IdDocument,
    IntakeRequest,
    IntakeUpload,
    KycDecision,
)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first response to an Idempotency-Key."""

    body_sha256: str
    application_id: str
    status_code: int
    response: dict[str, Any]


def stored_response(
    session: Session, *, api_key_id: uuid.UUID, idempotency_key: str
) -> StoredResponse | None:
    """The response remembered for this key's Idempotency-Key, if any."""
    row = session.get(IntakeRequest, (api_key_id, idempotency_key))
    if row is None:
        return None
    return StoredResponse(row.body_sha256, row.application_id, row.status_code, row.response)


def remember_response(
    session: Session,
    *,
    api_key_id: uuid.UUID,
    idempotency_key: str,
    body_sha256: str,
    application_id: str,
    status_code: int,
    response: dict[str, Any],
) -> None:
    """Insert the Idempotency-Key's row now (flushed).

    A concurrent request with the same key waits on this row's primary key until this
    transaction ends, then fails with IntegrityError: the caller replays the winner.
    """
    session.add(
        IntakeRequest(
            api_key_id=api_key_id,
            idempotency_key=idempotency_key,
            body_sha256=body_sha256,
            application_id=application_id,
            status_code=status_code,
            response=response,
        )
    )
    session.flush()


def application_known(session: Session, *, application_id: str) -> bool:
    """True when the id names a registered application or an upload."""
    for model in (ApplicationRow, IntakeUpload):
        if session.get(model, application_id) is not None:
            return True
    return False


def record_upload(
    session: Session,
    *,
    application_id: str,
    api_key_id: uuid.UUID,
    key_prefix: str,
    method: str = "multipart",
) -> None:
    """The application arrived (``multipart``) or was reserved (``presigned``) with this key.

    Audited. Raises IntegrityError when the id is already taken (a concurrent upload).
    """
    session.add(IntakeUpload(application_id=application_id, api_key_id=api_key_id, method=method))
    session.add(
        AuditLog(
            application_id=application_id,
            entity="application",
            entity_id=application_id,
            action="uploaded" if method == "multipart" else "upload_presigned",
            detail={"api_key": key_prefix, "method": method},
            actor=f"api_key:{key_prefix}",
        )
    )
    session.flush()


@dataclass(frozen=True, slots=True)
class UploadState:
    """What the status endpoint reads about one upload (ids, codes and times only)."""

    application_id: str
    #: the application's rows exist (a presigned upload has none until its objects land)
    registered: bool
    document_status: str | None
    decision: str | None
    reasons: list[str]
    version: int | None
    decided_at: dt.datetime | None
    #: the latest decision was made on the objects landed now (not an earlier landing)
    decision_current: bool
    dead_letter: bool


def upload_state(
    session: Session, *, application_id: str, api_key_id: uuid.UUID
) -> UploadState | None:
    """The state of an upload made with this key; None if the key did not upload it."""
    app = session.execute(
        sa.select(ApplicationRow.input_fingerprint)
        .select_from(IntakeUpload)
        .outerjoin(ApplicationRow, ApplicationRow.application_id == IntakeUpload.application_id)
        .where(IntakeUpload.application_id == application_id, IntakeUpload.api_key_id == api_key_id)
    ).one_or_none()
    if app is None:
        return None
    dead = session.execute(
        sa.select(
            sa.exists().where(
                DeadLetter.application_id == application_id, DeadLetter.resolved_at.is_(None)
            )
        )
    ).scalar_one()
    if app.input_fingerprint is None:  # reserved for a presigned upload, nothing landed yet
        return UploadState(application_id, False, None, None, [], None, None, False, bool(dead))
    doc_status = session.execute(
        sa.select(IdDocument.status)
        .where(IdDocument.application_id == application_id)
        .order_by(IdDocument.created_at.desc())
        .limit(1)
    ).scalar()
    latest = session.execute(
        sa.select(
            KycDecision.version,
            KycDecision.decision,
            KycDecision.reasons,
            KycDecision.decided_at,
            KycDecision.input_fingerprint,
        )
        .where(KycDecision.application_id == application_id)
        .order_by(KycDecision.version.desc())
        .limit(1)
    ).one_or_none()
    return UploadState(
        application_id=application_id,
        registered=True,
        document_status=doc_status,
        decision=latest.decision if latest else None,
        reasons=list(latest.reasons) if latest else [],
        version=latest.version if latest else None,
        decided_at=latest.decided_at if latest else None,
        decision_current=latest is not None and latest.input_fingerprint == app.input_fingerprint,
        dead_letter=bool(dead),
    )

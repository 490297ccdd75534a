"""The intake API's service: an upload into the landing and the database; its status.

:func:`prepare_upload` checks what a client sent (form, image types by content,
image sizes) without side effects. :func:`receive_upload` then, in ONE transaction
under the application's lock (the pipeline's own), refuses an id that exists,
remembers the Idempotency-Key's response, writes the objects in the landing layout
(``application.json`` last: the event path waits for it) and registers the
application's rows (status NEW) beside the upload's own. Any failure removes the
objects it wrote, so a refused or failed upload leaves nothing behind, and a
retried one never makes a second application.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kyc.db import intake as intake_db
from kyc.db import repository as repo
from kyc.db.engine import session_scope
from kyc.domain.application import (
    Application,
    ApplicationInvalid,
    decode_form,
    parse_application_data,
)
from kyc.domain.landing import LandingBundle
from kyc.domain.uploads import (
    FORM_PART,
    FRAME_PART,
    ImageType,
    UploadRefused,
    check_declarations,
    check_pixels,
    check_required,
    new_application_id,
    sniff_image,
    upload_status,
)
from kyc.imaging.header import ImageCorrupt, TooManyPixels, image_size
from kyc.runtime import Runtime
from kyc.services import intake
from kyc.services.api_keys import Client
from kyc.storage.base import ObjectInfo, ObjectStore, StoreError

_log = logging.getLogger(__name__)

#: errno values of a full landing disk (space, or the user's quota).
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})

#: The images of an upload in the order they land (the form follows them).
IMAGE_PARTS = ("id_document", "id_document_back", "selfie")


@dataclass(frozen=True, slots=True)
class UploadedImage:
    """One checked image of an upload.

    Attributes:
        role: its landing name without suffix (``id_document``, ``selfie_frames/0``...).
        type: JPEG or PNG, read from the content.
        data: the bytes.
    """

    role: str
    type: ImageType
    data: bytes

    def key(self, application_id: str) -> str:
        """Its landing key."""
        return f"incoming/{application_id}/{self.role}.{self.type.value}"


@dataclass(frozen=True, slots=True)
class Upload:
    """A checked upload, ready to land.

    Attributes:
        application: the parsed form.
        form: the bytes ``application.json`` will hold (the client's, or with the
            generated id added).
        images: in landing order: front, back, selfie, frames.
        generated_id: the server chose the application id.
    """

    application: Application
    form: bytes
    images: tuple[UploadedImage, ...]
    generated_id: bool


@dataclass(frozen=True, slots=True)
class Receipt:
    """The answer to an upload: the first one, or a replay of it."""

    application_id: str
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def status_url(application_id: str) -> str:
    """Where a client polls the upload's status."""
    return f"/v1/applications/{application_id}"


def _form(raw: bytes) -> tuple[Application, bytes, bool]:
    """Parse the form; give it a fresh id when the client sent none."""
    try:
        data = decode_form(raw)
        generated = isinstance(data, dict) and data.get("application_id") is None
        if generated:
            data = {"application_id": new_application_id()} | {
                k: v for k, v in data.items() if k != "application_id"
            }
        application = parse_application_data(data)
    except ApplicationInvalid as exc:
        raise UploadRefused(
            422,
            "invalid_application",
            f"{FORM_PART}: {len(exc.details)} problem(s) in the form (JSON paths in problems)",
            problems=[p.as_json() for p in exc.details],
        ) from None
    form = json.dumps(data, ensure_ascii=False).encode() if generated else raw
    return application, form, generated


def _image(role: str, label: str, data: bytes, max_pixels: int) -> UploadedImage:
    kind = sniff_image(data, label)
    try:
        width, height = image_size(data, kind.value)
    except TooManyPixels:
        raise UploadRefused(
            413, "image_too_large", f"{label}: more than the {max_pixels:,} pixels accepted"
        ) from None
    except ImageCorrupt:
        raise UploadRefused(
            422, "corrupt_image", f"{label}: not a readable {kind.name} image"
        ) from None
    check_pixels(width, height, label, max_pixels)
    return UploadedImage(role, kind, data)


def prepare_upload(parts: list[tuple[str, bytes]], *, max_pixels: int) -> Upload:
    """Check an upload's parts (no side effects).

    Args:
        parts: (field name, content) as received; names and counts already checked
            while streaming (:func:`kyc.domain.uploads.check_part_name`).
        max_pixels: largest image accepted (width x height).

    Raises:
        UploadRefused: a missing part (422), a form problem (422, with JSON paths),
            a type other than JPEG/PNG (415), too many pixels (413), a corrupt image (422).
    """
    check_required(name for name, _ in parts)
    by_name = dict(parts)  # singletons: one of each (frames handled below)
    application, form, generated = _form(by_name[FORM_PART])
    images = [
        _image(name, name, by_name[name], max_pixels) for name in IMAGE_PARTS if name in by_name
    ]
    frames = [data for name, data in parts if name == FRAME_PART]
    images += [
        _image(f"{FRAME_PART}/{n}", f"{FRAME_PART}[{n}]", data, max_pixels)
        for n, data in enumerate(frames)
    ]
    return Upload(application, form, tuple(images), generated)


def _replay(rt: Runtime, client: Client, idempotency_key: str, digest: str) -> Receipt | None:
    with session_scope(rt.db) as s:
        found = intake_db.stored_response(
            s, api_key_id=client.api_key_id, idempotency_key=idempotency_key
        )
    return None if found is None else _replayed(found, digest)


def _replayed(found: intake_db.StoredResponse, digest: str) -> Receipt:
    if found.body_sha256 != digest:
        raise UploadRefused(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request; "
            "send a new key with a new request",
        )
    return Receipt(found.application_id, found.status_code, found.response, replayed=True)


def _exists(application_id: str) -> UploadRefused:
    return UploadRefused(
        409,
        "application_exists",
        f"application {application_id} already exists; a retried upload must carry the "
        "same Idempotency-Key, a new application a new application_id (or none)",
    )


def _landed(store: ObjectStore, application_id: str) -> bool:
    return next(iter(store.list(f"incoming/{application_id}/")), None) is not None


def _remove(store: ObjectStore, keys: list[str]) -> None:
    """Best effort: what a failed upload wrote must not be decided."""
    for key in reversed(keys):  # application.json first: the folder is incomplete at once
        try:
            store.delete(key)
        except Exception:
            _log.exception("intake: could not remove %s after a failed upload", key)


def _land(
    store: ObjectStore, upload: Upload, written: list[str]
) -> tuple[dict[str, ObjectInfo], ObjectInfo]:
    """Write the images, then the form (the event path starts when the form lands)."""
    app_id = upload.application.application_id
    infos: dict[str, ObjectInfo] = {}
    for image in upload.images:
        key = image.key(app_id)
        written.append(key)
        infos[image.role] = store.put(key, image.data)
    form_key = f"incoming/{app_id}/application.json"
    written.append(form_key)
    return infos, store.put(form_key, upload.form)


def receive_upload(
    rt: Runtime,
    client: Client,
    upload: Upload,
    *,
    landing: str,
    idempotency_key: str | None,
    body_sha256: str,
) -> Receipt:
    """Land a checked upload and register it (status NEW), or replay the first answer.

    Args:
        rt: the runtime.
        client: the authenticated key.
        upload: from :func:`prepare_upload`.
        landing: the landing URI (folder or ``s3://bucket/prefix``).
        idempotency_key: the request's Idempotency-Key, if any.
        body_sha256: :func:`kyc.domain.uploads.body_digest` of the request.

    Returns:
        202 and the status URL; or, for an Idempotency-Key seen before with the same
        body, the first response (``replayed``).

    Raises:
        UploadRefused: 409 (the application id exists), 422 (the Idempotency-Key was
            used with another body), 503 (the landing store or database is down),
            507 (the landing disk is full). Nothing of a refused upload is kept.
    """
    if idempotency_key:
        replay = _replay(rt, client, idempotency_key, body_sha256)
        if replay is not None:
            return replay
    store = rt.store(landing)
    app_id = upload.application.application_id
    body = {"application_id": app_id, "status": "RECEIVED", "status_url": status_url(app_id)}
    written: list[str] = []
    try:
        with session_scope(rt.db) as s:
            # The pipeline takes the same lock to register: one writer per id at a time.
            repo.lock_application(s, app_id)
            if idempotency_key:
                found = intake_db.stored_response(
                    s, api_key_id=client.api_key_id, idempotency_key=idempotency_key
                )
                if found is not None:  # the same request finished while we waited
                    return _replayed(found, body_sha256)
            if intake_db.application_known(s, application_id=app_id) or (
                not upload.generated_id and _landed(store, app_id)
            ):
                raise _exists(app_id)
            if idempotency_key:
                # First, so that a concurrent twin waits here and then replays ours.
                intake_db.remember_response(
                    s,
                    api_key_id=client.api_key_id,
                    idempotency_key=idempotency_key,
                    body_sha256=body_sha256,
                    application_id=app_id,
                    status_code=202,
                    response=body,
                )
            images, form = _land(store, upload, written)
            frames = sorted(
                (r for r in images if r.startswith(f"{FRAME_PART}/")), key=lambda r: int(r[14:])
            )
            bundle = LandingBundle(
                application_id=app_id,
                form=form,
                front=images["id_document"],
                selfie=images["selfie"],
                back=images.get("id_document_back"),
                frames=tuple(images[r] for r in frames),
            )
            intake.register_in(s, rt, landing, bundle, upload.application)
            intake_db.record_upload(
                s, application_id=app_id, api_key_id=client.api_key_id, key_prefix=client.prefix
            )
    except sa.exc.IntegrityError:
        _remove(store, written)
        # A concurrent request with the same Idempotency-Key (or id) got there first.
        replay = _replay(rt, client, idempotency_key, body_sha256) if idempotency_key else None
        if replay is not None:
            return replay
        raise _exists(app_id) from None
    except UploadRefused:
        _remove(store, written)
        raise
    except OSError as exc:
        _remove(store, written)
        if exc.errno in _FULL:
            # Not the client's fault, and not a passing outage: say which, so that an
            # operator is paged for a disk and the client retries later.
            _log.error("intake: upload %s not accepted: the landing store is full", app_id)
            raise UploadRefused(
                507,
                "insufficient_storage",
                "the landing store is full; nothing of the upload was kept; retry it later",
            ) from exc
        _log.error("intake: upload %s not accepted: %s", app_id, type(exc).__name__)
        raise UploadRefused(
            503, "unavailable", "the upload could not be stored now; retry it later"
        ) from exc
    except (sa.exc.OperationalError, sa.exc.InterfaceError, StoreError) as exc:
        _remove(store, written)
        _log.error("intake: upload %s not accepted: %s", app_id, type(exc).__name__)
        raise UploadRefused(
            503, "unavailable", "the upload could not be stored now; retry it later"
        ) from exc
    except BaseException:
        _remove(store, written)
        raise
    return Receipt(app_id, 202, body)


def status_of(rt: Runtime, client: Client, application_id: str) -> dict[str, Any] | None:
    """``GET /v1/applications/{id}``: status, decision, reason codes, version; no PII.

    Returns:
        None when this key did not upload the application (unknown and foreign ids
        look the same).
    """
    with session_scope(rt.db) as s:
        state = intake_db.upload_state(
            s, application_id=application_id, api_key_id=client.api_key_id
        )
    if state is None:
        return None
    status = upload_status(
        state.document_status,
        decided=state.decision_current,
        dead_letter=state.dead_letter,
        registered=state.registered,
    )
    decided = state.decision_current
    return {
        "application_id": application_id,
        "status": status,
        "decision": state.decision if decided else None,
        "reasons": list(state.reasons) if decided else [],
        "version": state.version if decided else None,
        "decided_at": state.decided_at.astimezone(dt.UTC).isoformat()
        if decided and state.decided_at is not None
        else None,
    }


# --------------------------------------------------------------------------------------
# presigned S3 uploads (POST /v1/uploads): large clients PUT straight to the bucket
# --------------------------------------------------------------------------------------


def presign_upload(
    rt: Runtime, client: Client, request: Any, *, landing: str, now: dt.datetime
) -> dict[str, Any]:
    """Reserve an application id and hand out one presigned PUT URL per landing object.

    The client PUTs each image to its URL with the declared Content-Type and
    Content-Length (S3 refuses others: both are signed), then the form, LAST: the
    existing S3 → SQS → bridge path decides the application once it is complete,
    exactly as for DataSync. The id is reserved for this key at once (its status reads
    ``AWAITING_UPLOAD`` until the pipeline registers the landed objects).

    Args:
        rt: the runtime.
        client: the authenticated key.
        request: the decoded JSON body: ``{"application": {form}, "files": {...}}``
            (see :func:`kyc.domain.uploads.check_declarations`).
        landing: the landing URI; must be ``s3://...``.
        now: the current time (the URLs' expiry is reported from it).

    Raises:
        UploadRefused: 409 (a folder landing, or the id exists), 413/415/422 (the
            declarations or the form).
    """
    settings = rt.settings
    store = rt.store(landing)
    presign = getattr(store, "presign_put", None)
    if presign is None:
        raise UploadRefused(
            409,
            "presign_unavailable",
            "presigned uploads need an S3 landing (KYC_LANDING=s3://bucket/prefix); this "
            "landing is a folder: send the files to POST /v1/applications",
        )
    if not isinstance(request, dict) or set(request) != {"application", "files"}:
        raise UploadRefused(
            422,
            "invalid_request",
            "the body must be a JSON object with 'application' (the form) and 'files'",
            problems=[{"path": "<root>", "rule": "required", "detail": "application, files"}],
        )
    declared = check_declarations(request["files"], settings.intake_max_file_bytes)
    application, form, generated = _form(json.dumps(request["application"]).encode())
    app_id = application.application_id
    try:
        with session_scope(rt.db) as s:
            repo.lock_application(s, app_id)
            if intake_db.application_known(s, application_id=app_id) or (
                not generated and _landed(store, app_id)
            ):
                raise _exists(app_id)
            intake_db.record_upload(
                s,
                application_id=app_id,
                api_key_id=client.api_key_id,
                key_prefix=client.prefix,
                method="presigned",
            )
    except sa.exc.IntegrityError:
        raise _exists(app_id) from None
    expires = settings.intake_presign_expiry_seconds
    base = f"incoming/{app_id}/"

    def put(part: str, key: str, content_type: str, size: int) -> dict[str, Any]:
        return {
            "part": part,
            "key": key,
            "method": "PUT",
            "url": presign(
                key, content_type=content_type, content_length=size, expires_seconds=expires
            ),
            "headers": {"Content-Type": content_type, "Content-Length": str(size)},
        }

    uploads = [
        put(f.role, f"{base}{f.role}.{f.type.value}", f.content_type, f.size) for f in declared
    ]
    # The form last: the event path waits for it; its exact bytes are given to PUT.
    uploads.append(put(FORM_PART, f"{base}application.json", "application/json", len(form)))
    uploads[-1]["body"] = form.decode()
    return {
        "application_id": app_id,
        "status": "AWAITING_UPLOAD",
        "status_url": status_url(app_id),
        "expires_at": (now + dt.timedelta(seconds=expires)).astimezone(dt.UTC).isoformat(),
        "uploads": uploads,
    }

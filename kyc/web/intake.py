"""The intake API (``/v1``): client systems upload applications and read their status.

* ``POST /v1/applications`` (multipart: ``application`` JSON, ``id_document``,
  optional ``id_document_back``, ``selfie``, optional ``selfie_frames`` x <= 30) →
  202 ``{application_id, status: RECEIVED, status_url}`` + ``Location``; the objects
  land in the landing layout and the event path (or, with
  ``KYC_INTAKE_PROCESS=inline``, this process) decides them.
* ``POST /v1/uploads`` (JSON: the form and each file's type and size; S3 landings
  only) → 201 with one presigned PUT URL per object, the form's last; the S3 → SQS
  bridge decides the application once its objects have landed.
* ``GET /v1/applications/{id}`` → ``{application_id, status, decision, reasons,
  version, decided_at}``: codes and times only, never personal data.

Auth: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; the key must carry
the ``intake`` scope and sees only its own uploads. Every refusal is JSON
``{"error": code, "detail": message[, "problems": [...]]}`` with the status the
contract names (401/403 key, 409 id exists, 413 size, 415 type, 422 form, 429 rate).
Routes only parse and answer: the rules are in :mod:`kyc.domain.uploads`, the work
in :mod:`kyc.services.uploads`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from kyc.domain.application import ApplicationInvalid, decode_form
from kyc.domain.landing import valid_application_id
from kyc.domain.uploads import (
    MAX_FORM_BYTES,
    TokenBucket,
    UploadRefused,
    body_digest,
    check_idempotency_key,
    retry_after_seconds,
)
from kyc.runtime import Runtime
from kyc.services.api_keys import INTAKE_SCOPE, Client, authenticate
from kyc.services.uploads import prepare_upload, presign_upload, receive_upload, status_of
from kyc.web.inline import InlineDecisions
from kyc.web.multipart import read_parts

router = APIRouter(prefix="/v1", tags=["intake"])

#: Unknown, malformed and revoked keys get the same answer: no oracle for guessing.
_BAD_KEY = "invalid or revoked API key"


@dataclass
class IntakeState:
    """What the intake routes keep per app: the rate limiter and the inline decider."""

    rt: Runtime
    limiter: TokenBucket
    decider: InlineDecisions | None


def setup(app: FastAPI, rt: Runtime) -> IntakeState:
    """Give ``app`` the intake API's state and error handler (the router is included by the caller).

    Returns:
        The state; its ``decider`` (inline mode only) must be closed at shutdown.
    """
    settings = rt.settings
    decider = InlineDecisions(rt, settings.landing) if settings.intake_process == "inline" else None
    state = IntakeState(rt, TokenBucket(settings.intake_rate_per_minute), decider)
    app.state.intake = state

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, UploadRefused)
        headers = {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="kyc-intake"'
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse(exc.as_json(), status_code=exc.status, headers=headers)

    app.add_exception_handler(UploadRefused, refused)
    return state


def _state(request: Request) -> IntakeState:
    state: IntakeState = request.app.state.intake
    return state


def _presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else ""
    return request.headers.get("x-api-key")


async def intake_client(request: Request) -> Client:
    """The authenticated client with the ``intake`` scope, within its rate (a dependency).

    Raises:
        UploadRefused: 401 no key / unknown / revoked, 403 no intake scope, 429 over rate.
    """
    state = _state(request)
    presented = _presented_key(request)
    if presented is None:
        raise UploadRefused(
            401, "unauthorized", "missing API key: send Authorization: Bearer <key> or X-API-Key"
        )
    client = await run_in_threadpool(authenticate, state.rt, presented) if presented else None
    if client is None:
        raise UploadRefused(401, "unauthorized", _BAD_KEY)
    if not client.allows(INTAKE_SCOPE):
        raise UploadRefused(403, "forbidden", f"this API key lacks the {INTAKE_SCOPE!r} scope")
    wait = state.limiter.take(str(client.api_key_id))
    if wait:
        raise UploadRefused(
            429,
            "rate_limited",
            f"more than {state.rt.settings.intake_rate_per_minute} requests per minute "
            "with this API key",
            retry_after=retry_after_seconds(wait),
        )
    return client


ClientDep = Annotated[Client, Depends(intake_client)]


@router.post("/applications", status_code=202)
async def post_application(request: Request, client: ClientDep) -> JSONResponse:
    """Upload one application (multipart); 202 with its id and status URL."""
    state = _state(request)
    settings = state.rt.settings
    header = request.headers.get("idempotency-key")
    idempotency_key = check_idempotency_key(header) if header is not None else None
    parts = await read_parts(request, max_file_bytes=settings.intake_max_file_bytes)
    # Image headers and the form are checked off the event loop (CPU, Pillow).
    upload = await run_in_threadpool(prepare_upload, parts, max_pixels=settings.intake_max_pixels)
    receipt = await run_in_threadpool(
        receive_upload,
        state.rt,
        client,
        upload,
        landing=settings.landing,
        idempotency_key=idempotency_key,
        body_sha256=body_digest(parts),
    )
    if state.decider is not None and not receipt.replayed:
        state.decider.submit(receipt.application_id)
    headers = {"Location": str(receipt.body.get("status_url", ""))}
    if receipt.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(receipt.body, status_code=receipt.status_code, headers=headers)


@router.post("/uploads", status_code=201)
async def post_upload(request: Request, client: ClientDep) -> JSONResponse:
    """Large files: presigned S3 PUT URLs for a new application (S3 landings only)."""
    state = _state(request)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > 2 * MAX_FORM_BYTES:
            raise UploadRefused(413, "body_too_large", "the request is larger than a form")
    try:
        decoded = decode_form(bytes(body))
    except ApplicationInvalid as exc:
        raise UploadRefused(
            422,
            "invalid_request",
            "the body is not JSON",
            problems=[p.as_json() for p in exc.details],
        ) from None
    answer = await run_in_threadpool(
        presign_upload,
        state.rt,
        client,
        decoded,
        landing=state.rt.settings.landing,
        now=dt.datetime.now(dt.UTC),
    )
    return JSONResponse(answer, status_code=201, headers={"Location": answer["status_url"]})


@router.get("/applications/{application_id}")
async def get_application(application_id: str, request: Request, client: ClientDep) -> JSONResponse:
    """Status of an upload made with this key (RECEIVED, PROCESSING, DECIDED, FAILED_TO_PROCESS)."""
    not_found = UploadRefused(404, "not_found", "no application with this id for this API key")
    # A malformed id (``..``, over-long, odd characters) names no landing folder: the
    # same 404 as an unknown one, and neither the store nor the database is asked.
    if not valid_application_id(application_id):
        raise not_found
    found = await run_in_threadpool(status_of, _state(request).rt, client, application_id)
    if found is None:
        raise not_found
    return JSONResponse(found)

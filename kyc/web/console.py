"""The review console's pages: login, the queue (live), a case, the actions, statistics.

Server-rendered Jinja2 pages; the only scripts are the static ``console.js``
(live queue, image zoom/rotate), as the Content-Security-Policy allows no inline
script or style. Every page and image needs a session (:mod:`kyc.web.auth`);
every POST carries the session's CSRF token. The rules (roles, four-eyes, races)
are the review service's: this module maps its refusals to HTTP statuses and
flash messages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from kyc.db import review as review_store
from kyc.db.engine import session_scope
from kyc.db.models import ID_DOC_TYPES, REG_TYPES
from kyc.domain.landing import APPLICATION_ID, IMAGE_SUFFIXES
from kyc.domain.records import Reason
from kyc.domain.review import (
    REJECT_REASONS,
    RESUBMIT_DOCUMENTS,
    Action,
    ReviewRefused,
    Role,
    plain_words,
)
from kyc.services import accounts
from kyc.services import review as svc
from kyc.services.accounts import LoginLimiter, LoginRefused, SessionUser
from kyc.storage.base import ObjectNotFound
from kyc.web import auth, oidc, views
from kyc.web.auth import Forbidden, LoginRequired, require, runtime
from kyc.web.events import ReviewEvents

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(plain_words=plain_words, when=views.when)

router = APIRouter(include_in_schema=False)

Viewer = Annotated[SessionUser, Depends(require(Role.VIEWER))]
Reviewer = Annotated[SessionUser, Depends(require(Role.REVIEWER))]
Admin = Annotated[SessionUser, Depends(require(Role.ADMIN))]

#: ReviewRefused codes -> HTTP status.
REFUSAL_STATUS = {"forbidden": 403, "conflict": 409, "invalid": 422, "not_found": 404}
#: Seconds between SSE heartbeat comments (proxies close idle streams).
HEARTBEAT_SECONDS = 15.0
#: An event stream ends after this long; EventSource reconnects (and the session is
#: checked again).
STREAM_SECONDS = 300.0
#: Register types a filter may name (the form schema's, with the GPhC alias).
FILTER_REG_TYPES = (*REG_TYPES, "GPC")
_IMAGE_ROLE = re.compile(r"^(id_document|id_document_back|selfie|portrait|frame-([0-9]{1,3}))$")


class BadRequest(Exception):
    """A malformed query (unknown filter value): a 400 page."""


# --------------------------------------------------------------------------------------
# rendering helpers
# --------------------------------------------------------------------------------------


def _flash(request: Request) -> tuple[str, str] | None:
    raw = request.cookies.get(auth.FLASH_COOKIE)
    if not raw:
        return None
    kind, _, message = unquote(raw).partition("|")
    return (kind if kind in {"ok", "error"} else "ok", message[:500])


def render(
    request: Request,
    name: str,
    user: SessionUser | None,
    *,
    status: int = 200,
    flash: tuple[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page: the template with the user, the flash message (shown once) and context."""
    shown = flash or _flash(request)
    response = templates.TemplateResponse(
        request,
        name,
        {"user": user, "flash": shown, "oidc": bool(runtime(request).settings.oidc_issuer)}
        | context,
        status_code=status,
    )
    if request.cookies.get(auth.FLASH_COOKIE):
        auth.clear_cookie(request, response, auth.FLASH_COOKIE)
    return response


def redirect(request: Request, url: str, message: str | None = None, kind: str = "ok") -> Response:
    """303 to ``url``, with a message for the next page."""
    response = RedirectResponse(url, status_code=303)
    if message:
        auth.set_cookie(request, response, auth.FLASH_COOKIE, quote(f"{kind}|{message}"), 60)
    return response


def install(app: FastAPI) -> None:
    """Add the console to the app: routes, static files, error pages, the live feed."""
    app.include_router(router)
    if app.state.runtime.settings.oidc_issuer:
        app.include_router(oidc.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    settings = app.state.runtime.settings
    app.state.login_limiter = LoginLimiter(
        settings.web_login_attempts, settings.web_login_window_seconds
    )
    app.state.review_events = None  # made on the first /events request

    @app.exception_handler(LoginRequired)
    def _login(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith("/events"):
            return Response("login required", status_code=401)
        return RedirectResponse(auth.login_url(exc.next_path), status_code=303)

    @app.exception_handler(Forbidden)
    def _forbidden(request: Request, exc: Forbidden) -> Response:
        return render(
            request,
            "error.html",
            exc.user or auth.current_user(request),
            status=403,
            title="Not allowed",
            message=str(exc),
        )

    @app.exception_handler(BadRequest)
    def _bad(request: Request, exc: BadRequest) -> Response:
        user = auth.current_user(request)
        return render(
            request, "error.html", user, status=400, title="Bad request", message=str(exc)
        )


def close(app: FastAPI) -> None:
    """Stop the live feed's listener (app shutdown)."""
    events: ReviewEvents | None = getattr(app.state, "review_events", None)
    if events is not None:
        events.close()


def _case_id(application_id: str) -> str:
    if not APPLICATION_ID.match(application_id):
        raise ReviewRefused("not_found", "no such case")
    return application_id


# --------------------------------------------------------------------------------------
# login / logout
# --------------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    """The login form (a logged-in user goes on to ``next``)."""
    target = auth.safe_next(next)
    user = auth.current_user(request)
    if user is not None:
        return RedirectResponse(target, status_code=303)
    return _login_form(request, target)


def _login_form(
    request: Request, target: str, error: str | None = None, status: int = 200
) -> Response:
    import secrets

    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        None,
        status=status,
        flash=("error", error) if error else None,
        next=target,
        login_csrf=token,
    )
    auth.set_cookie(request, response, auth.LOGIN_CSRF_COOKIE, token, 3600)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the password (rate limited), open a session, go on to ``next``."""
    import secrets

    form = await request.form()
    target = auth.safe_next(_field(form, "next") or "/")
    auth.check_origin(request)
    cookie = request.cookies.get(auth.LOGIN_CSRF_COOKIE, "")
    sent = _field(form, "csrf_token")
    if not cookie or not secrets.compare_digest(cookie.encode(), sent.encode()):
        raise Forbidden("the login form's security token is missing or stale: reload the page")
    rt = runtime(request)
    limiter: LoginLimiter = request.app.state.login_limiter
    try:
        account = await asyncio.to_thread(
            accounts.verify_login,
            rt,
            limiter,
            _field(form, "username"),
            _field(form, "password"),
            auth.client_address(request),
        )
    except LoginRefused as exc:
        return _login_form(request, target, str(exc), status=429 if exc.throttled else 401)
    token, _ = await asyncio.to_thread(accounts.start_session, rt, account)
    response = RedirectResponse(target, status_code=303)
    auth.set_cookie(
        request, response, auth.SESSION_COOKIE, token, rt.settings.web_session_ttl_seconds
    )
    auth.clear_cookie(request, response, auth.LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, user: Viewer) -> Response:
    """End the session (its row is deleted) and forget the cookie."""
    form = await request.form()
    auth.check_csrf(request, user, _field(form, "csrf_token"))
    await asyncio.to_thread(accounts.end_session, runtime(request), user.token_hash)
    response = redirect(request, "/login", "you are logged out")
    auth.clear_cookie(request, response, auth.SESSION_COOKIE)
    return response


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


# --------------------------------------------------------------------------------------
# the queue
# --------------------------------------------------------------------------------------

_REASONS = frozenset(r.value for r in Reason)


def _filters(
    request: Request, user: SessionUser
) -> tuple[review_store.QueueFilters, int, dict[str, str]]:
    """The queue's filters from the query string; unknown values are a 400."""
    q = request.query_params
    raw = {k: q.get(k, "").strip() for k in ("reason", "age", "doc_type", "reg_type", "assignee")}
    checks = {
        "reason": _REASONS,
        "age": review_store.AGE_FILTERS,
        "doc_type": ID_DOC_TYPES,
        "reg_type": FILTER_REG_TYPES,
    }
    for name, allowed in checks.items():
        if raw[name] and raw[name] not in allowed:
            raise BadRequest(f"unknown {name.replace('_', ' ')} filter {raw[name]!r}")
    assignee = raw["assignee"] or None
    if assignee == "me":
        assignee = user.username
    elif assignee and assignee != "unassigned":
        known = {a.username for a in accounts.list_users(runtime(request))}
        if assignee not in known:
            raise BadRequest(f"unknown assignee {assignee!r}")
    page_raw = q.get("page", "1").strip() or "1"
    if not page_raw.isdigit() or not 1 <= int(page_raw) <= 100_000:
        raise BadRequest("page must be a positive number")
    filters = review_store.QueueFilters(
        reason=raw["reason"] or None,
        age=raw["age"] or None,
        doc_type=raw["doc_type"] or None,
        reg_type=raw["reg_type"] or None,
        assignee=assignee,
    )
    return filters, int(page_raw), {k: v for k, v in raw.items() if v}


def _queue_context(request: Request, user: SessionUser) -> dict[str, Any]:
    filters, page, raw = _filters(request, user)
    rt = runtime(request)
    now = dt.datetime.now(dt.UTC)
    rows, total, counts = svc.queue(rt, filters, page=page, now=now)
    size = review_store.PAGE_SIZE
    first = (page - 1) * size + 1 if rows else 0
    last = first + len(rows) - 1 if rows else 0

    def page_url(n: int) -> str:
        return "/?" + urlencode(raw | {"page": str(n)})

    reviewers = (
        [a.username for a in accounts.list_users(rt) if not a.disabled and a.role != "viewer"]
        if user.role.allows(Role.ADMIN)
        else []
    )
    return {
        "items": views.queue_items(rows, now, rt.settings.review_sla_hours),
        "total": total,
        "counts": counts,
        "first": first,
        "last": last,
        "prev_url": page_url(page - 1) if page > 1 else None,
        "next_url": page_url(page + 1) if last < total else None,
        "filters": raw,
        "filtered": bool(raw),
        "query": urlencode(raw),
        "reasons": sorted(_REASONS),
        "ages": review_store.AGE_FILTERS,
        "doc_types": ID_DOC_TYPES,
        "reg_types": FILTER_REG_TYPES,
        "reviewers": reviewers,
        "sla_hours": rt.settings.review_sla_hours,
        "back": "/?" + urlencode(raw) if raw else "/",
    }


@router.get("/")
def queue_page(request: Request, user: Viewer) -> Response:
    """Open MANUAL_REVIEW cases, oldest first, with filters and the live feed."""
    return render(request, "queue.html", user, **_queue_context(request, user))


@router.get("/queue/rows")
def queue_rows(request: Request, user: Viewer) -> Response:
    """The queue's counts, table and pagination alone (the live page refetches it)."""
    return render(request, "_queue_region.html", user, **_queue_context(request, user))


@router.get("/events")
async def events(request: Request, user: Viewer) -> Response:
    """Server-sent events: one ``review`` event per new decision or claim change."""
    app = request.app
    if app.state.review_events is None:
        url = runtime(request).db.url.set(drivername="postgresql")
        app.state.review_events = ReviewEvents(url.render_as_string(hide_password=False))
    feed: ReviewEvents = app.state.review_events
    queue = feed.subscribe()

    async def stream() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_SECONDS
        try:
            yield "retry: 2000\n: connected\n\n"
            while loop.time() < ends:
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                if event.get("kind") == "closed":
                    return
                yield f"event: review\ndata: {json.dumps(event)}\n\n"
        finally:
            feed.unsubscribe(queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# --------------------------------------------------------------------------------------
# a case
# --------------------------------------------------------------------------------------


def _frames(rt: Any, landing_uri: str, application_id: str) -> dict[int, str]:
    """Liveness frames landed with the application: frame number -> key."""
    prefix = f"incoming/{application_id}/selfie_frames/"
    pattern = re.compile(
        rf"^{re.escape(prefix)}([0-9]{{1,3}})\.({'|'.join(IMAGE_SUFFIXES)})$", re.IGNORECASE
    )
    found: dict[int, str] = {}
    for info in rt.store(landing_uri).list(prefix):
        m = pattern.match(info.key)
        if m:
            found[int(m.group(1))] = info.key
    return dict(sorted(found.items()))


def _case_context(request: Request, user: SessionUser, application_id: str) -> dict[str, Any]:
    rt = runtime(request)
    found = svc.case(rt, _case_id(application_id))
    if found is None or not found[0].decisions:
        raise ReviewRefused("not_found", f"no decided case {application_id!r}")
    record, candidates = found
    scan = record.scans[-1] if record.scans else None
    frames = _frames(rt, record.landing_uri, record.application_id)
    state = views.case_state(record.decisions)
    s = rt.settings
    reviewers = (
        [a.username for a in accounts.list_users(rt) if not a.disabled and a.role != "viewer"]
        if user.role.allows(Role.ADMIN)
        else []
    )
    latest = record.decisions[-1]
    return {
        "case": record,
        "state": state,
        "latest": latest,
        "scan": scan,
        "fields": views.field_rows(dict(scan["fields"]) if scan else {}, record.form),
        "face": views.face_view(
            record.face_checks, s.face_match_threshold, s.face_reject_threshold
        ),
        "findings": [
            (
                f.get("code", ""),
                plain_words(str(f.get("code", ""))),
                f.get("detail", ""),
                f.get("severity", ""),
            )
            for f in latest.findings
        ],
        "candidates": candidates,
        "frames": list(frames),
        "has_back": bool(record.documents and record.documents[-1].get("back_key")),
        "has_portrait": bool(scan and scan.get("portrait_box")),
        "reject_reasons": REJECT_REASONS,
        "resubmit_documents": RESUBMIT_DOCUMENTS,
        "reviewers": reviewers,
        "can_act": user.role.allows(Role.REVIEWER),
        "mine": record.assignee == user.username,
    }


@router.get("/cases/{application_id}")
def case_page(request: Request, application_id: str, user: Viewer) -> Response:
    """Everything about one case, and the forms to decide it."""
    try:
        return render(request, "case.html", user, **_case_context(request, user, application_id))
    except ReviewRefused as exc:
        return render(request, "error.html", user, status=404, title="Not found", message=str(exc))


def _sniff(data: bytes) -> str:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return "application/octet-stream"


@router.get("/cases/{application_id}/images/{role}")
def case_image(request: Request, application_id: str, role: str, user: Viewer) -> Response:
    """One of the case's images from the landing store (never cached by the browser)."""
    m = _IMAGE_ROLE.match(role)
    if not APPLICATION_ID.match(application_id) or m is None:
        return Response("no such image", status_code=404, media_type="text/plain")
    rt = runtime(request)
    with session_scope(rt.db) as s:
        keys = review_store.image_keys(s, application_id)
    if keys is None:
        return Response("no such case", status_code=404, media_type="text/plain")
    key: str | None
    if role == "portrait":
        if keys.portrait_box is None:
            return Response(
                "no portrait crop: the reader found no face on the document",
                status_code=404,
                media_type="text/plain",
            )
        key = keys.front
    elif m.group(2) is not None:
        key = _frames(rt, keys.landing_uri, application_id).get(int(m.group(2)))
    else:
        key = {"id_document": keys.front, "id_document_back": keys.back, "selfie": keys.selfie}[
            role
        ]
    # Keys come from the database; only ever serve this application's landing objects.
    if not key or not key.startswith(f"incoming/{application_id}/") or "/../" in f"/{key}/":
        return Response("no such image", status_code=404, media_type="text/plain")
    try:
        data = rt.store(keys.landing_uri).get(key)
    except (ObjectNotFound, ValueError):
        return Response("the image is no longer in the landing store", status_code=404)
    kind = _sniff(data)
    if not kind.startswith("image/"):
        return Response("not an image", status_code=415, media_type="text/plain")
    if role == "portrait" and keys.portrait_box is not None:
        data, kind = portrait_crop(data, keys.portrait_box), "image/jpeg"
    return Response(data, media_type=kind, headers={"Cache-Control": "no-store"})


def portrait_crop(front: bytes, box: tuple[int, int, int, int]) -> bytes:
    """The document portrait: the reader's box cut from the front, flattened as it read it.

    The box is in pixels of the flattened document (kyc.imaging.capture.flatten of
    the decoded front), so the front is flattened the same way again first.
    """
    import io

    from kyc.imaging.capture import flatten
    from kyc.imaging.picture import Picture

    flat = flatten(Picture.of(front).rgb()).image
    left, top, right, bottom = box
    inside = (
        max(0, left),
        max(0, top),
        min(flat.width, max(right, left + 1)),
        min(flat.height, max(bottom, top + 1)),
    )
    buf = io.BytesIO()
    flat.convert("RGB").crop(inside).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


# --------------------------------------------------------------------------------------
# actions
# --------------------------------------------------------------------------------------


async def _posted(request: Request, user: SessionUser) -> FormData:
    form = await request.form()
    auth.check_csrf(request, user, _field(form, "csrf_token"))
    return form


def _reviewer(user: SessionUser) -> svc.Reviewer:
    return svc.Reviewer(user.username, user.role, user.console_user_id)


def _version(form: FormData) -> int:
    raw = _field(form, "expected_version")
    if not raw.isdigit():
        raise ReviewRefused("invalid", "the form did not say which version you looked at")
    return int(raw)


def _back(form: FormData, application_id: str) -> str:
    back = _field(form, "back")
    return (
        auth.safe_next(back)
        if back.startswith("/?") or back == "/"
        else (f"/cases/{application_id}")
    )


async def _do(
    request: Request,
    user: SessionUser,
    application_id: str,
    work: Any,
) -> Response:
    """Run one action; a refusal renders the case page with the message and its status."""
    form = await _posted(request, user)
    try:
        _case_id(application_id)
        result: svc.ActionResult = await asyncio.to_thread(work, form)
    except ReviewRefused as exc:
        status = REFUSAL_STATUS.get(exc.code, 409)
        try:
            context = await asyncio.to_thread(_case_context, request, user, application_id)
        except ReviewRefused:
            return render(
                request, "error.html", user, status=404, title="Not found", message=str(exc)
            )
        return render(
            request, "case.html", user, status=status, flash=("error", str(exc)), **context
        )
    if result.outcome is not None:
        return redirect(request, "/", f"{application_id}: {result.message}")
    return redirect(request, _back(form, application_id), f"{application_id}: {result.message}")


@router.post("/cases/{application_id}/claim")
async def claim(request: Request, application_id: str, user: Reviewer) -> Response:
    """Take the case."""
    rt = runtime(request)
    return await _do(
        request, user, application_id, lambda f: svc.claim(rt, _reviewer(user), application_id)
    )


@router.post("/cases/{application_id}/release")
async def release(request: Request, application_id: str, user: Reviewer) -> Response:
    """Give the case back to the queue."""
    rt = runtime(request)
    return await _do(
        request, user, application_id, lambda f: svc.release(rt, _reviewer(user), application_id)
    )


@router.post("/cases/{application_id}/assign")
async def assign(request: Request, application_id: str, user: Admin) -> Response:
    """Assign the case to a reviewer (admin)."""
    rt = runtime(request)

    def work(form: FormData) -> svc.ActionResult:
        who = _field(form, "assignee").strip()
        return svc.assign(rt, _reviewer(user), application_id, who or None)

    return await _do(request, user, application_id, work)


#: The decision forms' paths -> the action each posts.
DECISIONS = {
    "approve": Action.APPROVE,  # a first approval only, under four-eyes
    "reject": Action.REJECT,  # one or more reasons from the fixed list, and a note
    "resubmit": Action.REQUEST_RESUBMISSION,  # a named document again
    "escalate": Action.ESCALATE,  # to an approver, saying why
}


@router.post("/cases/{application_id}/notes")
async def add_note(request: Request, application_id: str, user: Reviewer) -> Response:
    """Add a note to the case."""
    rt = runtime(request)
    return await _do(
        request,
        user,
        application_id,
        lambda f: svc.add_note(rt, _reviewer(user), application_id, _field(f, "body")),
    )


@router.post("/cases/{application_id}/{verb}")
async def decide(request: Request, application_id: str, verb: str, user: Reviewer) -> Response:
    """Approve, reject, request a resubmission or escalate (:data:`DECISIONS`)."""
    action = DECISIONS.get(verb)
    if action is None:
        return Response("no such action", status_code=404, media_type="text/plain")
    rt = runtime(request)

    def work(form: FormData) -> svc.ActionResult:
        return svc.act(
            rt,
            _reviewer(user),
            application_id,
            action,
            expected_version=_version(form),
            reasons=[r for r in form.getlist("reasons") if isinstance(r, str)],
            note=_field(form, "note"),
            document=_field(form, "document") or None,
        )

    return await _do(request, user, application_id, work)


# --------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------


@router.get("/stats")
def stats_page(request: Request, user: Viewer, since: str = "") -> Response:
    """What reviewers made of each automated reason; time in queue; throughput."""
    if since and not since.isdigit():
        raise BadRequest("since is a number of days")
    days = int(since) if since else None
    start = None if days is None else dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    stats = svc.review_stats(runtime(request), start)
    return render(
        request,
        "stats.html",
        user,
        stats=stats,
        since=days,
        duration=lambda s: "-" if s is None else views.age_text(s) if s >= 60 else f"{s:.0f}s",
    )

"""The console's login state: the session cookie, role checks, CSRF and safe redirects.

Pages depend on :func:`require` (``Depends(require(Role.REVIEWER))``): without a live
session the browser is sent to ``/login?next=<this page>``; with too small a role it
gets a 403 page. Every POST form carries the session's CSRF token (a hidden field
``csrf_token``), checked by :func:`check_csrf` together with the Origin/Referer host.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from fastapi import Request, Response

from kyc.domain.review import Role
from kyc.runtime import Runtime
from kyc.services import accounts
from kyc.services.accounts import SessionUser

#: The session cookie (a random token; the database keeps its SHA-256).
SESSION_COOKIE = "kyc_session"
#: The login form's double-submit token (there is no session yet to hold one).
LOGIN_CSRF_COOKIE = "kyc_login_csrf"
#: A one-time message shown on the next page (set after a redirect).
FLASH_COOKIE = "kyc_flash"


class LoginRequired(Exception):
    """No live session: the handler redirects to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__("login required")
        self.next_path = next_path


class Forbidden(Exception):
    """A logged-in user without the role a page or action needs (403 page)."""

    def __init__(self, message: str, user: SessionUser | None = None) -> None:
        super().__init__(message)
        self.user = user


def runtime(request: Request) -> Runtime:
    """The app's runtime."""
    rt: Runtime = request.app.state.runtime
    return rt


_SAFE_PATH = re.compile(r"^/(?![/\\])[A-Za-z0-9_.~!$&'()*+,;=:@%/?-]*$")


def safe_next(value: str | None) -> str:
    """A redirect target that stays on this site: a relative path, else ``/``."""
    if not value or len(value) > 2000 or not _SAFE_PATH.match(value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def _here(request: Request) -> str:
    """This request's path and query, as a ``next`` value."""
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return safe_next(path)


def login_url(next_path: str) -> str:
    """``/login?next=...`` (``/login`` alone for the front page)."""
    return "/login" if next_path == "/" else "/login?next=" + quote(next_path, safe="/")


def current_user(request: Request) -> SessionUser | None:
    """The user of the request's session cookie (cached on the request), or None."""
    if hasattr(request.state, "user"):
        found: SessionUser | None = request.state.user
        return found
    token = request.cookies.get(SESSION_COOKIE, "")
    user = accounts.session_user(runtime(request), token) if token else None
    request.state.user = user
    return user


def require(role: Role) -> Callable[[Request], SessionUser]:
    """A dependency: the logged-in user, who must hold ``role`` (or more)."""

    def dependency(request: Request) -> SessionUser:
        user = current_user(request)
        if user is None:
            raise LoginRequired(_here(request) if request.method == "GET" else "/")
        if not user.role.allows(role):
            raise Forbidden(f"this needs the {role} role; you are {user.role}", user)
        return user

    return dependency


def _allowed_hosts(request: Request) -> set[str]:
    hosts = {request.headers.get("host", "")}
    public = runtime(request).settings.web_public_url
    if public:
        hosts.add(urlsplit(public).netloc)
    return {h for h in hosts if h}


def check_origin(request: Request) -> None:
    """Refuse a POST whose Origin (or else Referer) names another host.

    Raises:
        Forbidden: the browser says the form came from another site.
    """
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return  # not sent (privacy settings): the CSRF token still decides
    if urlsplit(origin).netloc not in _allowed_hosts(request):
        raise Forbidden("the form was sent from another site")


def check_csrf(request: Request, user: SessionUser, token: str | None) -> None:
    """Check a POST's CSRF token against the session's, and its origin.

    Raises:
        Forbidden: a missing or wrong token, or another site's origin.
    """
    check_origin(request)
    if not token or not secrets.compare_digest(token.encode(), user.csrf_token.encode()):
        raise Forbidden("the form's security token is missing or stale: reload the page", user)


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """Set a console cookie: HttpOnly, SameSite=Lax, Path=/, Secure when configured."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=runtime(request).settings.web_secure_cookies,
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    """Delete a console cookie."""
    response.delete_cookie(
        name,
        path="/",
        httponly=True,
        samesite="lax",
        secure=runtime(request).settings.web_secure_cookies,
    )


def client_address(request: Request) -> str:
    """The client's address for the login rate limit (uvicorn applies proxy headers)."""
    return request.client.host if request.client else "unknown"

"""The FastAPI application: routers, security headers, the runtime it runs on."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request, Response

from kyc import metrics, telemetry
from kyc.runtime import Runtime
from kyc.settings import Settings, get_settings
from kyc.web import console, intake

#: Sent with every response: no framing, no sniffing, no referrer leaks, no caching of
#: pages that show personal data.
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self';"
        " frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "Cross-Origin-Opener-Policy": "same-origin",
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the web app on the runtime of ``settings`` (the process settings by default)."""
    settings = settings or get_settings()
    rt = Runtime.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        console.close(app)  # the live queue's LISTEN thread
        # Uploads queued for an inline decision are decided before the process ends.
        if intake_state.decider is not None:
            intake_state.decider.close()

    app = FastAPI(
        title="Open KYC",
        summary="Intake API and review console of the open KYC onboarding pipeline",
        docs_url="/v1/docs",
        openapi_url="/v1/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = rt
    telemetry.setup(settings)
    telemetry.instrument_app(app)
    console.install(app)
    intake_state = intake.setup(app, rt)
    app.include_router(intake.router)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if settings.web_secure_cookies:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Liveness of the web process (the database is not asked)."""
        return {"status": "ok"}

    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    if token:
        metrics.watch_backlog(lambda: app.state.runtime)

    @app.get("/metrics", include_in_schema=False)
    def prometheus(request: Request) -> Response:
        """Prometheus metrics, for a scraper holding ``KYC_METRICS_TOKEN`` (else 404)."""
        if token is None:
            raise HTTPException(404)
        offered = request.headers.get("authorization", "")
        if not hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
            raise HTTPException(401, headers={"WWW-Authenticate": "Bearer"})
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    return app


def runtime_of(request: Request) -> Runtime:
    """The runtime the app was built on (a FastAPI dependency)."""
    rt: Runtime = request.app.state.runtime
    return rt

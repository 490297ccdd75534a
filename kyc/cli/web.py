"""``kyc serve``: the web app (intake API and review console) under uvicorn."""

from __future__ import annotations

import typer

from kyc.settings import get_settings


def serve(
    host: str = typer.Option(None, help="Address to listen on (KYC_WEB_HOST)."),
    port: int = typer.Option(None, help="Port (KYC_WEB_PORT)."),
) -> None:
    """Serve the intake API (/v1) and the review console (/) until interrupted."""
    import uvicorn

    from kyc.runtime import Runtime
    from kyc.web.app import create_app

    settings = get_settings()
    # Migrates the database (or starts the embedded one) before the first request.
    _ = Runtime.from_settings(settings).db
    uvicorn.run(
        create_app(settings),
        host=host or settings.web_host,
        port=port or settings.web_port,
        # Uploads and console pages carry personal data: no access log of query strings.
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        # Open live-queue streams (server-sent events) never end by themselves: close
        # them after a short grace period instead of waiting for the browsers.
        timeout_graceful_shutdown=5,
    )

"""Flow tests: one real Prefect API for the session (tests/fixtures/prefect.py), a real
PostgreSQL per server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kyc import runtime


@pytest.fixture
def pipeline_env(prefect_api: None, kyc_env: Path) -> Path:
    """Settings for one pipeline run with Prefect's API (see kyc_env)."""
    return kyc_env


@pytest.fixture
def kyc_env(fresh_pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings for one pipeline run: a fresh database on this server, a fresh landing."""
    landing = tmp_path / "landing"
    landing.mkdir()
    monkeypatch.setenv("KYC_DATABASE_URL", fresh_pg_url)
    monkeypatch.setenv("KYC_LANDING", str(landing))
    monkeypatch.setenv("KYC_LIVENESS_POLICY", "record")
    runtime.reset()
    yield landing
    runtime.reset()

"""Root test configuration.

Fixtures shared across the tree live in tests/fixtures (loaded as plugins here):
PostgreSQL servers (embedded always, the external server named by
KYC_TEST_DATABASE_URL too), moto's S3 server on loopback, fake AWS credentials, and
one Prefect API for the session.
"""

import os
from pathlib import Path

import pytest

# Settings are read when kyc/tasks modules are imported: keep retries short in tests
# (a failing stage is retried once, after 1 s) and Prefect quiet and offline.
os.environ.setdefault("KYC_TASK_RETRIES", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# Fixtures write landings atomically (LocalStore.put renames into place) and decide at
# once; the settle wait for slow writers is tested on its own (tests/services/test_settle.py).
os.environ.setdefault("KYC_LANDING_SETTLE_SECONDS", "0")

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.s3",
    "tests.fixtures.notify",
    "tests.fixtures.prefect",
]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public face photos' folder (``../shared/data`` beside the clone), or skip."""
    from kyc.settings import get_settings

    path = get_settings().shared_data_dir
    if not (path / "faces").is_dir():
        pytest.skip(f"public face photos not found in {path} (../shared/data beside the clone)")
    return path

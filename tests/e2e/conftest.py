"""End-to-end tests run once, on the embedded PostgreSQL.

They drive whole processes (CLI, Prefect servers, workers, the bridge); what differs
between PostgreSQL servers (schema, SQL, locks) is covered on both servers by
tests/db, tests/services and tests/flows. Running each end-to-end test twice would
double the slowest part of the suite for no new evidence.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the external-server variant of every end-to-end test, saying why."""
    skip = pytest.mark.skip(reason="end-to-end tests run on the embedded server only")
    for item in items:
        if "/e2e/" in str(item.path) and "[external" in item.nodeid:
            item.add_marker(skip)

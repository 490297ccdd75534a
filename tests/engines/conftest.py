"""Fixtures shared by the engine tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def faces_dir(shared_data: Path) -> Path:
    """The public face photos (``../shared/data/faces``); skips, saying why, without them."""
    return shared_data / "faces"

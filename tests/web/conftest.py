"""Web tests: the app under a real uvicorn on loopback, on a fresh PostgreSQL database.

``intake_server`` is module-scoped: one app (``create_app(settings)``), one database,
one landing folder per test module. The review console's fixtures live in
``tests/web/console_fixtures.py``. Its settings are the service tests' settings
(``tests/services/conftest.py``), so a decision made through the API can be compared
with the one the services make on the same objects.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from kyc.runtime import Runtime
from kyc.services.api_keys import create_api_key
from kyc.settings import Settings
from kyc.web.app import create_app
from tests.fixtures.db import DatabaseFactory
from tests.fixtures.live_server import live_server
from tests.services.conftest import service_settings


@dataclass(frozen=True)
class IntakeServer:
    """The running app: its base URL, runtime (database, landing) and settings."""

    url: str
    rt: Runtime
    settings: Settings

    @property
    def landing(self) -> Path:
        """The landing folder (folder landings only)."""
        return Path(self.settings.landing)

    def new_key(self, name: str = "client", scopes: list[str] | None = None) -> str:
        """A fresh API key (its own rate-limit bucket)."""
        return create_api_key(self.rt, name, scopes, actor="test").key


#: Settings of the intake test server beyond the service tests' (a module may override).
INTAKE_OVERRIDES: dict[str, Any] = {
    "intake_process": "inline",
    "intake_max_pixels": 10_000_000,
    "intake_rate_per_minute": 60,
    "web_secure_cookies": False,
}


@contextmanager
def serve_intake(settings: Settings) -> Iterator[IntakeServer]:
    """``create_app(settings)`` under uvicorn on 127.0.0.1 until the block ends."""
    app = create_app(settings)
    rt: Runtime = app.state.runtime
    _ = rt.db  # migrate before the first request
    try:
        with live_server(app) as url:
            yield IntakeServer(url, rt, settings)
    finally:
        rt.close()


@pytest.fixture(scope="module")
def intake_server(
    pg_server: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IntakeServer]:
    """The intake app on a fresh database and landing folder (module-scoped)."""
    landing = tmp_path_factory.mktemp("intake-landing")
    settings = service_settings(pg_server.create("kyc_web"), landing, **INTAKE_OVERRIDES)
    with serve_intake(settings) as server:
        yield server


# --------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------


def jpeg(size: tuple[int, int] = (96, 96), colour: str = "grey") -> bytes:
    """A small real JPEG."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=80)
    return out.getvalue()


def png(size: tuple[int, int] = (96, 96), colour: str = "grey") -> bytes:
    """A small real PNG."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_of_size(width: int, height: int) -> bytes:
    """A valid greyscale PNG of any size, small on disk (all-black rows deflate well)."""
    rows = zlib.compress(b"\x00" * ((width + 1) * height), 9)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", rows)
        + _chunk(b"IEND", b"")
    )


#: An HEIC file's first bytes (ISO-BMFF ``ftyp`` box, brand ``heic``).
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + b"\x00" * 100

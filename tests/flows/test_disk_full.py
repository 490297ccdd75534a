"""Fault injection (issue 16): the landing disk full.

The landing folder is a small tmpfs of its own, filled to the last page with another
file. An upload through the intake API must then be refused with 507 and a reason,
leaving nothing behind (no object, no row, no remembered Idempotency-Key), even when
its first image did fit and its second did not. The batch, which only reads the
landing, decides what is there as usual. Once space is freed, the refused upload sent
again under the same Idempotency-Key is accepted, and the next sweep decides every
application exactly once.

Needs ``mount -t tmpfs`` (root, or a container allowed to mount); skipped otherwise.
"""

from __future__ import annotations

import errno
import io
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from PIL import Image

from flows.ingest import ingest_landing
from kyc import runtime
from tests.fixtures.db import DatabaseFactory
from tests.services.conftest import service_settings
from tests.web.conftest import INTAKE_OVERRIDES, IntakeServer, jpeg, serve_intake
from tests.web.test_intake_api import files, form

pytestmark = pytest.mark.slow

DISK = "4m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs mounted for this test (skipped where mounting is not allowed)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root: the disk-full test cannot run here")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK},mode=0755", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _noise_jpeg(seed: int, side: int = 400) -> bytes:
    """A JPEG that does not compress away (~100-200 KB)."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def _fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` to ENOSPC with one file, then give back about ``leave`` bytes."""
    filler = disk / "filler"
    chunk = b"\0" * (256 * 1024)
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(chunk)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave))
    return filler


def _count(server: IntakeServer, sql: str) -> int:
    with server.rt.db.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_full_landing_refuses_uploads_with_507_and_nothing_half_kept(
    prefect_api: None,
    small_disk: Path,
    pg_server: DatabaseFactory,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    if "external" in request.node.name:
        pytest.skip("the landing disk does not depend on the database server")
    landing = small_disk / "landing"
    url = pg_server.create("kyc_full")
    settings = service_settings(url, landing, **(INTAKE_OVERRIDES | {"intake_process": "event"}))
    monkeypatch.setenv("KYC_DATABASE_URL", url)
    monkeypatch.setenv("KYC_LANDING", str(landing))
    monkeypatch.setenv("KYC_LIVENESS_POLICY", "record")
    monkeypatch.setenv("KYC_LANDING_SETTLE_SECONDS", "0")
    with serve_intake(settings) as server:
        key = server.new_key("disk-full client")
        auth = {"Authorization": f"Bearer {key}"}

        def upload(app_id: str, front: bytes, selfie: bytes, idem: str) -> httpx.Response:
            return httpx.post(
                f"{server.url}/v1/applications",
                files=files(form(app_id), front=front, selfie=selfie),
                headers=auth | {"Idempotency-Key": idem},
                timeout=60,
            )

        first = upload("full-a", jpeg(), jpeg(colour="white"), "idem-a")
        assert first.status_code == 202, first.text

        # Room for the first image of the next upload, not for its second.
        front, selfie = _noise_jpeg(1), _noise_jpeg(2)
        filler = _fill(small_disk, leave=len(front) + 8192)
        refused = upload("full-b", front, selfie, "idem-b")
        assert refused.status_code == 507, refused.text
        assert refused.json()["error"] == "insufficient_storage"
        assert "full" in refused.json()["detail"]
        # Nothing of it kept: no object (nor a temporary file), no row, no remembered key.
        assert _files_under(landing / "incoming") == [
            "full-a/application.json",
            "full-a/id_document.jpg",
            "full-a/selfie.jpg",
        ]
        assert _count(server, "select count(*) from applications") == 1
        assert _count(server, "select count(*) from intake_uploads") == 1
        assert _count(server, "select count(*) from intake_requests") == 1
        # The status of the refused application is unknown to its key, as it should be.
        gone = httpx.get(f"{server.url}/v1/applications/full-b", headers=auth, timeout=30)
        assert gone.status_code == 404

        # The batch only reads the landing: a full disk does not stop it.
        runtime.reset()
        outcomes = {o.application_id: o for o in ingest_landing(str(landing))}
        assert set(outcomes) == {"full-a"} and outcomes["full-a"].status == "DECIDED"

        # Space again: the same request under the same key is accepted now.
        filler.unlink()
        retried = upload("full-b", front, selfie, "idem-b")
        assert retried.status_code == 202, retried.text
        assert retried.headers.get("Idempotent-Replayed") is None
        again = {o.application_id: o for o in ingest_landing(str(landing))}
        assert again["full-a"].status == "ALREADY_DECIDED"
        assert again["full-b"].status == "DECIDED", again["full-b"]
        assert _count(server, "select count(*) from kyc_decisions") == 2
        assert _count(server, "select count(distinct application_id) from kyc_decisions") == 2
        assert _count(server, "select count(*) from id_documents") == 2
        assert _count(server, "select count(*) from dead_letters where resolved_at is null") == 0
    runtime.reset()

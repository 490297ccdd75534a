"""`ingest` on an S3 landing prefix (moto's S3 server on loopback), as DataSync fills it."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.ingest import ingest_landing
from kyc import runtime
from kyc.demo.generate import generate_demo
from kyc.storage.local import LocalStore
from kyc.storage.s3 import S3Store

pytestmark = pytest.mark.slow


def test_ingest_from_s3_prefix(
    pipeline_env: Path,
    shared_data: Path,
    moto_endpoint: str,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KYC_S3_ENDPOINT_URL", moto_endpoint)
    runtime.reset()
    local = LocalStore(pipeline_env.parent / "generated")
    cases = generate_demo(local, shared_data)
    chosen = {c.application_id: c for c in cases if c.kind in {"genuine", "impostor", "malformed-json"}}
    chosen = dict(list(chosen.items())[:2] + [i for i in chosen.items() if i[1].kind != "genuine"][:2])
    s3 = S3Store(s3_bucket, "landing/", endpoint_url=moto_endpoint)
    for app_id in chosen:
        for obj in local.list(f"incoming/{app_id}/"):
            s3.put(obj.key, local.get(obj.key))

    outcomes = ingest_landing(f"s3://{s3_bucket}/landing")
    got = {o.application_id: (o.decision or o.status) for o in outcomes}
    assert got == {app_id: c.expected for app_id, c in chosen.items()}
    # Same objects again (same ETags): nothing new is decided.
    assert {o.status for o in ingest_landing(f"s3://{s3_bucket}/landing") if o.decision} == {"ALREADY_DECIDED"}

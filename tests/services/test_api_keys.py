"""API keys on a real database: created once in full, stored hashed, listed, revoked, checked.

Also the ``kyc api-keys`` commands, run in-process on the same kind of database.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from kyc import runtime
from kyc.runtime import Runtime
from kyc.services.api_keys import (
    ApiKeyError,
    authenticate,
    create_api_key,
    list_api_keys,
    revoke_api_key,
    split_key,
)
from tests.services.conftest import rows

pytestmark = pytest.mark.db


def test_a_key_is_shown_once_and_stored_as_its_hash(rt: Runtime) -> None:
    created = create_api_key(rt, "  partner portal ")
    kyc, prefix, secret = created.key.split("_", 2)
    assert (kyc, prefix) == ("kyc", created.row.prefix)
    assert len(prefix) == 8 and len(secret) >= 43
    assert created.row.name == "partner portal"
    assert created.row.scopes == ["intake"]
    (stored,) = rows(rt, "select * from api_keys where prefix = :p", p=prefix)
    assert stored.key_hash == hashlib.sha256(created.key.encode()).hexdigest()
    assert secret not in json.dumps([str(v) for v in stored])
    (audit,) = rows(
        rt,
        "select action, actor, detail from audit_log where entity_id = :i",
        i=str(stored.api_key_id),
    )
    assert (audit.action, audit.actor) == ("created", "cli")
    assert created.key not in json.dumps(audit.detail)
    listed = {k.prefix: k for k in list_api_keys(rt)}
    assert listed[prefix].name == "partner portal"


def test_authenticate(rt: Runtime) -> None:
    created = create_api_key(rt, "checker", ["intake", "reports"])
    client = authenticate(rt, created.key)
    assert client is not None and client.allows("intake") and client.allows("reports")
    assert client.prefix == created.row.prefix
    (used,) = rows(rt, "select last_used_at from api_keys where prefix = :p", p=client.prefix)
    assert used.last_used_at is not None
    # Used again at once: the row is not rewritten (at most once a minute).
    assert authenticate(rt, created.key) is not None
    (again,) = rows(rt, "select last_used_at from api_keys where prefix = :p", p=client.prefix)
    assert again.last_used_at == used.last_used_at
    for wrong in (
        created.key + "x",
        created.key[:-1],
        "kyc_" + created.row.prefix + "_",
        "kyc_ffffffff_" + created.key.split("_", 2)[2],
        "",
        "Bearer " + created.key,
    ):
        assert authenticate(rt, wrong) is None, wrong
    revoke_api_key(rt, created.row.prefix, actor="ops")
    assert authenticate(rt, created.key) is None
    # Revoking twice keeps the first time.
    first = revoke_api_key(rt, created.row.prefix).revoked_at
    assert revoke_api_key(rt, created.row.prefix).revoked_at == first


def test_bad_requests(rt: Runtime) -> None:
    with pytest.raises(ApiKeyError, match="name"):
        create_api_key(rt, "   ")
    with pytest.raises(ApiKeyError, match="scope"):
        create_api_key(rt, "x", ["Intake!"])
    with pytest.raises(ApiKeyError, match="no API key"):
        revoke_api_key(rt, "00000000")
    assert split_key("kyc_0123abcd_secret_with_underscores") == "0123abcd"
    assert split_key("kyc_0123ABCD_secret") is None
    assert split_key("xyz_0123abcd_secret") is None


def test_cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from kyc.cli import app

    monkeypatch.setenv("KYC_DATABASE_URL", db_url)
    runtime.reset()
    try:
        cli = CliRunner()
        made = cli.invoke(app, ["api-keys", "create", "--name", "cli client"])
        assert made.exit_code == 0, made.output
        key = made.stdout.strip().splitlines()[-1]
        prefix = split_key(key)
        assert prefix is not None
        assert "cannot be shown again" in " ".join(made.stderr.split())
        listed = cli.invoke(app, ["api-keys", "list", "--json"])
        assert listed.exit_code == 0
        lines = [json.loads(line) for line in listed.stdout.splitlines()]
        mine = next(line for line in lines if line["prefix"] == prefix)
        assert mine["name"] == "cli client" and mine["revoked_at"] is None
        assert key.split("_", 2)[2] not in listed.stdout
        revoked = cli.invoke(app, ["api-keys", "revoke", prefix])
        assert revoked.exit_code == 0 and "revoked" in revoked.stderr
        assert cli.invoke(app, ["api-keys", "revoke", "00000000"]).exit_code == 1
        assert cli.invoke(app, ["api-keys", "create", "--name", " "]).exit_code == 2
        assert authenticate(runtime.current(), key) is None
    finally:
        runtime.reset()

"""kyc.runtime: one runtime per settings value (every field), the shared pool, close and reset.

The bug this guards against: runtimes (and so engines) used to be cached on part of
the settings, so a changed URL, token or TTL gave back stale engines.
"""

from __future__ import annotations

import datetime as dt
import threading
import typing
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from kyc import runtime
from kyc.notify.webhook import generate_secret
from kyc.runtime import Runtime, settings_key
from kyc.settings import Settings
from tests.fixtures.registers import FakeApify, RegisterSite, fake_apify, register_site

SECRET_TOKEN = "apify-token-DO-NOT-LEAK-1234"
DB_PASSWORD = "db-password-DO-NOT-LEAK-5678"
WEBHOOK_SECRET = generate_secret()


def base_fields(tmp: Path) -> dict[str, Any]:
    return {
        "database_url": f"postgresql://kyc:{DB_PASSWORD}@127.0.0.1:1/kyc",
        "landing": str(tmp / "landing"),
        "liveness_policy": "record",
        "quality_gate_process": False,
        "apify_token": SECRET_TOKEN,
        "webhook_url": "http://127.0.0.1:1/hook",
        "webhook_secret": WEBHOOK_SECRET,
    }


@pytest.fixture(autouse=True)
def forget_runtimes() -> Iterator[None]:
    """Runtimes cached by a test are closed and forgotten after it."""
    yield
    runtime.reset()


# --------------------------------------------------------------------------------------
# caching on the whole settings value
# --------------------------------------------------------------------------------------


def test_equal_settings_values_share_one_runtime(tmp_path: Path) -> None:
    one = Settings(**base_fields(tmp_path))
    two = Settings(**base_fields(tmp_path))
    assert one is not two and one == two
    rt = Runtime.from_settings(one)
    assert Runtime.from_settings(two) is rt
    assert Runtime.from_settings(one) is rt
    assert rt.settings is one
    assert settings_key(one) == settings_key(two)
    # the constructor itself does not cache
    assert Runtime(one) is not rt


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("apify_token", "apify-token-rotated"),
        ("apify_api_url", "http://127.0.0.1:2"),
        ("register_http_urls", {"GMC": "http://127.0.0.1:2/gmc?n={number}"}),
        ("register_cache_ttl_seconds", 60),
        ("database_url", f"postgresql://kyc:{DB_PASSWORD}@127.0.0.1:2/kyc"),
        # A fixed test id: a random value in the id differs between test processes.
        pytest.param("webhook_secret", generate_secret(), id="webhook_secret-generated"),
        ("smtp_password", "smtp-password"),
        ("face_match_threshold", 85.0),
        ("liveness_policy", "require"),
        ("quality_gate_process", True),
        ("register_engine", "http"),
        ("expectations_dir", Path("/nonexistent/expectations")),
        ("review_email_to", ["review@example.org"]),
        ("notify_decisions", ["FAIL"]),
    ],
)
def test_any_changed_field_gives_another_runtime(tmp_path: Path, field: str, value: Any) -> None:
    before = Settings(**base_fields(tmp_path))
    after = Settings(**base_fields(tmp_path) | {field: value})
    assert getattr(after, field) != getattr(before, field)
    assert settings_key(after) != settings_key(before)
    assert Runtime.from_settings(after) is not Runtime.from_settings(before)


def _other(value: Any, annotation: Any) -> Any:
    """A value of the field's type that differs from ``value`` (for a copy, unvalidated)."""
    if value is None:
        kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
        kind = kinds[0]
        samples = {str: "changed", SecretStr: SecretStr("changed"), Path: Path("/changed"),
                   int: 1, float: 1.0}  # fmt: skip
        return samples[kind]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, SecretStr):
        return SecretStr(value.get_secret_value() + "-changed")
    if isinstance(value, Path):
        return value / "changed"
    if isinstance(value, str):
        return value + "-changed"
    if isinstance(value, dict):
        return value | {"CHANGED": "changed"}
    if isinstance(value, list):
        return [*value, value[0] if value else "changed"]
    raise AssertionError(f"no change known for {type(value).__name__}")


def test_every_settings_field_is_part_of_the_key(tmp_path: Path) -> None:
    base = Settings(**base_fields(tmp_path))
    key = settings_key(base)
    fields = type(base).model_fields
    assert {"apify_token", "apify_api_url", "register_cache_ttl_seconds"} <= set(fields)
    for name, info in fields.items():
        changed = base.model_copy(update={name: _other(getattr(base, name), info.annotation)})
        assert settings_key(changed) != key, f"{name} is not part of the runtime's key"


def test_changed_ttl_reaches_the_register_cache(tmp_path: Path) -> None:
    week = Runtime.from_settings(Settings(**base_fields(tmp_path)))
    minute = Runtime.from_settings(
        Settings(**base_fields(tmp_path) | {"register_cache_ttl_seconds": 60})
    )
    assert week.registers._ttl == dt.timedelta(days=7)
    assert minute.registers._ttl == dt.timedelta(seconds=60)


def test_changed_register_urls_reach_the_http_client(tmp_path: Path) -> None:
    old_site, new_site = RegisterSite(), RegisterSite()
    with register_site(old_site) as old_base, register_site(new_site) as new_base:

        def client(base: str) -> Any:
            fields = base_fields(tmp_path) | {
                "register_engine": "http",
                "register_http_urls": old_site.urls(base),
                "register_retries": 0,
                "register_rate_per_second": 1000,
            }
            return Runtime.from_settings(Settings(**fields)).engines.register_client

        client(old_base).lookup("GMC", "7123456")
        client(new_base).lookup("GMC", "7123457")
        client(old_base).lookup("GMC", "7123458")
    assert [n for _, _, n in old_site.requests] == ["7123456", "7123458"]
    assert [n for _, _, n in new_site.requests] == ["7123457"]


def test_changed_apify_token_and_url_reach_the_apify_client(tmp_path: Path) -> None:
    first, second = FakeApify(), FakeApify()
    with fake_apify(first) as first_url, fake_apify(second) as second_url:

        def start(api_url: str, token: str) -> None:
            fields = base_fields(tmp_path) | {
                "register_engine": "apify",
                "apify_api_url": api_url,
                "apify_token": token,
                "apify_actors": {"GMC": "demo~gmc"},
                "register_rate_per_second": 1000,
            }
            Runtime.from_settings(Settings(**fields)).engines.register_client.start(
                "GMC", "7123456"
            )

        start(first_url, "token-one")
        start(first_url, "token-two")  # a rotated token
        start(second_url, "token-two")  # another API URL
    assert first.token_seen == ["Bearer token-one", "Bearer token-two"]
    assert second.token_seen == ["Bearer token-two"]


def test_settings_key_never_holds_a_secret_in_clear(tmp_path: Path) -> None:
    settings = Settings(
        **base_fields(tmp_path)
        | {"smtp_password": "smtp-DO-NOT-LEAK", "licence_http_auth_value": "Bearer lic-DO-NOT-LEAK"}
    )
    key = settings_key(settings)
    assert len(key) == 64 and set(key) <= set("0123456789abcdef")
    for secret in (SECRET_TOKEN, DB_PASSWORD, WEBHOOK_SECRET, "DO-NOT-LEAK", "smtp-DO", "lic-DO"):
        assert secret not in key
    # the runtime keeps no readable copy of its key either
    rt = Runtime.from_settings(settings)
    assert SECRET_TOKEN not in repr(vars(rt)) and DB_PASSWORD not in repr(vars(rt))


# --------------------------------------------------------------------------------------
# the shared pool
# --------------------------------------------------------------------------------------


def test_shared_builds_once_per_key_from_many_threads() -> None:
    key = ("test-shared", uuid.uuid4().hex)
    builds: list[object] = []
    started = threading.Barrier(8)
    building = threading.Event()
    release = threading.Event()

    def build() -> object:
        built = object()
        builds.append(built)
        building.set()
        assert release.wait(10)  # every other thread asks while this build runs
        return built

    def ask(_: int) -> object:
        started.wait(10)
        return runtime.shared(key, build)

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(ask, i) for i in range(8)]
        assert building.wait(10)
        release.set()
        results = [f.result(timeout=10) for f in futures]
    assert len(builds) == 1
    assert all(r is builds[0] for r in results)
    assert runtime.shared(key, object) is builds[0]


def test_a_slow_build_does_not_hold_other_keys() -> None:
    slow_key, quick_key = ("test-slow", uuid.uuid4().hex), ("test-quick", uuid.uuid4().hex)
    building, release = threading.Event(), threading.Event()

    def slow() -> str:
        building.set()
        assert release.wait(10)
        return "slow"

    with ThreadPoolExecutor(2) as pool:
        slow_result = pool.submit(runtime.shared, slow_key, slow)
        assert building.wait(10)
        quick = pool.submit(runtime.shared, quick_key, lambda: "quick")
        assert quick.result(timeout=10) == "quick"
        assert not slow_result.done()
        release.set()
        assert slow_result.result(timeout=10) == "slow"


def test_a_failed_build_is_not_kept() -> None:
    key = ("test-failing", uuid.uuid4().hex)

    def broken() -> object:
        raise RuntimeError("model file missing")

    with pytest.raises(RuntimeError, match="model file missing"):
        runtime.shared(key, broken)
    assert runtime.shared(key, lambda: "built") == "built"


# --------------------------------------------------------------------------------------
# close and reset
# --------------------------------------------------------------------------------------


def _connections(url: str) -> int:
    """Sessions the pipeline's engines hold open on the database of ``url``."""
    parsed = sa.engine.make_url(url)
    conn = psycopg2.connect(
        parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select count(*) from pg_stat_activity"
                " where datname = %s and application_name = 'kyc-pipeline'",
                (parsed.database,),
            )
            return int(cur.fetchone()[0])
    finally:
        conn.close()


@pytest.mark.db
def test_close_disposes_the_database_engine(fresh_pg_url: str, tmp_path: Path) -> None:
    rt = Runtime(Settings(**base_fields(tmp_path) | {"database_url": fresh_pg_url}))
    with rt.db.connect() as conn:
        assert conn.execute(sa.text("select 1")).scalar() == 1
    assert _connections(fresh_pg_url) == 1  # returned to the pool, still open
    reader = rt.engines.document_reader
    rt.close()
    assert _connections(fresh_pg_url) == 0
    rt.close()  # idempotent
    # the document reader lives in the shared pool: other runtimes still use it
    assert getattr(reader, "_closed", False) is False
    other = Runtime(Settings(**base_fields(tmp_path) | {"landing": str(tmp_path / "other")}))
    try:
        assert other.engines.document_reader is reader
    finally:
        other.close()


@pytest.mark.db
def test_reset_forgets_runtimes_and_keeps_the_shared_pool(
    fresh_pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(**base_fields(tmp_path) | {"database_url": fresh_pg_url})
    rt = Runtime.from_settings(settings)
    with rt.db.connect() as conn:
        conn.execute(sa.text("select 1"))
    key = ("test-reset", uuid.uuid4().hex)
    pooled = runtime.shared(key, object)
    assert _connections(fresh_pg_url) == 1

    runtime.reset()
    assert _connections(fresh_pg_url) == 0  # the forgotten runtime was closed
    assert Runtime.from_settings(settings) is not rt
    assert runtime.shared(key, lambda: pytest.fail("rebuilt after reset")) is pooled

    # reset also forgets the process settings: current() follows the environment
    monkeypatch.setenv("KYC_LANDING", str(tmp_path / "first"))
    runtime.reset()
    first = runtime.current()
    assert first.settings.landing == str(tmp_path / "first")
    monkeypatch.setenv("KYC_LANDING", str(tmp_path / "second"))
    assert runtime.current() is first  # settings are read once...
    runtime.reset()
    assert runtime.current().settings.landing == str(tmp_path / "second")  # ...until reset


def test_wiring_builds_and_never_caches() -> None:
    # Only the runtime caches: kyc.wiring gives a new engine on every call.
    from kyc.wiring import build_register_client

    settings = Settings(register_engine="http")
    assert build_register_client(settings) is not build_register_client(settings)


def test_using_chooses_the_runtime_of_a_context(tmp_path: Path) -> None:
    """The web app's inline decisions run the pipeline's tasks on the app's runtime."""
    import contextvars

    chosen = Runtime(Settings(**base_fields(tmp_path)))
    process = runtime.current()
    assert process is not chosen
    with runtime.using(chosen):
        assert runtime.current() is chosen
        # A thread started with a copy of the context (InlineRunner.submit) sees it...
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(contextvars.copy_context().run, runtime.current).result() is chosen
            # ...a thread without it does not.
            assert pool.submit(runtime.current).result() is process
    assert runtime.current() is process

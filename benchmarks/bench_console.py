"""Review console benchmark: queue and case page latency with 10,000 open cases.

On a fresh database (an embedded PostgreSQL in a temporary folder, or a new
database on the server named by ``--database-url``):

1. a few applicants are landed for real (synthetic licences and selfies, the
   browser tests' seed) and decided MANUAL_REVIEW through the services: their case
   pages have images;
2. ``--open`` (10,000) open MANUAL_REVIEW cases and ``--closed`` (20,000) finished
   applications (PASS by the rules, or reviewed: MANUAL_REVIEW then a review
   version) are bulk-inserted with SQL: users, applications, id_documents, selfies
   and kyc_decisions, copying the real cases' JSON so that the pages have the same
   work to do; one open case in ten is claimed;
3. ``kyc serve`` runs in its own process on loopback (as ``make up`` starts it), a
   reviewer logs in over HTTP, and ``--n`` (200) requests are timed for each of:
   the queue's first page, a filtered queue page, page 100, a case page (HTML
   only, random bulk cases), a real case's page and one image of a real case;
4. before that, every statement a queue page runs is shown with EXPLAIN ANALYZE
   (what one request costs the database).

Targets: queue page p95 < 200 ms, case page p95 < 300 ms. Not a test: figures
depend on the machine and its load. ``make bench-console`` runs this, then
benchmarks/bench_intake.py when it exists (the intake API's own figures).

    .venv/bin/python benchmarks/bench_console.py [--open 10000] [--closed 20000] [--n 200]
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Reason sets of the open cases (as the rules produce them), drawn at random.
OPEN_REASONS = (
    ["LIVENESS_NOT_ASSESSED"],
    ["FACE_MATCH_INCONCLUSIVE", "LIVENESS_NOT_ASSESSED"],
    ["DOCUMENT_INCONSISTENT", "LIVENESS_NOT_ASSESSED"],
    ["DOCUMENT_UNREADABLE", "LIVENESS_NOT_ASSESSED"],
    ["DUPLICATE_IDENTITY"],
    ["NAME_MISMATCH", "LIVENESS_NOT_ASSESSED"],
    ["REGISTER_CONDITIONS"],
    ["REGISTER_UNAVAILABLE", "LIVENESS_NOT_ASSESSED"],
    ["FACE_QUALITY_LOW"],
    ["ESCALATED", "LIVENESS_NOT_ASSESSED"],
)
FIRST = ("Ana", "Ben", "Chloé", "Dev", "Emma", "Femi", "Grace", "Hugo", "Ines", "Jon", "Kai")
LAST = ("Smith", "Okafor", "García", "Nguyen", "Brown", "Müller", "Patel", "Rossi", "Kim")
USERNAME, PASSWORD = "bench-reviewer", "bench-console-password"
#: The filtered queue page measured: three filters at once, a few hundred matches.
FILTERED = "/?reason=DOCUMENT_INCONSISTENT&age=over_24h&doc_type=driving_licence"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def seed_bulk(engine: Any, template_id: str, *, n_open: int, n_closed: int, reviewer: Any) -> None:
    """Bulk-insert open and closed applications, copying the template case's JSON."""
    import sqlalchemy as sa

    total = n_open + n_closed
    with engine.begin() as conn:
        tpl = conn.execute(
            sa.text(
                "SELECT a.form, d.findings, d.scores, d.engines FROM applications a"
                " JOIN kyc_decisions d USING (application_id) WHERE a.application_id = :a"
            ),
            {"a": template_id},
        ).one()
        # Triggers stay on: review_queue (migration 0008) is filled by the decisions'
        # trigger, as in production.
        params = {
            "total": total,
            "n_open": n_open,
            "form": json.dumps(tpl.form),
            "findings": json.dumps(tpl.findings),
            "scores": json.dumps(tpl.scores),
            "engines": json.dumps(tpl.engines),
            "first": list(FIRST),
            "last": list(LAST),
        }
        conn.execute(
            sa.text(
                """
                CREATE TEMP TABLE bench_ids ON COMMIT DROP AS
                SELECT i,
                       'bench-' || lpad(i::text, 6, '0') AS application_id,
                       md5('bench-user-' || i)::uuid AS user_id,
                       i <= :n_open AS open,
                       -- open cases waited 0-72 h; closed ones were decided 1-60 days ago
                       CASE WHEN i <= :n_open THEN now() - (i * 72.0 / :n_open) * interval '1 hour'
                            ELSE now() - interval '1 day' - (i % 1440) * interval '1 hour'
                       END AS decided_at,
                       (ARRAY['driving_licence', 'driving_licence', 'driving_licence',
                              'driving_licence', 'passport', 'id_card'])[1 + i % 6]
                           ::id_doc_type_enum AS doc_type,
                       (ARRAY['NONE', 'NONE', 'NONE', 'GMC', 'NMC', 'GDC', 'GPHC'])[1 + i % 7]
                           AS reg_type,
                       (:first)[1 + i % cardinality(:first)] AS first_name,
                       (:last)[1 + (i * 7) % cardinality(:last)] AS last_name
                FROM generate_series(1, :total) AS i
                """
            ),
            params,
        )
        conn.execute(
            sa.text(
                """
                INSERT INTO users (user_id, email, first_name, last_name, date_of_birth,
                                   address, status, created_at)
                SELECT user_id, application_id || '@example.org', first_name, last_name,
                       date '1960-01-01' + (i * 37) % 15000,
                       CAST(:form AS jsonb) -> 'address',
                       CASE WHEN open THEN 'MANUAL_REVIEW' WHEN i % 5 = 0 THEN 'REJECTED'
                            ELSE 'VERIFIED' END::user_status_enum,
                       decided_at
                FROM bench_ids;
                INSERT INTO applications (application_id, user_id, landing_uri,
                                          input_fingerprint, form, received_at)
                SELECT application_id, user_id, 'file:///nowhere/bench', md5(application_id),
                       jsonb_set(jsonb_set(jsonb_set(jsonb_set(CAST(:form AS jsonb),
                           '{application_id}', to_jsonb(application_id)),
                           '{first_name}', to_jsonb(first_name)),
                           '{last_name}', to_jsonb(last_name)),
                           '{registration}', CASE WHEN reg_type = 'NONE'
                               THEN '{"type": "NONE", "number": null}'::jsonb
                               ELSE jsonb_build_object('type', reg_type,
                                                       'number', (7000000 + i)::text) END),
                       decided_at - interval '1 minute'
                FROM bench_ids;
                INSERT INTO id_documents (application_id, user_id, doc_type, document_number,
                                          issuing_country, expiry_date, front_key, front_etag,
                                          back_key, back_etag, status, created_at)
                SELECT application_id, user_id, doc_type, 'D' || (1000000 + i), 'USA',
                       date '2030-01-01', 'incoming/' || application_id || '/id_document.jpg',
                       md5('f' || i), 'incoming/' || application_id || '/id_document_back.jpg',
                       md5('b' || i), 'DECIDED', decided_at
                FROM bench_ids;
                INSERT INTO selfies (application_id, user_id, object_key, etag, created_at)
                SELECT application_id, user_id, 'incoming/' || application_id || '/selfie.jpg',
                       md5('s' || i), decided_at
                FROM bench_ids;
                """
            ),
            params,
        )
        reason_sets = [json.dumps(r) for r in OPEN_REASONS]
        conn.execute(
            sa.text(
                """
                -- version 1 by the rules: open cases and reviewed closed ones were sent to
                -- review; the other closed ones passed
                INSERT INTO kyc_decisions (application_id, user_id, version, decision, reasons,
                                           findings, scores, engines, input_fingerprint,
                                           decided_at, source)
                SELECT application_id, user_id, 1,
                       CASE WHEN open OR i % 3 = 0 THEN 'MANUAL_REVIEW' ELSE 'PASS' END
                           ::kyc_decision_enum,
                       CASE WHEN open OR i % 3 = 0
                            THEN ARRAY(SELECT jsonb_array_elements_text(
                                CAST(:reasons AS jsonb) -> (i % :n_reasons)))
                            ELSE ARRAY[]::text[] END,
                       CAST(:findings AS jsonb), CAST(:scores AS jsonb),
                       CAST(:engines AS jsonb), md5(application_id), decided_at, 'pipeline'
                FROM bench_ids;
                -- version 2 by a reviewer for the reviewed closed ones
                INSERT INTO kyc_decisions (application_id, user_id, version, decision, reasons,
                                           findings, scores, engines, input_fingerprint,
                                           decided_at, source, reviewed_by)
                SELECT application_id, user_id, 2,
                       CASE WHEN i % 5 = 0 THEN 'FAIL' ELSE 'PASS' END::kyc_decision_enum,
                       CASE WHEN i % 5 = 0 THEN ARRAY['REVIEW_REJECTED', 'OTHER']
                            ELSE ARRAY['REVIEW_APPROVED'] END,
                       '[]'::jsonb, '{}'::jsonb, '{}'::jsonb, md5(application_id),
                       decided_at + interval '3 hours', 'review', ARRAY[:reviewer]
                FROM bench_ids WHERE NOT open AND i % 3 = 0;
                -- one open case in ten is claimed
                INSERT INTO review_assignments (application_id, console_user_id, assigned_by,
                                                assigned_at)
                SELECT application_id, CAST(:reviewer_id AS uuid), :reviewer, decided_at
                FROM bench_ids WHERE open AND i % 10 = 0;
                """
            ),
            params
            | {
                "reasons": json.dumps([json.loads(r) for r in reason_sets]),
                "n_reasons": len(reason_sets),
                "reviewer": reviewer.username,
                "reviewer_id": str(reviewer.console_user_id),
            },
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))  # a steady state: visibility map set


def explain_queue(engine: Any, settings: Any, filters: Any = None) -> dict[str, float]:
    """EXPLAIN ANALYZE of every statement one queue page runs (captured as executed)."""
    import datetime as dt

    import sqlalchemy as sa

    from kyc.db import review as store
    from kyc.db.engine import session_scope

    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        captured.append((statement, params))

    now = dt.datetime.now(dt.UTC)
    filters = filters or store.QueueFilters()
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        with session_scope(engine) as s:
            store.queue(s, filters, now=now, sla_hours=settings.review_sla_hours)
            store.queue_counts(s, now=now, sla_hours=settings.review_sla_hours)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    out: dict[str, float] = {}
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            for i, (statement, params) in enumerate(captured):
                if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                    continue
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                plan = [r[0] for r in cur.fetchall()]
                ms = next(float(p.split()[-2]) for p in plan if p.startswith("Execution Time"))
                out[f"statement_{i}"] = ms
                sys.stderr.write(f"--- EXPLAIN ANALYZE, queue statement {i}: {ms:.1f} ms\n")
                sys.stderr.write("\n".join(plan[:60]) + "\n")
    finally:
        raw.close()
    return out


def time_requests(
    client: Any, urls: Callable[[int], str], n: int, *, expect: str | None = None
) -> dict[str, float]:
    """p50/p95/max in ms of ``n`` GETs (after 5 untimed ones)."""
    for i in range(5):
        client.get(urls(i)).raise_for_status()
    times: list[float] = []
    for i in range(n):
        started = time.perf_counter()
        reply = client.get(urls(i))
        times.append((time.perf_counter() - started) * 1000)
        reply.raise_for_status()
        if expect is not None and expect not in reply.text:
            raise RuntimeError(f"{urls(i)}: {expect!r} not in the page")
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(_percentile(times, 0.95), 1),
        "max_ms": round(max(times), 1),
        "n": n,
    }


def login(client: Any, base: str) -> None:
    """Log in through the login form (its CSRF token from the page)."""
    page = client.get(f"{base}/login")
    page.raise_for_status()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if token is None:
        raise RuntimeError("no CSRF token on the login page")
    reply = client.post(
        f"{base}/login",
        data={"username": USERNAME, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    if reply.status_code != 303:
        raise RuntimeError(f"login failed: HTTP {reply.status_code} {reply.text[:300]}")


def main() -> int:
    """Seed, serve, measure; prints the figures (JSON on the last line)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--open", type=int, default=10_000, help="open MANUAL_REVIEW cases")
    parser.add_argument("--closed", type=int, default=20_000, help="finished applications")
    parser.add_argument("--real", type=int, default=4, help="landed cases with images")
    parser.add_argument("--n", type=int, default=200, help="timed requests per page kind")
    parser.add_argument(
        "--database-url", help="a server to create a fresh database on (default: embedded)"
    )
    parser.add_argument("--explain-only", action="store_true", help="seed and EXPLAIN only")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    import httpx
    import psycopg2
    import sqlalchemy as sa

    from kyc.db.engine import embedded_database_url, normalise_url, url_for_database
    from kyc.domain.review import Role
    from kyc.runtime import Runtime
    from kyc.services import accounts
    from kyc.settings import Settings
    from tests.browser.seed import queued_case
    from tests.web.console_fixtures import free_port

    # A terminated run (timeout, Ctrl-C) still stops its server and drops its database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="kyc-bench-console-"))
    if not args.keep:
        # Registered before the embedded server starts: atexit runs it after the
        # server's own stop hook (last in, first out), on a stopped server's folder.
        atexit.register(shutil.rmtree, tmp, True)
    landing = tmp / "landing"
    name = f"kyc_bench_console_{uuid.uuid4().hex[:8]}"
    admin = (
        normalise_url(args.database_url)
        if args.database_url
        else url_for_database(embedded_database_url(tmp / "pgdata"), "postgres")
    )
    dsn = sa.engine.make_url(admin).set(drivername="postgresql").render_as_string(False)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE DATABASE "{name}"')
    url = url_for_database(admin, name)
    settings = Settings(
        database_url=url,
        landing=str(landing),
        liveness_policy="require",
        quality_gate_process=False,
        face_descriptor_process=False,
        web_secure_cookies=False,
    )
    rt = Runtime(settings)
    server: subprocess.Popen[bytes] | None = None
    figures: dict[str, Any] = {"open": args.open, "closed": args.closed}
    try:
        started = time.perf_counter()
        reviewer = accounts.add_user(rt, USERNAME, role=Role.REVIEWER, password=PASSWORD)
        real = [queued_case(rt, landing, 40 + i, read=i == 0) for i in range(args.real)]
        seed_bulk(rt.db, real[0], n_open=args.open, n_closed=args.closed, reviewer=reviewer)
        with rt.db.connect() as c:
            counts = {
                t: c.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("applications", "kyc_decisions", "review_assignments")
            }
        figures["seed_s"] = round(time.perf_counter() - started, 1)
        sys.stderr.write(f"seeded in {figures['seed_s']} s: {counts}\n")
        figures["explain_ms"] = explain_queue(rt.db, settings)
        if args.explain_only:
            return 0

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = dict(
            os.environ,
            KYC_DATABASE_URL=url,
            KYC_LANDING=str(landing),
            KYC_WEB_SECURE_COOKIES="false",
            KYC_LIVENESS_POLICY="require",
            PYTHONPATH=str(ROOT),
        )
        kyc = str(Path(sys.executable).parent / "kyc")
        log = (tmp / "serve.log").open("wb")
        server = subprocess.Popen(
            [kyc, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp / "serve.log").read_text(errors="replace")[-2000:])
            time.sleep(0.3)

        rng = random.Random(7)
        open_ids = [f"bench-{i:06d}" for i in range(1, args.open + 1)]
        picks = [rng.choice(open_ids) for _ in range(args.n + 5)]
        kinds: dict[str, tuple[Callable[[int], str], str | None]] = {
            "queue_first_page": (lambda i: "/", "bench-"),
            "queue_filtered": (lambda i: FILTERED, None),
            "queue_page_100": (lambda i: "/?page=100", None),
            "case_page": (lambda i: f"/cases/{picks[i]}", None),
            "case_page_real": (lambda i: f"/cases/{real[i % len(real)]}", None),
            "case_image": (lambda i: f"/cases/{real[i % len(real)]}/images/id_document", None),
        }
        measured: dict[str, dict[str, float]] = {}
        figures["http"] = measured
        with httpx.Client(base_url=base, timeout=30) as client:
            login(client, base)
            for what, (url_of, expect) in kinds.items():
                m = measured[what] = time_requests(client, url_of, args.n, expect=expect)
                sys.stderr.write(
                    f"{what:18} p50 {m['p50_ms']:7.1f} ms  p95 {m['p95_ms']:7.1f} ms"
                    f"  max {m['max_ms']:7.1f} ms  (n={m['n']})\n"
                )
        queue_p95 = max(measured[k]["p95_ms"] for k in ("queue_first_page", "queue_filtered"))
        case_p95 = measured["case_page"]["p95_ms"]
        for what, p95, target in (("queue", queue_p95, 200), ("case", case_p95, 300)):
            verdict = "met" if p95 < target else "MISSED"
            sys.stderr.write(f"{what} page p95 {p95:.1f} ms (target < {target} ms): {verdict}\n")
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        rt.close()
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()
        if args.keep:
            sys.stderr.write(f"kept {tmp}\n")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

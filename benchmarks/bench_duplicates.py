"""Duplicate-identity search among many stored faces (``make bench-duplicates``).

Starts a private embedded PostgreSQL 18 (pgvector) under ``var/bench/duplicates``,
migrates it, stores ``--n`` synthetic 128-d embeddings (default 100,000) for as many
users, builds the HNSW index, then times the pipeline's own search
(:func:`kyc.db.biometrics.find_similar_faces`, one transaction each, as the
``check-duplicates`` task runs it):

* ``hnsw``: the pgvector index (the default where the extension exists);
* ``exact``: the plain-SQL scan used on servers without pgvector (PostgreSQL 15);
* ``exact-pgvector``: pgvector's operator without the index (sequential scan).

Each query is a stored face moved by distance 0.3 (a genuine re-application), so
the expected nearest match is known and recall is reported too. Embeddings are
Gaussian with the spread of dlib descriptors (impostor distances ~0.9-1.0).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kyc.db import biometrics  # noqa: E402
from kyc.db.engine import (  # noqa: E402
    embedded_database_url,
    make_engine,
    session_scope,
    upgrade,
)

#: Per-component standard deviation: two random faces are ~0.95 apart, like dlib
#: impostor pairs.
SIGMA = 0.95 / np.sqrt(2 * 128)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load(engine: sa.Engine, n: int, rng: np.random.Generator) -> np.ndarray:
    """Insert n users with one application, selfie and embedding each (COPY)."""
    vectors = rng.normal(0, SIGMA, size=(n, 128)).astype(np.float32)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(f"DROP INDEX IF EXISTS {biometrics.HNSW_INDEX}")
        cur.execute(
            """
            INSERT INTO users (user_id, email, first_name, last_name, date_of_birth, address)
            SELECT md5('u' || g)::uuid, 'b' || g || '@example.org', 'First' || g, 'Last' || g,
                   date '1960-01-01' + mod(g, 15000), '{}'::jsonb
            FROM generate_series(1, %s) g;
            INSERT INTO applications (application_id, user_id, landing_uri, input_fingerprint, form)
            SELECT 'bench-' || g, md5('u' || g)::uuid, 'bench', 'fp', '{}'::jsonb
            FROM generate_series(1, %s) g;
            INSERT INTO selfies (selfie_id, application_id, user_id, object_key, etag)
            SELECT md5('s' || g)::uuid, 'bench-' || g, md5('u' || g)::uuid, 'k', 'e'
            FROM generate_series(1, %s) g;
            """,
            (n, n, n),
        )
        import io

        buf = io.StringIO()
        for i, vec in enumerate(vectors, start=1):
            arr = "{" + ",".join(f"{x:.6g}" for x in vec) + "}"
            user, selfie = uuid.UUID(_md5(f"u{i}")), uuid.UUID(_md5(f"s{i}"))
            buf.write(f"bench-{i}\t{user}\t{selfie}\tlocal-dlib\t{arr}\n")
        buf.seek(0)
        cur.copy_expert(
            "COPY face_embeddings (application_id, user_id, selfie_id, engine, embedding) "
            "FROM STDIN",
            buf,
        )
        raw.commit()
    finally:
        raw.close()
    return vectors


def _md5(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode()).hexdigest()  # ids, not security


def build_index(engine: sa.Engine) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text("SET maintenance_work_mem = '512MB'"))
        conn.execute(
            sa.text(
                f"CREATE INDEX {biometrics.HNSW_INDEX} ON face_embeddings "
                "USING hnsw ((embedding::vector(128)) vector_l2_ops)"
            )
        )
        conn.execute(sa.text("ANALYZE face_embeddings"))
    return time.perf_counter() - started


def run(
    engine: sa.Engine, vectors: np.ndarray, method: str, queries: int, rng: np.random.Generator
) -> tuple[list[float], float]:
    times: list[float] = []
    hits = 0
    stranger = uuid.uuid4()
    for _ in range(queries):
        target = int(rng.integers(len(vectors)))
        step = rng.normal(size=128)
        query = vectors[target] + 0.3 * step / np.linalg.norm(step)
        started = time.perf_counter()
        with session_scope(engine) as s:
            if method == "exact-pgvector":
                s.execute(sa.text("SET LOCAL enable_indexscan = off"))
                method_arg = "hnsw"
            else:
                method_arg = method
            rows, _ = biometrics.find_similar_faces(
                s,
                embedding=[float(x) for x in query],
                engine="local-dlib",
                user_id=stranger,
                max_distance=0.6,
                method=method_arg,
            )
        times.append((time.perf_counter() - started) * 1000)
        hits += bool(rows) and rows[0].application_id == f"bench-{target + 1}"
    return times, hits / queries


def main() -> None:
    parser = argparse.ArgumentParser(description="duplicate-identity search benchmark")
    parser.add_argument("--n", type=int, default=100_000, help="stored embeddings")
    parser.add_argument("--queries", type=int, default=200, help="indexed searches")
    parser.add_argument("--exact-queries", type=int, default=20, help="exact-scan searches")
    parser.add_argument("--dir", type=Path, default=ROOT / "var" / "bench" / "duplicates")
    args = parser.parse_args()

    shutil.rmtree(args.dir, ignore_errors=True)
    url = embedded_database_url(args.dir / "pgdata", "bench")
    upgrade(url)
    engine = make_engine(url)
    rng = np.random.default_rng(7)
    started = time.perf_counter()
    vectors = load(engine, args.n, rng)
    print(f"stored {args.n} embeddings in {time.perf_counter() - started:.1f} s")
    print(f"HNSW index built in {build_index(engine):.1f} s")
    with engine.connect() as conn:
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                sa.text(
                    "EXPLAIN SELECT 1 FROM face_embeddings e ORDER BY e.embedding::vector(128) <-> "
                    "CAST(:q AS vector(128)) LIMIT 10"
                ),
                {"q": "[" + ",".join(["0"] * 128) + "]"},
            )
        )
    print("index used:", biometrics.HNSW_INDEX in plan)

    for method, queries in (
        ("hnsw", args.queries),
        ("exact", args.exact_queries),
        ("exact-pgvector", args.exact_queries),
    ):
        run(engine, vectors, method, 3, rng)  # warm up
        times, recall = run(engine, vectors, method, queries, rng)
        print(
            f"{method:15s} n={args.n} queries={queries}: p50 {statistics.median(times):.1f} ms, "
            f"p95 {percentile(times, 0.95):.1f} ms, recall@1 {recall:.3f}"
        )
    engine.dispose()


if __name__ == "__main__":
    main()

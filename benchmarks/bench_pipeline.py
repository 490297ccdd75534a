"""Pipeline throughput benchmark: the batch flow against the engine floor.

``make bench`` (``N=50 make bench`` for a quick run) generates N synthetic
applications into a fresh landing folder, then measures

* the **engine floor**: the same applications through the engines alone (form
  parsing, document reader, face matcher) on a thread pool of ``KYC_CONCURRENCY``
  workers — no Prefect, no database, no Great Expectations;
* the **pipeline**: ``flows.ingest.ingest_landing`` over the same landing, with
  Prefect's ephemeral API, a fresh embedded PostgreSQL and the GX gate;

and prints applications/minute for both, their ratio, per-application latency
(p50/p95), peak RSS of the Python side (this process and its children, which
include Prefect's API server) and of PostgreSQL, and CPU seconds per application
by process group. Start-up (engines, API server, database, migrations) is warmed
up once and not counted; generating the applications is not counted either.

Targets (issue text): pipeline/floor >= 0.8 at N=200 and Python peak RSS under
1.5 GiB. Missing a target prints ``TARGET MISSED`` but exits 0; an application that
is not DECIDED, or an ``ENGINE_ERROR``, exits 1: a benchmark that silently measures
error paths measures nothing.

``--breakdown`` additionally times every stage (body vs the call, as a Prefect task
run or inline), the engines, Great Expectations (per application, per GX run, lock
waits), MRZ Tesseract lock waits and database sessions during the pipeline run, with wall
and thread CPU time, to show where orchestration time goes.

This is a script, not a test: it is run by hand or by ``make bench``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import functools
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from kyc.domain.landing import LandingBundle
    from kyc.domain.records import DocumentScan
    from kyc.storage.base import ObjectStore
    from kyc.wiring import Engines

PROJECT_ROOT = Path(__file__).resolve().parent.parent
GIB = 1024**3
#: Targets from the issue text.
RATIO_TARGET = 0.8
RSS_TARGET_BYTES = int(1.5 * GIB)


# --------------------------------------------------------------------------------------
# Environment (before anything imports Prefect or reads the KYC settings)
# --------------------------------------------------------------------------------------


def prepare_environment(args: argparse.Namespace, workdir: Path) -> None:
    """Point Prefect, PostgreSQL and the settings at fresh folders under ``workdir``.

    Must run before ``prefect`` or any ``kyc``/``flows``/``tasks`` module that reads
    settings is imported: Prefect reads its settings at import, ``tasks.pipeline``
    reads the KYC settings at import and ``flows.ingest`` sizes its thread pool then.
    """
    env = os.environ
    env["PREFECT_HOME"] = str(workdir / "prefect")
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env["PREFECT_LOGGING_LEVEL"] = "WARNING"
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "180"
    env["GX_ANALYTICS_ENABLED"] = "false"
    env["DO_NOT_TRACK"] = "1"
    env["KYC_LIVENESS_POLICY"] = "record"
    env["KYC_EMBEDDED_PG_DIR"] = str(workdir / "pgdata")
    # An empty value (not a missing one) also overrides a KYC_DATABASE_URL in .env.
    env["KYC_DATABASE_URL"] = args.database_url or ""
    if args.concurrency is not None:
        env["KYC_CONCURRENCY"] = str(args.concurrency)
    # A PREFECT_API_URL from the caller's shell would send the runs to a real server.
    env.pop("PREFECT_API_URL", None)


# --------------------------------------------------------------------------------------
# Synthetic applications
# --------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class Usage:
    """Peaks and CPU seconds seen by :class:`ResourceSampler` during one phase."""

    python_rss: int = 0
    main_rss: int = 0
    children_rss: int = 0
    postgres_rss: int = 0
    python_pss: int = 0
    postgres_pss: int = 0
    cpu_start: dict[str, float] = field(default_factory=dict)
    cpu_end: dict[str, float] = field(default_factory=dict)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user + system) per process group during the phase."""
        groups = set(self.cpu_start) | set(self.cpu_end)
        return {
            g: round(self.cpu_end.get(g, 0.0) - self.cpu_start.get(g, 0.0), 3)
            for g in sorted(groups)
        }


#: Our descendants, by what they are: Prefect's ephemeral API server (a uvicorn
#: subprocess), the quality gate's GX worker and the face matcher's descriptor worker
#: (multiprocessing "spawn" children; the one that maps dlib computes descriptors) and
#: anything else.
CHILD_GROUPS = ("api_server", "gx_worker", "face_worker", "other_children")
#: pid -> (group, time classified); a worker found without dlib is looked at again
#: later (its initializer may not have loaded dlib yet when first seen).
_SPAWNED: dict[int, tuple[str, float]] = {}


def _child_group(proc: psutil.Process) -> str:
    try:
        cmdline = " ".join(proc.cmdline())
    except psutil.Error:
        return "other_children"
    if "spawn_main" in cmdline:
        known = _SPAWNED.get(proc.pid)
        if known is None or (known[0] == "gx_worker" and time.monotonic() - known[1] > 5):
            try:
                maps = proc.memory_maps(grouped=True)
            except psutil.Error:
                return "gx_worker"
            dlib = any("_dlib_pybind11" in m.path for m in maps)
            known = ("face_worker" if dlib else "gx_worker", time.monotonic())
            _SPAWNED[proc.pid] = known
        return known[0]
    if "uvicorn" in cmdline or "prefect" in cmdline:
        return "api_server"
    return "other_children"


class ResourceSampler(threading.Thread):
    """Samples RSS (and, every 10th tick, PSS) and CPU time of the processes involved.

    Groups: ``main`` (this process), its descendants split by ``_child_group``
    (``api_server``: Prefect 3 runs the ephemeral API server as a uvicorn
    subprocess; ``gx_worker``: the quality gate's process) and ``postgres`` (the
    embedded server's postmaster and its backends, found through ``postmaster.pid``;
    they are not our descendants). RSS sums count shared pages once per process, so they
    overstate; PSS splits shared pages between the processes mapping them.

    The process list is refreshed every 5th tick (walking /proc costs more than
    reading a few processes' counters); CPU time of a process that exits between
    samples is kept at its last sample. The sampler's own CPU time is reported.
    """

    REFRESH_EVERY = 5
    PSS_EVERY = 10

    def __init__(self, interval: float, pgdata: Path | None) -> None:
        super().__init__(name="resource-sampler", daemon=True)
        self.interval = interval
        self.pgdata = pgdata
        self.phases: dict[str, Usage] = {}
        self.samples = 0
        self.own_cpu_s = 0.0
        self._phase: str | None = None
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._me = psutil.Process()
        #: pid -> (group, Process); refreshed every REFRESH_EVERY ticks
        self._procs: dict[int, tuple[str, psutil.Process]] = {}
        #: pid -> (group, last seen CPU seconds)
        self._cpu: dict[int, tuple[str, float]] = {}

    def _postgres_pids(self) -> set[int]:
        if self.pgdata is None:
            return set()
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
            postmaster = psutil.Process(pid)
            return {pid} | {c.pid for c in postmaster.children(recursive=True)}
        except (OSError, ValueError, psutil.Error):
            return set()

    def _refresh(self) -> None:
        postgres = self._postgres_pids()
        groups = {self._me.pid: "main"}
        for child in self._me.children(recursive=True):
            groups[child.pid] = _child_group(child)
        groups |= {pid: "postgres" for pid in postgres}
        procs: dict[int, tuple[str, psutil.Process]] = {}
        for pid, group in groups.items():
            known = self._procs.get(pid)
            # Reuse Process objects: psutil checks them against pid reuse.
            try:
                procs[pid] = known if known else (group, psutil.Process(pid))
            except psutil.Error:
                continue
        self._procs = procs

    def sample(self, *, with_pss: bool = False, refresh: bool = True) -> None:
        """Take one sample and fold it into the current phase's peaks."""
        with self._lock:
            if refresh or not self._procs:
                self._refresh()
            rss: Counter[str] = Counter()
            pss: Counter[str] = Counter()
            for pid, (group, proc) in list(self._procs.items()):
                try:
                    rss[group] += proc.memory_info().rss
                    cpu = proc.cpu_times()
                    self._cpu[pid] = (group, cpu.user + cpu.system)
                    if with_pss:
                        pss[group] += getattr(proc.memory_full_info(), "pss", 0)
                except psutil.Error:  # exited meanwhile, or not ours to read
                    self._procs.pop(pid, None)
            self.samples += 1
            usage = self.phases.get(self._phase or "")
            if usage is None:
                return
            usage.main_rss = max(usage.main_rss, rss["main"])
            children_rss = sum(rss[g] for g in CHILD_GROUPS)
            usage.children_rss = max(usage.children_rss, children_rss)
            usage.python_rss = max(usage.python_rss, rss["main"] + children_rss)
            usage.postgres_rss = max(usage.postgres_rss, rss["postgres"])
            if with_pss:
                usage.python_pss = max(
                    usage.python_pss, pss["main"] + sum(pss[g] for g in CHILD_GROUPS)
                )
                usage.postgres_pss = max(usage.postgres_pss, pss["postgres"])

    def _cpu_totals(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for group, seconds in self._cpu.values():
            totals[group] = totals.get(group, 0.0) + seconds
        return totals

    def begin(self, phase: str) -> None:
        """Start attributing samples to ``phase`` (ends the previous one)."""
        self.sample(with_pss=True)
        with self._lock:
            if self._phase is not None:
                self.phases[self._phase].cpu_end = self._cpu_totals()
            self._phase = phase
            self.phases[phase] = Usage(cpu_start=self._cpu_totals())

    def end(self) -> None:
        """Close the current phase."""
        self.sample(with_pss=True)
        with self._lock:
            if self._phase is not None:
                self.phases[self._phase].cpu_end = self._cpu_totals()
            self._phase = None

    def run(self) -> None:
        """Sample until :meth:`stop`."""
        tick = 0
        while not self._halt.wait(self.interval):
            tick += 1
            try:
                self.sample(
                    with_pss=tick % self.PSS_EVERY == 0, refresh=tick % self.REFRESH_EVERY == 0
                )
            except Exception:  # never let the sampler kill the benchmark
                continue
            self.own_cpu_s = time.thread_time()

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._halt.set()
        self.join(timeout=5)


@dataclass
class PhaseResult:
    """Wall time and per-application latencies of one measured run."""

    wall_s: float
    latencies_s: list[float]
    n: int

    @property
    def apps_per_min(self) -> float:
        """Applications per minute over the wall time."""
        return 60.0 * self.n / self.wall_s if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "wall_s": round(self.wall_s, 3),
            "apps_per_min": round(self.apps_per_min, 2),
            "s_per_app": round(self.wall_s / self.n, 4) if self.n else None,
            "latency_p50_s": _round(percentile(self.latencies_s, 50)),
            "latency_p95_s": _round(percentile(self.latencies_s, 95)),
            "latency_max_s": _round(max(self.latencies_s, default=None)),
        }


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


# --------------------------------------------------------------------------------------
# Engine floor
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FloorApp:
    """What the engines said about one application (to spot anomalies, not decide)."""

    application_id: str
    elapsed_s: float
    similarity: float | None
    document_fields: int
    findings: tuple[str, ...]


def floor_one(store: ObjectStore, bundle: LandingBundle, engines: Engines) -> FloorApp:
    """Read one application's objects and run the engines on them, nothing else.

    The same engine work as the pipeline's stages (kyc.services): the document is
    read, the selfie compared with the reader's portrait crop (the whole front when
    there is none), and every liveness method run over the same Pictures, so each
    object is fetched, decoded and searched for a face once, as in the pipeline.
    """
    from kyc.domain.application import parse_application
    from kyc.domain.records import LivenessEvidence
    from kyc.services.case import ApplicationImages

    started = time.perf_counter()
    app = parse_application(store.get(bundle.form.key), expected_id=bundle.application_id)
    images = ApplicationImages.of(store, bundle)
    scan = engines.document_reader.read(
        images.front, back=images.back, document_type=app.document.type
    )
    document = images.document_face(scan)
    face = engines.face_matcher.compare(images.selfie, document)
    if face.similarity is None and document is not images.front:
        face = engines.face_matcher.compare(images.selfie, images.front)
    # Liveness is engine work too (the replay check looks at both faces): part of
    # the floor, so the ratio keeps measuring orchestration, not engines.
    evidence = LivenessEvidence(
        selfie=images.selfie,
        document=document,
        frames=images.frames,
        session_id=app.liveness_session_id,
    )
    for checker in engines.liveness_checkers:
        checker.check(evidence)
    elapsed = time.perf_counter() - started
    return FloorApp(
        bundle.application_id,
        elapsed,
        face.similarity,
        len(scan.fields),
        tuple(str(f.reason.value) for f in (*scan.findings, *face.findings)),
    )


def run_floor(
    store: ObjectStore, bundles: list[LandingBundle], engines: Engines, concurrency: int
) -> tuple[PhaseResult, list[FloorApp]]:
    """The engine floor: every bundle through the engines on ``concurrency`` threads."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="floor") as pool:
        apps = list(pool.map(lambda b: floor_one(store, b, engines), bundles))
    wall = time.perf_counter() - started
    return PhaseResult(wall, [a.elapsed_s for a in apps], len(apps)), apps


# --------------------------------------------------------------------------------------
# Stage breakdown (--breakdown)
# --------------------------------------------------------------------------------------


@dataclass
class Timing:
    """Accumulated calls, wall seconds and (where measured) this thread's CPU seconds."""

    calls: int = 0
    wall_s: float = 0.0
    cpu_s: float | None = None


class Breakdown:
    """Thread-safe accumulator of timings per label, attributed to the running task.

    CPU is the calling thread's CPU time (``time.thread_time``): work the call hands
    to other threads or processes (Prefect's event loop, the API server, PostgreSQL)
    is not in it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self.stats: dict[str, Timing] = {}

    def add(self, label: str, wall_s: float, cpu_s: float | None = None) -> None:
        """Record one timed call."""
        with self._lock:
            entry = self.stats.setdefault(label, Timing())
            entry.calls += 1
            entry.wall_s += wall_s
            if cpu_s is not None:
                entry.cpu_s = (entry.cpu_s or 0.0) + cpu_s

    def scoped(self, label: str) -> str:
        """``label [task]`` when called from inside a timed task body."""
        scope = getattr(self._local, "scope", None)
        return f"{label} [{scope}]" if scope else label

    def timed(
        self, label: str, fn: Callable[..., Any], *, scope: str | None = None, scoped: bool = False
    ) -> Callable[..., Any]:
        """Wrap ``fn`` so each call adds its wall and thread CPU time under ``label``.

        Args:
            label: what to record the time under.
            fn: the callable to wrap (signature preserved for Prefect).
            scope: while ``fn`` runs, attribute nested timings to this task name.
            scoped: suffix ``label`` with the current scope (the calling task).
        """

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            name = self.scoped(label) if scoped else label
            previous = getattr(self._local, "scope", None)
            if scope is not None:
                self._local.scope = scope
            started, cpu_started = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - started, time.thread_time() - cpu_started)
                self._local.scope = previous

        return wrapper


class _TimedLock:
    """A lock that records how long each acquisition waited."""

    def __init__(self, inner: Any, breakdown: Breakdown, label: str) -> None:
        self._inner = inner
        self._breakdown = breakdown
        self._label = label

    def __enter__(self) -> Any:
        started = time.perf_counter()
        result = self._inner.__enter__()
        self._breakdown.add(self._label, time.perf_counter() - started)
        return result

    def __exit__(self, *exc: object) -> Any:
        return self._inner.__exit__(*exc)


STAGE_TASKS = (
    "already_decided",
    "load_form",
    "register_application",
    "scan_document",
    "match_face",
    "check_liveness",
    "check_duplicates",
    "check_register",
    "validate_licence",
    "check_data_quality",
    "decide_application",
    "dead_letter",
)


class _TimedTask:
    """Stands in for a stage task: times calls through Prefect, exposes the timed body.

    ``call: <stage>`` times a call through Prefect (one task run, as the
    per-application flow does); the batch flow's ``flows.runner.InlineRunner`` runs
    ``.fn`` in the calling thread instead and is timed as ``inline: <stage>``.
    Everything else is delegated to the real task.
    """

    def __init__(self, task_obj: Any, breakdown: Breakdown, name: str) -> None:
        self._task = task_obj
        self.bench_name = name
        self.fn = breakdown.timed(f"body: {name}", task_obj.fn, scope=name)
        self._call = breakdown.timed(f"call: {name}", task_obj)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(*args, **kwargs)

    def __getattr__(self, item: str) -> Any:
        return getattr(self._task, item)


def instrument(breakdown: Breakdown, engines: Engines, landing: str) -> None:
    """Wrap stage tasks, engines, GX, locks, store reads and DB sessions with timers.

    Each stage gets ``body:`` around its function and ``call:`` (a Prefect task
    run) or ``inline:`` (run inside the application's task run) around the call;
    ``call - body`` is Prefect's cost per task run in the calling thread. Run after
    the floor, before the timed pipeline run; the process ends afterwards, so
    nothing is restored.
    """
    from flows import pipeline as flow_pipeline
    from flows.runner import InlineRunner
    from kyc import runtime, services
    from kyc.db import engine as db_engine
    from tasks import pipeline as tp

    for name in STAGE_TASKS:
        setattr(tp, name, _TimedTask(getattr(tp, name), breakdown, name))
    inline_run = InlineRunner.run

    def timed_inline(runner: Any, stage: Any, *args: Any) -> Any:
        label = f"inline: {getattr(stage, 'bench_name', getattr(stage, 'name', '?'))}"
        return breakdown.timed(label, inline_run)(runner, stage, *args)

    InlineRunner.run = timed_inline  # type: ignore[method-assign]
    proc_task = flow_pipeline.process_application_task
    proc_task.fn = breakdown.timed("body: process_application", proc_task.fn)

    original_session = db_engine.session_scope

    @contextlib.contextmanager
    def timed_session(engine: Any) -> Iterator[Any]:
        label = breakdown.scoped("db session")
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            with original_session(engine) as session:
                yield session
        finally:
            breakdown.add(label, time.perf_counter() - started, time.thread_time() - cpu_started)

    # The services import session_scope by name: replace it where they look it up.
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(services.__path__):
        module = importlib.import_module(f"kyc.services.{info.name}")
        if hasattr(module, "session_scope"):
            module.session_scope = timed_session  # type: ignore[attr-defined]

    reader: Any = engines.document_reader
    matcher: Any = engines.face_matcher
    gate: Any = runtime.current().gate
    reader.read = breakdown.timed("engine: document read", reader.read)
    matcher.compare = breakdown.timed("engine: face compare", matcher.compare)
    gate.validate = breakdown.timed("gx: validate per application (incl. waits)", gate.validate)
    if hasattr(gate, "_flush_for"):  # the batch flow submits early and asks before deciding
        gate._flush_for = breakdown.timed(
            "gx: result wait per application (incl. runs)", gate._flush_for
        )
    if hasattr(gate, "_run"):  # the gate coalesces concurrent rows into one GX run
        gate._run = breakdown.timed("gx: GX runs (one per coalesced batch)", gate._run)
    if hasattr(gate, "_lock"):
        gate._lock = _TimedLock(gate._lock, breakdown, "gx: lock wait")
    if hasattr(reader, "_lock"):
        reader._lock = _TimedLock(reader._lock, breakdown, "engine: MRZ Tesseract lock wait")
    store: Any = runtime.store(landing)
    store.get = breakdown.timed("store get", store.get, scoped=True)


def gx_uncontended_ms(engines: Engines, scan: DocumentScan, repeats: int = 20) -> float:
    """Mean milliseconds of one GX validation of ``scan`` with nothing else running."""
    from kyc import runtime
    from kyc.domain.application import DocumentType

    gate = runtime.current().gate
    today = dt.date.today()
    started = time.perf_counter()
    for _ in range(repeats):
        gate.validate(scan, document_type=DocumentType.DRIVING_LICENCE, today=today)
    return (time.perf_counter() - started) * 1000 / repeats


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def _gib(value: int | None) -> str:
    return "n/a" if not value else f"{value / GIB:.2f} GiB"


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def print_report(report: dict[str, Any]) -> None:
    """Human-readable summary of ``report`` on stdout."""
    m = report["machine"]
    floor, pipe, mem = report["floor"], report["pipeline"], report["memory"]
    w = print
    w("")
    w(f"KYC pipeline benchmark  {report['date']}")
    w(
        f"  machine: {m['cpus']} CPUs, {m['platform']}, Python {m['python']}; "
        f"load average at start {m['loadavg_start']}, at end {m['loadavg_end']}"
    )
    mix = report["mix"]
    w(
        f"  N={report['n']} applications ({mix.get('genuine', 0)} genuine, "
        f"{mix.get('front-only', 0)} front-only (OCR), {mix.get('impostor', 0)} impostors), "
        f"concurrency {report['concurrency']}"
    )
    w(
        f"  warm-up (not counted): engines {report['warmup']['engines_s']:.1f} s, "
        f"pipeline (API server, PostgreSQL, migrations, GX) {report['warmup']['pipeline_s']:.1f} s"
    )
    w("")
    w("engine floor (engines only: no Prefect, no database, no GX)")
    w(
        f"  {floor['apps_per_min']:8.1f} applications/min   {floor['s_per_app']:.3f} s/app   "
        f"wall {floor['wall_s']:.1f} s"
    )
    w(
        f"  latency p50 {_s(floor['latency_p50_s'])}   p95 {_s(floor['latency_p95_s'])}"
        f"   (per application, with {report['concurrency']} running at once)"
    )
    w("pipeline (ingest-landing flow: Prefect tasks + PostgreSQL + GX gate)")
    w(
        f"  {pipe['apps_per_min']:8.1f} applications/min   {pipe['s_per_app']:.3f} s/app   "
        f"wall {pipe['wall_s']:.1f} s"
    )
    w(
        f"  latency p50 {_s(pipe['latency_p50_s'])}   p95 {_s(pipe['latency_p95_s'])}"
        "   (Outcome.elapsed_s: one application, start to outcome)"
    )
    ratio = report["ratio"]
    w(f"ratio pipeline/floor  {ratio:.3f}   (target >= {RATIO_TARGET})")
    w(
        f"  CPU-time ratios floor/pipeline: all processes {report['cpu_ratio']:.3f}, this process"
        f" {report['process_cpu_ratio']:.3f}  (steadier than wall time under other load)"
    )
    w("")
    w("memory (peaks, sampled every 0.2 s)")
    w(
        f"  Python side RSS      {_gib(mem['python_peak_rss'])}   (target < 1.5 GiB; "
        f"this process {_gib(mem['main_peak_rss'])} + children "
        f"{_gib(mem['children_peak_rss'])}; PSS {_gib(mem['python_peak_pss'])})"
    )
    w(
        f"  PostgreSQL RSS       {_gib(mem['postgres_peak_rss'])}   "
        f"(PSS {_gib(mem['postgres_peak_pss'])}; RSS counts shared buffers once per backend)"
    )
    w(
        "CPU seconds per application (user + system; api_server = Prefect's ephemeral API,"
        " gx_worker = the quality gate's process, face_worker = the face matcher's)"
    )
    for phase in ("floor", "pipeline"):
        cpu = report["cpu_s_per_app"][phase]
        parts = "   ".join(f"{k} {v:.3f}" for k, v in cpu.items())
        w(f"  {phase:9s}total {sum(cpu.values()):.3f}   {parts}")
    w(f"  (the resource sampler itself used {mem['sampler_cpu_s']:.1f} CPU s in all)")
    w("")
    outcomes = report["outcomes"]
    w(f"outcomes: status {outcomes['status']}   decisions {outcomes['decision']}")
    if outcomes["unexpected"]:
        w(
            f"  {len(outcomes['unexpected'])} decision(s) differ from the construction "
            "(informational):"
        )
        for item in outcomes["unexpected"][:10]:
            w(f"    {item}")
    if report["floor_anomalies"]:
        w(f"  engine floor anomalies: {report['floor_anomalies'][:10]}")
    if "breakdown" in report:
        _print_breakdown(report["breakdown"], report["n"])
    w("")
    for line in report["target_missed"]:
        w(line)
    for line in report["errors"]:
        w(line)
    if not report["target_missed"] and not report["errors"]:
        w("targets met")


def _print_breakdown(bd: dict[str, Any], n: int) -> None:
    print("")
    print(
        f"stage breakdown (--breakdown; over N={n}; per app = total / N; CPU = the calling"
        " thread's)"
    )
    print(f"  {'label':52s} {'calls':>6s} {'wall s':>8s} {'wall ms/app':>12s} {'CPU ms/app':>11s}")
    for label, t in sorted(bd["stats"].items()):
        cpu = "-" if t["cpu_s"] is None else f"{t['cpu_s'] * 1000 / n:.1f}"
        print(
            f"  {label:52s} {t['calls']:6d} {t['wall_s']:8.2f} {t['wall_s'] * 1000 / n:12.1f}"
            f" {cpu:>11s}"
        )
    print(
        "  cost of running each stage as a task run (call - body) or inline (inline - body),"
        " ms per call: wall / thread CPU"
    )
    for name, (wall_ms, cpu_ms) in bd["stage_overhead_ms_per_call"].items():
        print(f"    {name:40s} {wall_ms:7.1f} / {cpu_ms:5.1f}")
    print(
        f"  Prefect task runs per application: {bd['task_runs_per_app']:.2f}; "
        f"GX validation of one row, nothing else running: {bd['gx_uncontended_ms']:.1f} ms"
    )


def _breakdown_summary(
    breakdown: Breakdown, engines: Engines, scan: DocumentScan, n: int
) -> dict[str, Any]:
    stats = {
        k: {"calls": v.calls, "wall_s": round(v.wall_s, 4), "cpu_s": _round(v.cpu_s, 4)}
        for k, v in breakdown.stats.items()
    }
    overhead: dict[str, tuple[float, float]] = {}
    runs = 0
    for name in STAGE_TASKS:
        body = breakdown.stats.get(f"body: {name}")
        for kind in ("call", "inline"):
            outer = breakdown.stats.get(f"{kind}: {name}")
            if outer and body:
                overhead[f"{name} ({kind})"] = (
                    round((outer.wall_s - body.wall_s) * 1000 / outer.calls, 2),
                    round(((outer.cpu_s or 0.0) - (body.cpu_s or 0.0)) * 1000 / outer.calls, 2),
                )
                runs += outer.calls if kind == "call" else 0
    process = breakdown.stats.get("body: process_application")
    runs += process.calls if process else 0
    return {
        "stats": stats,
        "stage_overhead_ms_per_call": overhead,
        "task_runs_per_app": runs / n if n else 0.0,
        "gx_uncontended_ms": round(gx_uncontended_ms(engines, scan), 2),
    }


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description="Throughput of the batch flow against the engines alone (the engine floor)."
    )
    parser.add_argument("--n", type=int, default=200, help="applications (default 200)")
    parser.add_argument(
        "--concurrency", type=int, default=None, help="workers (default KYC_CONCURRENCY)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--json-out", type=Path, default=None, help="also write JSON here")
    parser.add_argument(
        "--database-url",
        default=None,
        help="use this PostgreSQL instead of a fresh embedded one (kept between runs)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=PROJECT_ROOT / "var" / "bench",
        help="parent of the run's working folder (default var/bench)",
    )
    parser.add_argument("--seed", type=int, default=7, help="RNG seed for the applications")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="time stage tasks, engines, GX, locks and DB sessions during the pipeline run",
    )
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    return args


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the process exit code."""
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=args.workdir))
    if not args.keep:
        # Registered before Prefect and PostgreSQL register theirs, so it runs after
        # the API server and the database server have been stopped (atexit is LIFO).
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    # A plain SIGTERM would skip atexit and leave the API server and PostgreSQL
    # running with their data in the working folder: exit through SystemExit instead.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    prepare_environment(args, workdir)

    from kyc import runtime
    from kyc.demo.batch import generate_applications
    from kyc.domain.landing import group_landing
    from kyc.settings import get_settings
    from kyc.storage.local import LocalStore

    get_settings.cache_clear()
    settings = get_settings()
    concurrency = settings.concurrency
    if not (settings.shared_data_dir / "faces").is_dir():
        _log(f"face photos not found in {settings.shared_data_dir}/faces (set KYC_SHARED_DATA_DIR)")
        return 2
    run_id = uuid.uuid4().hex[:8]
    loadavg_start = [round(x, 2) for x in os.getloadavg()]

    _log(f"working folder {workdir}; generating {args.n} applications (not timed)")
    started = time.perf_counter()
    warm_store = LocalStore(workdir / "warmup-landing")
    generate_applications(
        warm_store, settings.shared_data_dir, 1, run_id=run_id, seed=args.seed + 1, start=10**6
    )
    landing_dir = workdir / "landing"
    store = LocalStore(landing_dir)
    cases = generate_applications(
        store, settings.shared_data_dir, args.n, run_id=run_id, seed=args.seed
    )
    _log(f"generated in {time.perf_counter() - started:.1f} s")
    complete, incomplete = group_landing(store.list("incoming/"))
    if len(complete) != args.n or incomplete:
        _log(f"generator produced {len(complete)} complete / {len(incomplete)} incomplete")
        return 1

    pgdata = None if args.database_url else workdir / "pgdata"
    sampler = ResourceSampler(0.2, pgdata)
    sampler.start()
    errors: list[str] = []

    # --- engine floor ------------------------------------------------------------------
    sampler.begin("floor-warmup")
    started = time.perf_counter()
    # The runtime's engines: the ones the pipeline below uses too.
    engines = runtime.current().engines
    (warm_bundle,), _ = group_landing(warm_store.list("incoming/"))
    floor_one(warm_store, warm_bundle, engines)
    assert warm_bundle.back is not None  # the warm-up application has both sides
    warm_front = warm_store.get(warm_bundle.front.key)
    warm_scan = engines.document_reader.read(warm_front, back=warm_store.get(warm_bundle.back.key))
    # Read the front alone too, so the OCR path is warm as well.
    engines.document_reader.read(warm_front)
    engines_warmup_s = time.perf_counter() - started
    _log(f"engines warm in {engines_warmup_s:.1f} s; engine floor over {args.n} applications")
    sampler.begin("floor")
    floor, floor_apps = run_floor(store, complete, engines, concurrency)
    sampler.end()
    _log(f"engine floor: {floor.apps_per_min:.1f} applications/min")

    # --- pipeline ----------------------------------------------------------------------
    from flows import ingest as ingest_mod

    sampler.begin("pipeline-warmup")
    started = time.perf_counter()
    warm = ingest_mod.ingest_landing(str(workdir / "warmup-landing"))
    pipeline_warmup_s = time.perf_counter() - started
    if [o.status for o in warm] != ["DECIDED"]:
        errors.append(f"ERROR: warm-up application not decided: {[o.as_dict() for o in warm]}")
    breakdown = Breakdown() if args.breakdown else None
    if breakdown is not None:
        instrument(breakdown, engines, str(landing_dir))
    done = 0

    def progress(_: Any) -> None:
        nonlocal done
        done += 1
        if done % max(1, args.n // 10) == 0 or done == args.n:
            _log(f"pipeline: {done}/{args.n}")

    ingest_mod.PROGRESS_HOOKS.append(progress)
    _log(f"pipeline warm in {pipeline_warmup_s:.1f} s; ingest-landing over {args.n} applications")
    sampler.begin("pipeline")
    started = time.perf_counter()
    try:
        outcomes = ingest_mod.ingest_landing(str(landing_dir))
    except Exception as exc:  # report what we have, then fail
        outcomes = []
        errors.append(f"ERROR: ingest-landing failed: {type(exc).__name__}: {exc}")
    wall = time.perf_counter() - started
    sampler.end()
    ingest_mod.PROGRESS_HOOKS.remove(progress)
    sampler.stop()
    latencies = [o.elapsed_s for o in outcomes if o.elapsed_s is not None]
    pipeline = PhaseResult(wall, latencies, args.n)
    _log(f"pipeline: {pipeline.apps_per_min:.1f} applications/min")

    # --- checks ------------------------------------------------------------------------
    expected = {c.application_id: c for c in cases}
    statuses = Counter(str(o.status) for o in outcomes)
    decisions = Counter(o.decision or "-" for o in outcomes)
    unexpected = [
        f"{o.application_id}: {o.decision} {list(o.reasons)} "
        f"(expected {expected[o.application_id].expected})"
        for o in outcomes
        if o.application_id in expected and o.decision != expected[o.application_id].expected
    ]
    not_decided = [o for o in outcomes if o.status != "DECIDED"]
    if len(outcomes) != args.n:
        errors.append(f"ERROR: {len(outcomes)} outcomes for {args.n} applications")
    if not_decided:
        errors.append(
            f"ERROR: {len(not_decided)} application(s) not DECIDED, e.g. "
            f"{not_decided[0].application_id}: {not_decided[0].status} {not_decided[0].detail}"
        )
    engine_errors = [o.application_id for o in outcomes if "ENGINE_ERROR" in o.reasons]
    if engine_errors:
        errors.append(
            f"ERROR: ENGINE_ERROR in {len(engine_errors)} application(s): {engine_errors[:5]}"
        )
    if len(latencies) != len(outcomes):
        errors.append("ERROR: some outcomes carry no elapsed_s")
    floor_anomalies = [
        f"{a.application_id}: {','.join(a.findings) or 'no face similarity'}"
        for a in floor_apps
        if "ENGINE_ERROR" in a.findings or a.similarity is None or not a.document_fields
    ]

    # --- report ------------------------------------------------------------------------
    phases = sampler.phases
    usage = [phases[p] for p in phases]
    # Rounded once, so the report line and the target check show the same figure.
    ratio = round(pipeline.apps_per_min / floor.apps_per_min, 3) if floor.apps_per_min else 0.0
    floor_cpu = phases["floor"].cpu_seconds()
    pipeline_cpu = phases["pipeline"].cpu_seconds()
    # CPU time per application barely moves with other load on the machine, unlike
    # wall time. The engines hold the GIL for much of their work, so this process's
    # CPU is the critical path and its ratio tracks the wall-time ratio best; work in
    # other processes (API server, PostgreSQL) mostly uses the second core's slack.
    cpu_ratio = _ratio(sum(floor_cpu.values()), sum(pipeline_cpu.values()))
    process_cpu_ratio = _ratio(floor_cpu.get("main", 0.0), pipeline_cpu.get("main", 0.0))
    python_peak_rss = max(u.python_rss for u in usage)
    memory: dict[str, Any] = {
        "python_peak_rss": python_peak_rss,
        "main_peak_rss": max(u.main_rss for u in usage),
        "children_peak_rss": max(u.children_rss for u in usage),
        "python_peak_pss": max(u.python_pss for u in usage),
        "postgres_peak_rss": max(u.postgres_rss for u in usage) or None,
        "postgres_peak_pss": max(u.postgres_pss for u in usage) or None,
        # The kernel's own high-water mark of this process (not sampled).
        "main_maxrss_kernel": _maxrss_self(),
        "samples": sampler.samples,
        "sampler_cpu_s": round(sampler.own_cpu_s, 3),
        "by_phase": {
            p: {
                "python_rss": u.python_rss,
                "main_rss": u.main_rss,
                "children_rss": u.children_rss,
                "postgres_rss": u.postgres_rss,
            }
            for p, u in phases.items()
        },
    }
    target_missed = []
    if ratio < RATIO_TARGET:
        target_missed.append(f"TARGET MISSED: ratio pipeline/floor {ratio:.3f} < {RATIO_TARGET}")
    if python_peak_rss >= RSS_TARGET_BYTES:
        target_missed.append(f"TARGET MISSED: Python peak RSS {_gib(python_peak_rss)} >= 1.5 GiB")
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(terse=True),
            "python": platform.python_version(),
            "loadavg_start": loadavg_start,
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        },
        "n": args.n,
        "concurrency": concurrency,
        "mix": dict(Counter(c.kind for c in cases)),
        "database": "external" if args.database_url else "embedded (fresh)",
        "warmup": {
            "engines_s": round(engines_warmup_s, 2),
            "pipeline_s": round(pipeline_warmup_s, 2),
        },
        "floor": floor.as_dict(),
        "pipeline": pipeline.as_dict(),
        "ratio": ratio,
        "cpu_ratio": round(cpu_ratio, 3),
        "process_cpu_ratio": round(process_cpu_ratio, 3),
        "memory": memory,
        "cpu_s_per_app": {
            "floor": {k: round(v / args.n, 4) for k, v in phases["floor"].cpu_seconds().items()},
            "pipeline": {
                k: round(v / args.n, 4) for k, v in phases["pipeline"].cpu_seconds().items()
            },
        },
        "outcomes": {
            "status": dict(statuses),
            "decision": dict(decisions),
            "unexpected": unexpected,
        },
        "floor_anomalies": floor_anomalies,
        "latencies_s": {
            "floor": [round(x, 4) for x in floor.latencies_s],
            "pipeline": [round(x, 4) for x in pipeline.latencies_s],
        },
        "targets": {
            "ratio_min": RATIO_TARGET,
            "python_rss_max_bytes": RSS_TARGET_BYTES,
            "ratio_ok": ratio >= RATIO_TARGET,
            "rss_ok": python_peak_rss < RSS_TARGET_BYTES,
        },
        "target_missed": target_missed,
        "errors": errors,
        "workdir": str(workdir) if args.keep else None,
    }
    if breakdown is not None:
        report["breakdown"] = _breakdown_summary(breakdown, engines, warm_scan, args.n)
    print_report(report)
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
        _log(f"JSON written to {args.json_out}")
    if args.keep:
        _log(f"kept {workdir}")
    # Close pooled connections before the embedded server is stopped at exit.
    from kyc import runtime

    runtime.reset()
    return 1 if errors else 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _maxrss_self() -> int:
    import resource

    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


if __name__ == "__main__":
    sys.exit(main())

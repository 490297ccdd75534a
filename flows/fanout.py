"""Fan-out: one batch shared by the workers of the ``kyc-process`` pool, on many machines.

``ingest-landing`` with ``KYC_FANOUT_CHUNK=N`` (or its ``fanout_chunk`` parameter)
splits its undecided applications into chunks of N and submits each as a flow run of
the ``process-chunk`` deployment (``run_deployment(..., timeout=0)``): every worker
of the pool, on whatever machine, takes chunks as it has room. The ingest run then
coordinates:

* it watches the database (decisions, dead letters, claims) and its chunk runs'
  states, and reports each application's outcome as it lands;
* an application whose chunk's worker died (SIGKILL, OOM, a lost machine) is handed
  out again in a new chunk once its claim is abandoned: the lease ran out, or at once
  when the dead worker ran on the coordinator's machine (kyc/domain/fanout.py);
* one whose claim was abandoned ``KYC_CLAIM_MAX_ATTEMPTS`` times, or that was handed
  to that many chunk runs which all ended without it, is dead-lettered
  PROCESSING_ABANDONED rather than killing (or failing) yet another worker.

A chunk claims all its applications first (kyc/services/claims.py; the heartbeat
renews them), so two chunks, two batches or a batch and an event-triggered run never
run the engines for one application at once; ``record_decision``'s AlreadyDecided
stays the last line of defence. The coordinator itself holds nothing: killed, it
leaves the chunks to finish, and the next sweep reports them ALREADY_DECIDED.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from prefect import flow

from flows.pipeline import already_decided_outcome, claim_owner, decide_concurrently, logger
from flows.runner import InlineRunner
from kyc import runtime
from kyc.db.claims import ClaimState
from kyc.domain.fanout import ClaimView, Key, RunView, chunks, lost
from kyc.domain.landing import LandingBundle
from kyc.domain.records import Outcome, OutcomeStatus
from kyc.services import intake
from kyc.services.claims import Owner, abandoned
from kyc.settings import get_settings
from tasks import pipeline as t

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

#: ``flow name/deployment name`` of the chunk deployment (prefect.yaml).
CHUNK_DEPLOYMENT = "process-chunk/process-chunk"


class FanoutUnavailable(RuntimeError):
    """Fan-out asked for where no worker can take chunks (Prefect's ephemeral API)."""


@flow(name="process-chunk", log_prints=False)
def process_chunk(landing: str, bundles: list[dict[str, Any]]) -> dict[str, int]:
    """Decide one chunk of a fanned-out batch (run by any worker of the pool).

    Args:
        landing: folder or ``s3://bucket/prefix``.
        bundles: the applications, as :meth:`LandingBundle.to_json` wrote them.

    Returns:
        How many applications ended in each outcome status (the coordinator reads
        the outcomes themselves from the database).
    """
    settings = get_settings()
    rt = runtime.current()
    log = logger()
    owner = claim_owner()
    by_key: dict[Key, LandingBundle] = {}
    for data in bundles:
        bundle = LandingBundle.from_json(data)
        by_key[(bundle.application_id, bundle.fingerprint)] = bundle
    # All at once: the coordinator can tell at any time which of them this run holds.
    won = rt.claims.claim(list(by_key), owner)
    counts = {OutcomeStatus.IN_PROGRESS.value: len(by_key) - len(won)}
    runner = InlineRunner(workers=2 * settings.concurrency)
    try:
        mine = [by_key[k] for k in by_key if k in won]
        decided = runner.run(t.decided_applications, mine) if mine else {}
        todo = []
        for bundle in mine:
            previous = decided.get(bundle.application_id)
            if previous is None:
                todo.append(bundle)
                continue
            outcome = already_decided_outcome(bundle.application_id, previous)
            counts[outcome.status.value] = counts.get(outcome.status.value, 0) + 1
            rt.claims.release([(bundle.application_id, bundle.fingerprint)], owner)

        def done(outcome: Outcome) -> None:
            counts[outcome.status.value] = counts.get(outcome.status.value, 0) + 1
            key = next(k for k in won if k[0] == outcome.application_id)
            rt.claims.release([key], owner)

        decide_concurrently(
            runner, landing, todo, workers=settings.concurrency, claimed=True, on_outcome=done
        )
    finally:
        runner.close()
        # Whatever is still held (an error above) goes back at once, not at lease end.
        rt.claims.release(list(won), owner)
    log.info("chunk of %d: %s", len(by_key), counts)
    return counts


def fan_out(
    landing: str,
    bundles: list[LandingBundle],
    *,
    chunk: int,
    on_outcome: Callable[[Outcome], None] = lambda _: None,
) -> list[Outcome]:
    """Hand ``bundles`` to ``process-chunk`` runs of ``chunk`` each; wait for every outcome.

    Args:
        landing: landing URI.
        bundles: undecided applications (the caller asked the database).
        chunk: applications per chunk run.
        on_outcome: called with each outcome as it is found.

    Returns:
        One outcome per bundle: DECIDED (with the decision), ALREADY_DECIDED (decided
        by another run before this batch started) or DEAD_LETTER.

    Raises:
        FanoutUnavailable: Prefect's API is the ephemeral one (no worker exists).
    """
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise FanoutUnavailable(
            "fan-out needs a Prefect server whose kyc-process pool has workers"
            " (make up, or PREFECT_API_URL); set KYC_FANOUT_CHUNK=0 to decide here"
        )
    settings = get_settings()
    rt = runtime.current()
    log = logger()
    started = intake.database_now(rt)
    pending: dict[Key, LandingBundle] = {(b.application_id, b.fingerprint): b for b in bundles}
    assigned: dict[Key, str] = {}
    #: how many chunk runs each application was handed to
    handed: dict[Key, int] = {}
    runs: dict[str, RunView] = {}
    outcomes: list[Outcome] = []

    def submit(keys: list[Key]) -> None:
        for part in chunks(keys, chunk):
            run_id = _submit_chunk(landing, [pending[k] for k in part])
            runs[run_id] = RunView(final=False)
            for key in part:
                assigned[key] = run_id
                handed[key] = handed.get(key, 0) + 1

    def settle(key: Key, outcome: Outcome) -> None:
        del pending[key]
        outcomes.append(outcome)
        on_outcome(outcome)

    submit(list(pending))
    log.info("fan-out: %d applications in %d chunks of %d", len(pending), len(runs), chunk)
    while pending:
        time.sleep(settings.fanout_poll_seconds)
        runs.update(_run_views({assigned[k] for k in pending}))
        # Only applications whose chunk a worker has taken (or finished) can have
        # moved: a batch of 100,000 does not query the database for all of them.
        active = [
            k for k in pending if runs[assigned[k]].final or runs[assigned[k]].taken_for is not None
        ]
        if not active:
            continue
        progress = intake.batch_progress(rt, active, started)
        for key in active:
            outcome = _finished(key, progress, started)
            if outcome is not None:
                settle(key, outcome)
        active = [k for k in active if k in pending]
        views = {k: _claim_view(st) for k, st in rt.claims.states(active).items()}
        gone = lost(
            active,
            assigned=assigned,
            runs=runs,
            claims=views,
            lease_seconds=settings.claim_lease_seconds,
        )
        again = []
        for key in gone:
            view = views.get(key)
            # Claim takeovers count the workers that died holding it; hand-outs count
            # the chunk runs that ended without claiming it (e.g. one that fails at once).
            attempts = max(view.attempts if view is not None else 0, handed[key])
            if attempts >= settings.claim_max_attempts:
                settle(key, _give_up(landing, key, attempts))
            else:
                again.append(key)
        if again:
            log.warning(
                "fan-out: %d applications lost by their workers; handed out again", len(again)
            )
            submit(again)
    return outcomes


def _finished(key: Key, progress: intake.BatchProgress, started: Any) -> Outcome | None:
    """The outcome of a key the database has settled, else None."""
    app_id = key[0]
    row = progress.decided.get(app_id)
    if row is not None:
        if row.decided_at < started:
            return already_decided_outcome(app_id, row)
        return Outcome(
            app_id, OutcomeStatus.DECIDED, row.decision, tuple(row.reasons), scores=row.scores
        )
    dead = progress.dead.get(app_id)
    if dead is not None:
        return Outcome(app_id, OutcomeStatus.DEAD_LETTER, detail=f"{dead[0]}: {dead[1]}")
    return None


def _claim_view(state: ClaimState) -> ClaimView:
    owner = Owner.parse(state.owner)
    return ClaimView(owner.flow_run_id if owner else None, abandoned(state), state.attempts)


def _give_up(landing: str, key: Key, attempts: int) -> Outcome:
    """Dead-letter an application whose every worker died holding it."""
    detail = (
        f"PROCESSING_ABANDONED: handed to workers {attempts} times;"
        " each stopped or failed before deciding it"
    )
    runtime.current().claims.give_up([key])
    t.dead_letter.fn(landing, key[0], "fan-out", "PROCESSING_ABANDONED", detail)
    logger().error("application %s: %s", key[0], detail)
    return Outcome(key[0], OutcomeStatus.DEAD_LETTER, detail=detail)


def _submit_chunk(landing: str, bundles: list[LandingBundle]) -> str:
    """Create one ``process-chunk`` flow run (returns at once); its id."""
    from prefect.deployments import run_deployment

    run = run_deployment(
        name=CHUNK_DEPLOYMENT,
        parameters={"landing": landing, "bundles": [b.to_json() for b in bundles]},
        timeout=0,
        as_subflow=True,
        # A run id per submission: a chunk handed out again is a new run.
        idempotency_key=uuid.uuid4().hex,
    )
    return str(cast("FlowRun", run).id)


def _run_views(run_ids: set[str]) -> dict[str, RunView]:
    """The states of these chunk runs (one API call)."""
    import datetime as dt

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    if not run_ids:
        return {}
    ids = sorted(run_ids)
    found = []
    with get_client(sync_client=True) as client:
        # Pages within the server's default limit (PREFECT_API_DEFAULT_LIMIT, 200).
        for start in range(0, len(ids), 100):
            page = [uuid.UUID(r) for r in ids[start : start + 100]]
            found += client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=page)), limit=len(page)
            )
    now = dt.datetime.now(dt.UTC)
    views = {}
    for run in found:
        state = run.state
        if state is None:
            views[str(run.id)] = RunView(final=False)
            continue
        taken = (
            (now - state.timestamp).total_seconds()
            if state.is_running() or state.is_pending()
            else None
        )
        views[str(run.id)] = RunView(final=state.is_final(), taken_for=taken)
    return views


__all__ = ["CHUNK_DEPLOYMENT", "FanoutUnavailable", "fan_out", "process_chunk"]

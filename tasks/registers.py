"""Prefect tasks for asynchronous register checks: thin wrappers around kyc.services.registers.

Used by flows/registers.py around a suspension (start a run, collect it) and by the
scheduled re-check of registers that were unavailable.
"""

from __future__ import annotations

from prefect import task

from kyc import runtime
from kyc.domain.records import RegisterResult
from kyc.services import registers
from tasks.pipeline import TASK_OPTIONS


@task(name="start-register-run", **TASK_OPTIONS)
def start_register_run(register: str, number: str | None, flow_run_id: str) -> str | None:
    """Start the register's asynchronous run with a webhook that resumes this flow run."""
    return registers.start_register_run(runtime.current(), register, number, flow_run_id)


@task(name="collect-register-run", **TASK_OPTIONS)
def collect_register_run(register: str, number: str, run_id: str) -> RegisterResult:
    """Read a finished register run and cache its answer (found / not found)."""
    return registers.collect_register_run(runtime.current(), register, number, run_id)


@task(name="recheck-registers", **TASK_OPTIONS)
def recheck_registers_task() -> list[dict[str, str]]:
    """Re-check every application decided while its register was unavailable."""
    return registers.recheck_registers(runtime.current())

"""The service layer runs without Prefect: importing it never imports Prefect, flows or tasks.

Checked in a fresh interpreter, module by module: in this process other tests may
have imported Prefect already.
"""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import kyc.services

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("prefect", "flows", "tasks")

#: Runs in the child: import each module in turn, report what it brought in.
CHILD = """
import importlib, json, sys
forbidden = {forbidden!r}
found = {{}}
for name in {modules!r}:
    importlib.import_module(name)
    loaded = sorted({{m.split(".")[0] for m in sys.modules}} & forbidden)
    if loaded:
        found[name] = loaded
        break
print(json.dumps({{"imported": len({modules!r}), "forbidden": found}}))
"""


def service_modules() -> list[str]:
    return sorted(f"kyc.services.{m.name}" for m in pkgutil.iter_modules(kyc.services.__path__))


def test_every_service_module_is_listed() -> None:
    # the list the child imports comes from the package itself, not a copy
    assert {"kyc.services.intake", "kyc.services.decide", "kyc.services.notify"} <= set(
        service_modules()
    )
    assert len(service_modules()) >= 11


def probe(modules: list[str], forbidden: tuple[str, ...] = FORBIDDEN) -> dict[str, object]:
    """Import ``modules`` in a fresh interpreter; the first that brings in ``forbidden``."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(forbidden=set(forbidden), modules=modules)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return report


def test_importing_the_services_leaves_prefect_out() -> None:
    modules = ["kyc.services", *service_modules()]
    assert probe(modules) == {"imported": len(modules), "forbidden": {}}


def test_the_probe_reports_what_a_module_imports() -> None:
    # The probe can fail: the intake service does use SQLAlchemy (and no Prefect).
    report = probe(["kyc.services.intake"], forbidden=("sqlalchemy", "prefect"))
    assert report["forbidden"] == {"kyc.services.intake": ["sqlalchemy"]}


def test_service_tests_do_not_import_prefect_flows_or_tasks() -> None:
    for path in sorted(Path(__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            bad = [n for n in names if n.split(".")[0] in FORBIDDEN]
            assert not bad, f"{path.name}:{node.lineno} imports {bad}"

"""Static rules of the refactor (issue 12), checked on the source with ``ast``.

* No engine reads the settings: nothing under ``kyc/engines/`` imports or calls
  ``get_settings`` (engines receive their configuration from ``kyc/wiring.py``).
* Engine-choice branches live in ``kyc/wiring.py`` only: no ``isinstance(...)``
  against an engine class (a port or an implementation from ``kyc.engines``) in
  ``flows/``, ``tasks/``, ``deployments/`` or the rest of ``kyc/``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINES = ROOT / "kyc" / "engines"
WIRING = ROOT / "kyc" / "wiring.py"
#: Where an engine-choice branch must not be (tasks/ and flows/ above all).
NO_ENGINE_BRANCHES = ("tasks", "flows", "deployments", "kyc")


def python_files(*folders: Path) -> Iterator[Path]:
    for folder in folders:
        yield from sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


# --------------------------------------------------------------------------------------
# get_settings in engines
# --------------------------------------------------------------------------------------


def settings_reads(tree: ast.AST) -> list[int]:
    """Lines that import, reference or call ``get_settings`` (any spelling)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = {a.name for a in node.names}
        elif isinstance(node, ast.Name):
            names = {node.id}
        elif isinstance(node, ast.Attribute):
            names = {node.attr}
        else:
            continue
        if "get_settings" in names:
            lines.append(node.lineno)
    return sorted(set(lines))


def test_engines_exist() -> None:
    files = list(python_files(ENGINES))
    assert len(files) > 10
    assert ENGINES / "face_local.py" in files and ENGINES / "register_apify.py" in files


@pytest.mark.parametrize("path", list(python_files(ENGINES)), ids=lambda p: p.name)
def test_no_engine_reads_the_settings(path: Path) -> None:
    assert settings_reads(parse(path)) == [], f"{path.relative_to(ROOT)} reads get_settings()"


@pytest.mark.parametrize(
    "source",
    [
        "from kyc.settings import get_settings\n",
        "from kyc.settings import get_settings as gs\n",
        "import kyc.settings\nx = kyc.settings.get_settings().face_upsample\n",
        "from kyc import settings\ndef f():\n    return settings.get_settings()\n",
    ],
)
def test_settings_check_catches_every_spelling(source: str) -> None:
    assert settings_reads(ast.parse(source)) != []


def test_settings_check_allows_receiving_settings() -> None:
    source = (
        "from kyc.settings import Settings\ndef from_settings(s: Settings): return s.aws_region\n"
    )
    assert settings_reads(ast.parse(source)) == []


# --------------------------------------------------------------------------------------
# isinstance against engine classes outside kyc/wiring.py
# --------------------------------------------------------------------------------------


@cache
def engine_classes() -> frozenset[str]:
    """Names of the classes defined under kyc/engines (ports and implementations).

    Exceptions (``EngineUnavailable`` and the like) are left out: catching or
    testing for an error is not choosing an engine.
    """
    classes: dict[str, list[str]] = {}
    for path in python_files(ENGINES):
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.ClassDef):
                classes[node.name] = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]
    errors = {
        n for n, bases in classes.items() if any(b.endswith(("Error", "Exception")) for b in bases)
    }
    grown = True
    while grown:  # subclasses of those errors are errors too
        more = {n for n, bases in classes.items() if set(bases) & errors} - errors
        errors |= more
        grown = bool(more)
    return frozenset(set(classes) - errors)


def engine_isinstance_checks(tree: ast.AST, engine_names: frozenset[str]) -> list[str]:
    """``isinstance`` calls whose class argument names an engine class (or an alias)."""
    aliases = set(engine_names)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kyc.engines"):
            aliases |= {a.asname for a in node.names if a.name in engine_names and a.asname}
    found = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "isinstance"
            and len(node.args) == 2
        ):
            continue
        named = {
            n.id if isinstance(n, ast.Name) else n.attr
            for n in ast.walk(node.args[1])
            if isinstance(n, ast.Name | ast.Attribute)
        }
        if named & aliases:
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def outside_wiring() -> list[Path]:
    files = python_files(*(ROOT / folder for folder in NO_ENGINE_BRANCHES))
    return [p for p in files if p != WIRING and ENGINES not in p.parents]


def test_engine_classes_are_found() -> None:
    names = engine_classes()
    assert {"DlibFaceMatcher", "ApifyRegisterClient", "LocalDocumentReader", "FaceMatcher",
            "AsyncRegisterClient"} <= names  # fmt: skip
    assert "EngineUnavailable" not in names


def test_files_outside_wiring_are_checked() -> None:
    files = {p.relative_to(ROOT).as_posix() for p in outside_wiring()}
    assert {"flows/pipeline.py", "flows/runner.py", "tasks/pipeline.py", "tasks/registers.py",
            "kyc/services/faces.py", "kyc/runtime.py"} <= files  # fmt: skip
    assert "kyc/wiring.py" not in files and "kyc/engines/face_local.py" not in files


@pytest.mark.parametrize("path", outside_wiring(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_engine_choice_outside_wiring(path: Path) -> None:
    assert engine_isinstance_checks(parse(path), engine_classes()) == []


@pytest.mark.parametrize(
    "source",
    [
        "from kyc.engines.face_local import DlibFaceMatcher\nif isinstance(m, DlibFaceMatcher): pass\n",
        "from kyc.engines.register_apify import ApifyRegisterClient as A\nok = isinstance(c, (str, A))\n",
        "import kyc.engines.base as base\nok = isinstance(c, base.AsyncRegisterClient)\n",
        "ok = isinstance(c, kyc.engines.register_http.HttpRegisterClient | None)\n",
    ],
)
def test_engine_choice_check_catches_every_spelling(source: str) -> None:
    assert engine_isinstance_checks(ast.parse(source), engine_classes()) != []


def test_engine_choice_check_allows_other_isinstance() -> None:
    source = (
        "from kyc.engines.base import EngineUnavailable\n"
        "from kyc.domain.application import ApplicationInvalid\n"
        "a = isinstance(app, ApplicationInvalid) or isinstance(exc, EngineUnavailable)\n"
    )
    assert engine_isinstance_checks(ast.parse(source), engine_classes()) == []

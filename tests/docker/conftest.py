"""The compose deployment's static proofs need compose-go (the Compose specification's own loader) and
BuildKit's .dockerignore matcher: tests/docker/composecheck, built once from the Go module proxy."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from carpipe.config import REPO_ROOT

TOOL = Path(__file__).parent / "composecheck"
COMPOSE = REPO_ROOT / "docker" / "docker-compose.yml"


def composecheck(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    binary = TOOL / "composecheck"
    sources = [TOOL / n for n in ("main.go", "go.mod", "go.sum")]
    if not binary.exists() or binary.stat().st_mtime < max(p.stat().st_mtime for p in sources):
        go = shutil.which("go") or "/usr/local/go/bin/go"
        print(f"building {binary.relative_to(REPO_ROOT)} (compose-go, patternmatcher) ...", flush=True)
        subprocess.run([go, "build", "-buildvcs=false", "-o", str(binary), "."], cwd=TOOL, check=True, timeout=600)
    out = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=120)
    if check:
        assert out.returncode == 0, f"composecheck {args}: {out.stderr}"
    return out


@pytest.fixture(scope="session")
def project() -> dict:
    """docker-compose.yml as compose-go loads it: validated against the spec, interpolated, anchors
    and merges resolved."""
    return json.loads(composecheck("config", str(COMPOSE)).stdout)


@pytest.fixture(scope="session")
def build_context() -> set[str]:
    """Every file `docker build` would send from the repository (the images' context)."""
    return set(composecheck("context", str(REPO_ROOT)).stdout.splitlines())

"""Each image, rebuilt as far as no engine is needed: its Dockerfile's last stage replayed into a fresh
directory (COPY from the build context as .dockerignore filters it, RUN pip into a fresh venv), then
every entry module the compose file runs imported from there. First file: the generator image lacked
numpy, so `import generator.app` failed."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from carpipe.config import REPO_ROOT

pytestmark = pytest.mark.integration  # pip installs each image's package set (from pip's cache when warm)

DOCKER = REPO_ROOT / "docker"


def last_stage(dockerfile: Path) -> list[str]:
    """The last stage's instructions, continuation lines joined."""
    lines, current = [], ""
    for raw in dockerfile.read_text().splitlines():
        if raw.lstrip().startswith("#"):
            continue
        current += raw.rstrip().removesuffix("\\") + " " if raw.rstrip().endswith("\\") else raw
        if not raw.rstrip().endswith("\\"):
            if current.strip():
                lines.append(current.strip())
            current = ""
    starts = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    return lines[starts[-1]:]


def replay(dockerfile: Path, root: Path, build_context: set[str]) -> tuple[Path, Path]:
    """(WORKDIR, venv) after the last stage's COPY and pip RUN instructions; other RUNs (apt, users,
    directories) are the base system's business and are left out."""
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    workdir = root / "image"
    for line in last_stage(dockerfile):
        op, _, rest = line.partition(" ")
        if op == "WORKDIR":
            workdir = root / "image" / rest.strip().lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif op == "COPY" and "--from" not in rest:
            *sources, dest = [a for a in shlex.split(rest) if not a.startswith("--")]
            target = workdir / dest if not dest.startswith("/") else root / "image" / dest.lstrip("/")
            for src in sources:  # COPY's rules: a directory's contents go into dest; files keep their name
                prefix = "" if src == "." else src.rstrip("/") + "/"
                inside = sorted(f for f in build_context if f.startswith(prefix))
                if inside:
                    pairs = [(f, target / f[len(prefix):]) for f in inside]
                else:
                    assert src in build_context, f"{dockerfile.name}: COPY {src}: not in the build context"
                    many = len(sources) > 1 or dest.endswith("/")
                    pairs = [(src, target / Path(src).name if many else target)]
                for f, out in pairs:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(REPO_ROOT / f, out)
        elif op == "RUN" and "pip install" in rest:
            for cmd in rest.split("&&"):
                cmd = cmd.strip().replace("--no-cache-dir", "")
                if cmd.startswith("pip "):
                    print(f"[{dockerfile.name}] {cmd}", flush=True)
                    subprocess.run(["bash", "-c", f"{env_dir / 'bin'}/{cmd}"], cwd=workdir, check=True,
                                   timeout=1800)
    return workdir, env_dir


def run_in(image: tuple[Path, Path], *args: str, tmp: Path) -> subprocess.CompletedProcess:
    workdir, env_dir = image
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp), "PYTHONPATH": str(workdir),
           "AIRFLOW_HOME": str(tmp / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(workdir / "dags"), "JAVA_HOME": os.environ.get("JAVA_HOME", "")}
    return subprocess.run([str(env_dir / "bin" / "python"), *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def generator_image(tmp_path_factory, build_context):
    return replay(DOCKER / "generator.Dockerfile", tmp_path_factory.mktemp("generator-image"), build_context)


@pytest.fixture(scope="module")
def airflow_image(tmp_path_factory, build_context):
    return replay(DOCKER / "airflow.Dockerfile", tmp_path_factory.mktemp("airflow-image"), build_context)


def test_the_generator_image_serves_its_api(generator_image, tmp_path):
    out = run_in(generator_image, "-c", """
import os
from generator.app import create_app
client = create_app().test_client()
r = client.get('/openapi.json')
print(r.status_code, sorted(r.get_json()['paths']), flush=True)
os._exit(0)
""", tmp=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("200 ") and "/api/bursts" in out.stdout, out.stdout
    # Only what the Dockerfile copies is there: the other legs and the DAGs are not in this image.
    assert not (generator_image[0] / "spark_apps").exists() and (generator_image[0] / "generator" / "app.py").exists()


def test_the_airflow_image_parses_every_dag(airflow_image, tmp_path):
    out = run_in(airflow_image, "-c", """
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder="dags")
print(sorted(bag.dag_ids), bag.import_errors)
assert not bag.import_errors, bag.import_errors
""", tmp=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    for dag in ("car_transactions_burst", "car_transactions_to_influx", "platform_setup", "reconcile_hdfs_influx"):
        assert dag in out.stdout


@pytest.mark.parametrize("args", [["-c", "import spark_apps.kafka_to_influx, pyspark; print(pyspark.__version__)"],
                                  ["-m", "flume.runner", "--help"],
                                  ["docker/init.py", "--help"]])
def test_the_airflow_image_runs_its_entry_modules(airflow_image, tmp_path, args):
    out = run_in(airflow_image, *args, tmp=tmp_path)
    expected = 2 if args[0] == "docker/init.py" else 0  # init.py: usage on anything but its commands
    assert out.returncode == expected, out.stdout[-2000:] + out.stderr[-3000:]
    if args[0] == "docker/init.py":
        assert "usage: init.py prepare|bootstrap" in out.stderr

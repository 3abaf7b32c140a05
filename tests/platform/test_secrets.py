"""Secrets stay out of world-readable files, rendered configs, process environments and printouts
(hermetic: renders the stack into a temporary state dir, starts nothing)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from carpipe.config import SECRET_FIELDS, Settings
from stack.services import Stack, store_secrets, write_private

SECRET = 'pw-%(x)s-"q"-\\-,=-' + os.urandom(6).hex()  # what breaks supervisord's %-expansion and quoting


@pytest.mark.parametrize("profile", ["embedded", "cluster"])
def test_rendered_configs_are_private_and_hold_no_secret(tmp_path, profile):
    stack = Stack(Settings(profile=profile, state_dir=tmp_path, influx_password=SECRET, generator_token=SECRET,
                           redis_password=SECRET))
    programs = stack.render()
    rendered = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert stack.supervisor_conf in rendered and len(rendered) > 5
    assert {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in rendered} == {str(p): "0o600" for p in rendered}
    assert [str(p) for p in rendered if SECRET in p.read_text()] == []
    assert [p.name for p in programs if SECRET in " ".join([*p.command, *p.env.values()])] == []


def test_services_read_a_stored_secret_back_exactly(tmp_path):
    secrets = tmp_path / "secrets"
    env = {**os.environ, "CARPIPE_SECRETS_DIR": str(secrets)}
    env.pop("CARPIPE_INFLUX_PASSWORD", None)
    only_influx = {name: "" for name in SECRET_FIELDS} | {"influx_password": SECRET}  # not the stack's own
    [path] = store_secrets(Settings(**only_influx), secrets)
    assert path.parent == secrets and stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    out = subprocess.run([sys.executable, "-c", "from carpipe.config import Settings; "
                          "print(Settings().influx_password, end='')"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout == SECRET


def test_the_config_printout_does_not_show_secrets():
    env = {**os.environ, "CARPIPE_INFLUX_PASSWORD": SECRET, "CARPIPE_GENERATOR_TOKEN": SECRET}
    out = subprocess.run([sys.executable, "-m", "carpipe.config"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert SECRET not in out.stdout + out.stderr
    assert {"# CARPIPE_INFLUX_PASSWORD is set (secret, not shown)",
            "# CARPIPE_GENERATOR_TOKEN is set (secret, not shown)"} <= set(out.stdout.splitlines())


def test_private_files_are_0600_even_when_they_existed_readable(tmp_path):
    path = tmp_path / "connections.json"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, "new")
    assert (path.read_text(), stat.S_IMODE(path.stat().st_mode)) == ("new", 0o600)


@pytest.mark.integration
def test_the_running_stack_keeps_every_generated_secret_in_private_files_only(stack_up):
    """After `make up`: each generated credential (generator token, Influx and metadata-DB passwords, the
    Airflow login) appears in no log, no process environment or command line and no printout, and in no
    file of the state dir that anyone but its owner can read."""
    import json

    import psutil

    from stack.postgres import PGPASS
    from stack.services import AIRFLOW_PASSWORDS

    found = {"generator token": stack_up.generator_token, "influx password": stack_up.influx_password,
             "metadata DB password": PGPASS.read_text().strip().rsplit(":", 1)[1],
             "airflow login": json.loads(AIRFLOW_PASSWORDS.read_text())[stack_up.airflow_user]}
    if stack_up.celery_workers:  # the cluster profile's Celery broker
        found["redis password"] = stack_up.redis_password
    assert all(len(v) >= 16 for v in found.values()), "the stack's secrets are generated"
    leaks = []
    for top in ("conf", "logs", "airflow", "flume"):
        for path in (stack_up.state_dir / top).rglob("*"):
            if not path.is_file() or path.stat().st_size > 200 * 2**20:
                continue
            text = path.read_bytes().decode(errors="replace")
            hits = [name for name, value in found.items() if value in text]
            if hits and (path.is_relative_to(stack_up.logs_dir) or path.stat().st_mode & 0o077):
                leaks.append((str(path), oct(stat.S_IMODE(path.stat().st_mode)), hits))
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            seen = " ".join(p.info["cmdline"] or []) + " ".join(f"{k}={v}" for k, v in p.environ().items())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        leaks += [(f"process {p.pid} {p.name()}", "", [n for n, v in found.items() if v in seen])]
    for cmd in (["stack.ctl", "urls"], ["carpipe.config"]):
        out = subprocess.run([sys.executable, "-m", *cmd], capture_output=True, text=True)
        leaks.append((" ".join(cmd), "", [n for n, v in found.items() if v in out.stdout + out.stderr]))
    assert [leak for leak in leaks if leak[2]] == []

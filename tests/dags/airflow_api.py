"""A small client for the running Airflow's REST API (what the UI uses) and its CLI, for the DAG tests."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import datetime
from typing import Any

import requests

from carpipe.config import Settings
from tests.dags.conftest import airflow_env
from tests.platform.test_services import airflow_token

TERMINAL = {"success", "failed"}


class AirflowApi:
    def __init__(self, settings: Settings):
        self.base = f"{settings.airflow_url}/api/v2"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {airflow_token(settings)}"

    def request(self, method: str, path: str, attempts: int = 5, **kwargs) -> Any:
        """One API call; a few retries on 5xx and connection errors (an API server restarting)."""
        for attempt in range(attempts):
            try:
                r = self.session.request(method, f"{self.base}{path}", timeout=60, **kwargs)
            except requests.ConnectionError:
                if attempt == attempts - 1:
                    raise
            else:
                if r.status_code < 500 or attempt == attempts - 1:
                    break
            time.sleep(2 * (attempt + 1))
        if r.status_code >= 400:
            raise AssertionError(f"{method} {path}: HTTP {r.status_code}: {r.text[:1000]}")
        return r.json() if r.content else None

    def get(self, path: str, **params) -> Any:
        return self.request("GET", path, params=params)

    # -- runs -----------------------------------------------------------------------------------
    def dag(self, dag_id: str) -> dict:
        return self.get(f"/dags/{dag_id}")

    def pause(self, dag_id: str, paused: bool) -> None:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, conf: dict | None = None) -> dict:
        """What the UI's trigger form does: a manual run (no logical date) with params as conf."""
        return self.request("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}")

    def runs(self, dag_id: str, **filters) -> list[dict]:
        return self.get(f"/dags/{dag_id}/dagRuns", limit=100, **filters)["dag_runs"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(dag_id, run_id)
            if run["state"] in TERMINAL:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"{dag_id} run {run_id} still {run['state']} after {timeout:.0f}s: "
                                     f"{self.task_states(dag_id, run_id)}")
            time.sleep(3)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {f"{t['task_id']}[{t['map_index']}]" if t["map_index"] >= 0 else t["task_id"]: t["state"]
                for t in self.task_instances(dag_id, run_id)}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
                        map_index=map_index, deserialize=True)["value"]

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """A task attempt's log as text (structured log events joined by lines)."""
        body = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                        map_index=map_index, full_content=True)
        content = body.get("content")
        if isinstance(content, str):
            return content
        lines = []
        for event in content or []:
            if isinstance(event, dict):
                lines.append(str(event.get("event", "")))
                if event.get("error_detail"):
                    lines.append(str(event["error_detail"]))
            else:
                lines.append(str(event))
        return "\n".join(lines)


def airflow_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run the `airflow` CLI against the stack's metadata DB, as an operator would."""
    from stack.services import venv_bin

    out = subprocess.run([str(venv_bin() / "airflow"), *args], capture_output=True, text=True,
                         env={**os.environ, **airflow_env(), **(env or {})}, timeout=timeout)
    if out.returncode != 0:
        raise AssertionError(f"airflow {' '.join(args)} failed ({out.returncode}):\n"
                             f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out.stdout


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")

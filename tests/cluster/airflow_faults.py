"""Faults of Airflow's own processes on the cluster profile, injected into the windows of the end-to-end
test (tests/dags/test_pipeline_e2e.py) while the real scheduler runs them.

A fault is the loss of a component's host: SIGKILL of its whole process tree at once (the component and
everything it started: task processes, spark-submit and its driver JVM), as a machine that dies takes
every process on it; supervisord brings the component back, as a cluster's own supervisor would.
"""

from __future__ import annotations

import signal
import time
from datetime import datetime

import psutil
import requests

from carpipe.config import Settings
from carpipe.windows import UTC, Window, iso_ms, parse_utc
from stack import health
from stack.services import Stack
from tests.dags.airflow_api import AirflowApi
from tests.dags.pipeline_runs import wait_for
from tests.generator.test_broker_outage import program_pid

SCHEDULER = "airflow-scheduler"


def kill_tree(pid: int) -> list[psutil.Process]:
    """SIGKILL ``pid`` and every process below it, all at once; what was killed."""
    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    return procs


def scheduler_heartbeat(s: Settings) -> datetime | None:
    body = requests.get(f"{s.airflow_url}/api/v2/monitor/health", timeout=5).json()
    beat = (body.get("scheduler") or {}).get("latest_scheduler_heartbeat")
    return parse_utc(beat) if beat else None


def kill_scheduler_mid_run(api: AirflowApi, stack: Settings, dag_id: str, run_id: str, task_id: str) -> dict:
    """Once ``task_id`` of the run is running: kill the scheduler's host; back when a new scheduler
    heartbeats."""
    states = wait_for(f"{dag_id} {run_id}: {task_id} running",
                      lambda: (st := api.task_states(dag_id, run_id)).get(task_id) == "running" and st, 120)
    pid = program_pid(stack, SCHEDULER)
    killed_at = datetime.now(UTC)
    killed = kill_tree(pid)
    started = time.monotonic()
    wait_for("a new scheduler", lambda: _pid_or_none(stack, SCHEDULER) not in (None, pid), 120)
    wait_for("the new scheduler's heartbeat", lambda: (b := scheduler_heartbeat(stack)) and b > killed_at, 180)
    return {"killed_at": killed_at, "processes": len(killed), "states_at_kill": states,
            "back_after_s": round(time.monotonic() - started, 1)}


def kill_worker_under_spark(api: AirflowApi, stack: Settings, topic: str, dag_id: str, run_id: str, task_id: str,
                            window: Window, timeout: float) -> dict:
    """Once the run's Spark job for ``window`` of ``topic`` has its application on the master: kill the
    host of the Celery worker running it (whichever it is). The task's try dies with it."""
    wait_for(f"{dag_id} {run_id}: {task_id} running",
             lambda: api.task_states(dag_id, run_id).get(task_id) == "running", timeout, every=2)
    start_arg = iso_ms(window.start)

    def submit():
        for p in psutil.process_iter(["cmdline"]):
            cmd = p.info["cmdline"] or []
            if any(a.endswith("kafka_to_influx.py") for a in cmd) and start_arg in cmd and topic in cmd:
                return p
        return None

    job = wait_for(f"spark-submit of {window}", submit, 120)
    wait_for("the job's application on the master", lambda: any(
        a["name"] == "kafka_to_influx" and a["starttime"] / 1000 >= job.create_time() - 1
        for a in health.spark_master_state(stack)["activeapps"]), 120)
    workers = {program_pid(stack, name): name for name in Stack(stack).celery_worker_names()}
    worker = next(workers[p.pid] for p in job.parents() if p.pid in workers)
    time.sleep(2)  # the executors are at work
    assert job.is_running(), "the job ended before the kill"
    killed_at = datetime.now(UTC)
    killed = kill_tree(program_pid(stack, worker))
    assert job in killed
    started = time.monotonic()
    wait_for(f"{worker} back", lambda: health.check(worker, stack)[0], 180, every=2)
    return {"worker": worker, "killed_at": killed_at, "processes": len(killed),
            "back_after_s": round(time.monotonic() - started, 1)}


def _pid_or_none(s: Settings, program: str) -> int | None:
    try:
        return program_pid(s, program)
    except AssertionError:
        return None


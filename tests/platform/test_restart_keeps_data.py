"""`make down` then `make up` keeps Kafka records, HDFS files, Influx points and Airflow's metadata;
`make down` in the middle of a DAG run leaves no process of the stack behind."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone

import pytest

from carpipe import cadence
from carpipe.influx import client_from_settings
from tests.dags.airflow_api import AirflowApi
from tests.platform.test_services import consume_all, new_topic, produce, webhdfs

pytestmark = [pytest.mark.integration, pytest.mark.disruptive]  # make down, make up


def ctl(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "stack.ctl", *args], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, f"stack.ctl {args} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    return out.stdout


def room_for_a_burst(s, duration: int) -> None:
    """Wait, if need be, for a window in which a manual burst of ``duration`` s is planned."""
    now = lambda: datetime.now(timezone.utc)  # noqa: E731
    while cadence.burst_window(now(), s.window_seconds, duration).start > now():
        time.sleep(5)


def test_down_then_up_keeps_data(stack_up):
    tag = uuid.uuid4().hex[:8]
    topic = new_topic(stack_up, f"platform-restart-{tag}")
    produce(stack_up, topic, ["kept-1", "kept-2"])
    path = f"/tmp/platform-restart/{tag}.txt"
    webhdfs(stack_up, "CREATE", path, method="PUT", data=b"kept\n", overwrite="true")
    influx = client_from_settings(stack_up)
    base_ns = time.time_ns() - 3600 * 10**9
    influx.write([f"platform_restart,run={tag} value=1i {base_ns + i}" for i in range(3)])
    api = AirflowApi(stack_up)
    api.request("POST", "/variables", json={"key": f"platform_restart_{tag}", "value": "kept"})
    # Two burst runs in flight, their burst tasks (Airflow task processes) and Flume tasks (BashOperator:
    # the runner and the agent's JVM, in a session of their own) running: one burst producing in the
    # current window, one waiting for the next window's start (the longest burst never fits the rest of
    # a window). A burst stopped in its wait once failed with a plain error (its burst point dated
    # before the window), and so was retried after `make up`, producing into a window not planned for.
    api.pause("car_transactions_burst", False)  # a paused DAG (say, for a benchmark) would never run it
    room_for_a_burst(stack_up, 90)
    runs = {phase: api.trigger("car_transactions_burst", {"rate": 5, "duration": duration})["dag_run_id"]
            for phase, duration in [("producing", 60),
                                    ("waiting", cadence.max_burst_seconds(stack_up.window_seconds))]}
    deadline = time.monotonic() + 180
    for run in runs.values():
        while (states := api.task_states("car_transactions_burst", run)).get("flume_agent") != "running" \
                or states.get("burst") != "running":
            assert time.monotonic() < deadline, f"the run's tasks did not start: {states}"
            time.sleep(2)
    from stack.ctl import leftover_processes

    while not any("flume" in " ".join(p.cmdline()) for p in leftover_processes()):
        assert time.monotonic() < deadline, "no Flume process of the runs to stop"
        time.sleep(1)

    started = time.monotonic()
    stopped = ctl("down")
    took = time.monotonic() - started
    left = leftover_processes()
    assert "killing left-over" not in stopped, f"supervisord's stop left task processes:\n{stopped}"
    assert left == [], f"make down left processes of the stack running: {left}"
    # The scheduler waits for its running tasks: a burst that ignored SIGTERM held it for 60 s (its
    # stopwaitsecs), then SIGKILL.
    assert took < 50, f"make down took {took:.0f}s with a run in flight:\n{stopped}"
    ctl("up")
    for phase, run in runs.items():
        burst = api.get(f"/dags/car_transactions_burst/dagRuns/{run}/taskInstances/burst")
        assert (burst["state"], burst["try_number"]) == ("failed", 1), \
            f"the {phase} burst cut by make down should have failed, not been retried: {burst}"
        said = api.log("car_transactions_burst", run, "burst", 1)
        assert ("waiting" in said) == (phase == "waiting") and "SIGTERM received" in said, said[-3000:]

    assert api.get(f"/variables/platform_restart_{tag}")["value"] == "kept"
    api.request("DELETE", f"/variables/platform_restart_{tag}")

    assert sorted(consume_all(stack_up, topic, 2)) == ["kept-1", "kept-2"]
    assert webhdfs(stack_up, "OPEN", path).content == b"kept\n"
    rows = influx.rows(f"SELECT count(value) FROM platform_restart WHERE run = '{tag}'")
    assert rows[0]["count"] == 3

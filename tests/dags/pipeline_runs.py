"""The running DAGs, driven and read the way an operator would: switching them to a scratch namespace
(their own topic, consumer group, HDFS paths and database, on any cadence) through the DAGs' overrides
file, and reading a window's runs, tasks, burst report and audit point back. Shared by the end-to-end test
(tests/dags/test_pipeline_e2e.py) and the cycle benchmark (tests/bench/bench_cycle.py)."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Iterator

from carpipe import cadence
from carpipe.config import Settings
from carpipe.dag_settings import overrides_path, settings_for
from carpipe.influx import client_from_settings
from carpipe.windows import UTC, Window, parse_utc
from tests.dags.airflow_api import AirflowApi, airflow_cli, iso

BURST_DAG, SPARK_DAG, RECONCILE_DAG = "car_transactions_burst", "car_transactions_to_influx", "reconcile_hdfs_influx"
PIPELINE_DAGS = (BURST_DAG, SPARK_DAG, RECONCILE_DAG)


def now() -> datetime:
    return datetime.now(UTC)


def reserialize() -> None:
    """Re-parse the DAG files now (they read the overrides file) instead of waiting for the DAG processor."""
    airflow_cli("dags", "reserialize", timeout=300)


def write_overrides(s: Settings, text: str | None) -> None:
    """Write (owner-only, atomically) or remove the DAGs' overrides file of the stack ``s``."""
    path = overrides_path(s)
    if text is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(path)


def wait_cadence(api: AirflowApi, cron: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        summaries = {d: api.dag(d)["timetable_summary"] for d in (BURST_DAG, SPARK_DAG)}
        if set(summaries.values()) == {cron}:
            return
        assert time.monotonic() < deadline, f"DAGs not on {cron} after {timeout:.0f}s: {summaries}"
        time.sleep(3)


def sleep_until(t: datetime) -> None:
    time.sleep(max(0.0, (t - now()).total_seconds()))


def scratch_names(kind: str) -> dict[str, str]:
    """Settings that give the DAGs a namespace of their own (tagged, so reruns never collide)."""
    tag = f"{kind}-{uuid.uuid4().hex[:8]}"
    return {"topic": f"carpipe-{tag}", "flume_consumer_group": f"flume-{tag}",
            "hdfs_base_path": f"/carpipe-{tag}/Cars", "hdfs_dead_letter_path": f"/carpipe-{tag}/Cars-dead-letter",
            "influx_db": f"ETL_Project_{tag.replace('-', '_')}"}


@contextmanager
def scratch_namespace(api: AirflowApi, stack: Settings, overrides: dict[str, Any],
                      expires: timedelta) -> Iterator[tuple[Settings, datetime]]:
    """The running DAGs switched to ``overrides`` (scratch names and a cadence) for the block: yields
    their settings and when the switch was done. The overrides file expires by itself after
    ``expires`` (a run that dies cannot leave the platform switched).

    The Spark DAG is paused across the switch: otherwise the scheduler would at once process the
    latest closed intervals, which precede the scratch namespace (empty windows), and the windows
    between the switch and the ones under test, all of it CPU nobody needs. The caller unpauses it once
    its first window has closed. Afterwards the file is removed, the DAGs are back on the configured
    cadence with the pause states they had, and the scratch topic, data and channel are gone."""
    paused = {d: api.dag(d)["is_paused"] for d in PIPELINE_DAGS}
    switched_at = now()
    api.pause(SPARK_DAG, True)
    s = settings_for(overrides)
    try:
        write_overrides(stack, json.dumps({**overrides, "expires_at": iso(now() + expires)}))
        run = api.trigger("platform_setup")
        done = api.wait_run("platform_setup", run["dag_run_id"], timeout=300)
        assert done["state"] == "success", api.task_states("platform_setup", run["dag_run_id"])
        assert api.xcom("platform_setup", run["dag_run_id"], "kafka_topic")["topic"] == s.topic
        reserialize()
        wait_cadence(api, cadence.window_cron(s.window_seconds))
        yield s, now()
    finally:
        try:
            write_overrides(stack, None)
        finally:  # whatever happened, put the DAGs back on the configured cadence, as they were
            try:
                reserialize()
            finally:
                for d, state in paused.items():
                    api.pause(d, state)
        wait_cadence(api, cadence.window_cron(settings_for({}).window_seconds))
        cleanup(api, s, switched_at, now())


def cleanup(api: AirflowApi, s: Settings, since: datetime, until: datetime) -> None:
    """Stop the scratch runs still going (nothing needs them, and they would retry against deleted
    resources; their tasks get SIGTERM, on which the Flume runner stops its agent cleanly), then drop
    the scratch database, HDFS paths, topic and channel."""
    active = [(d, r["dag_run_id"]) for d in (BURST_DAG, SPARK_DAG, RECONCILE_DAG)
              for r in api.runs(d, order_by="-run_after")
              if r["state"] in ("running", "queued") and r["queued_at"]
              and since <= parse_utc(r["queued_at"]) <= until]
    for dag_id, run_id in active:
        api.request("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", json={"state": "failed"})
    if active:
        time.sleep(30)  # the workers notice at their next heartbeat
    from confluent_kafka.admin import AdminClient

    from flume import agent_conf
    from carpipe.webhdfs import webhdfs

    client_from_settings(s).query(f'DROP DATABASE "{s.influx_db}"', database=None)
    webhdfs(s).delete(s.hdfs_base_path.rsplit("/", 1)[0], recursive=True)
    admin = AdminClient({"bootstrap.servers": s.kafka_bootstrap})
    admin.delete_topics([s.topic])[s.topic].result(30)
    shutil.rmtree(agent_conf.state_dir(s), ignore_errors=True)


def audit(s: Settings, w: Window) -> dict | None:
    rows = client_from_settings(s).rows(f'SELECT * FROM "{s.audit_measurement}" WHERE time = {w.start_ms}ms')
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


def run_at(api: AirflowApi, dag_id: str, logical: datetime) -> dict:
    runs = [r for r in api.runs(dag_id, logical_date_gte=iso(logical), logical_date_lte=iso(logical))]
    assert len(runs) == 1, runs
    return runs[0]


def wait_for(what: str, check, timeout: float, every: float = 1.0):
    """``check()``'s first truthy answer, asked every ``every`` s; fails naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (got := check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f}s"
        time.sleep(every)
    return got


def wait_run_at(api: AirflowApi, dag_id: str, logical: datetime, timeout: float = 120) -> str:
    """The id of the run the scheduler creates for ``logical`` (once it has)."""
    return wait_for(f"a {dag_id} run at {iso(logical)}", lambda: next(
        (r["dag_run_id"] for r in api.runs(dag_id, logical_date_gte=iso(logical), logical_date_lte=iso(logical))),
        None), timeout, every=2)


def task(api: AirflowApi, dag_id: str, run_id: str, task_id: str) -> dict:
    return next(t for t in api.task_instances(dag_id, run_id) if t["task_id"] == task_id)


def reconcile_instance(api: AirflowApi, w: Window, after: datetime) -> tuple[dict, dict]:
    """The successful reconcile_window instance (and its run) that checked ``w``, newest first."""
    for run in api.runs(RECONCILE_DAG, run_after_gte=iso(after), order_by="-run_after"):
        for ti in api.task_instances(RECONCILE_DAG, run["dag_run_id"]):
            if ti["task_id"] == "reconcile_window" and ti["state"] == "success" and ti["rendered_map_index"] == w.label():
                return run, ti
    raise AssertionError(f"no successful reconcile_window for {w.label()} after {after}")


def timeline(api: AirflowApi, s: Settings, w: Window, after: datetime) -> dict[str, float]:
    """Seconds after the window end at which each stage of the window was done."""
    from carpipe.webhdfs import list_files, webhdfs

    burst_run = run_at(api, BURST_DAG, w.start)["dag_run_id"]
    report = api.xcom(BURST_DAG, burst_run, "burst")
    spark_run = run_at(api, SPARK_DAG, w.start)["dag_run_id"]
    _, rec = reconcile_instance(api, w, after)
    closed = max(f.modified for f in list_files(webhdfs(s), w.hdfs_dir(s.hdfs_base_path)))
    marks = {
        "burst end (last ack)": parse_utc(report["ended_at"]),
        "HDFS files closed (last mtime)": closed,
        "Flume runner exited": parse_utc(task(api, BURST_DAG, burst_run, "flume_agent")["end_date"]),
        "Influx written (Spark task end)": parse_utc(task(api, SPARK_DAG, spark_run, "spark_kafka_to_influx")["end_date"]),
        "reconciled (ok)": parse_utc(rec["end_date"]),
    }
    return {k: round((v - w.end).total_seconds(), 1) for k, v in marks.items()}

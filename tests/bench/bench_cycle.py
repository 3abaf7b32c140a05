"""Consecutive windows of the whole pipeline at the target rate, as the scheduler runs them.

Subject: the real DAGs on a scratch namespace (tests/dags/pipeline_runs.py), each window with its
scheduled 20k ev/s x 300 s burst (6M events; the platform's 15-minute window, so the burst:quiet ratio
is 1:2), Flume into HDFS, the Spark job, the reconciliation. Per window: what each tier holds (the
audit point the reconciliation wrote), when each stage was done after the window end, and whether the
Spark job started later window after window.

Baseline, in the same run once the windows are done: InfluxDB's raw ingest of one window's points
(same tags and fields, batches of 5,000, two connections), the floor of the InfluxDB leg alone.

Targets (issue 13): every window reconciled ``ok`` within 10 minutes of its end; no growth from window
to window (each window's window-end-to-reconciled within GROWTH_TOLERANCE of the previous one's).

Pause the burst DAG's own windows first? Not needed: the namespace switch replaces them for its
duration. Environment: ``BENCH_CYCLE_WINDOWS`` (3), ``BENCH_CYCLE_WINDOW_SECONDS`` (900),
``BENCH_CYCLE_RATE`` (20000); the burst is a third of the window. It takes the windows plus the last
one's processing: about an hour at the defaults. Progress is printed every minute.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

from rich.console import Console
from rich.table import Table

from carpipe.config import get_settings
from carpipe.dag_settings import settings_for
from carpipe.windows import Window, parse_utc
from tests.bench.points import BATCH, raw_ingest, same_points
from tests.dags.airflow_api import AirflowApi
from tests.dags.pipeline_runs import (BURST_DAG, RECONCILE_DAG, SPARK_DAG, audit, now, run_at, scratch_names,
                                      scratch_namespace, sleep_until, task, timeline)

WINDOWS = int(os.environ.get("BENCH_CYCLE_WINDOWS", "3"))
WINDOW_SECONDS = int(os.environ.get("BENCH_CYCLE_WINDOW_SECONDS", "900"))
RATE = int(os.environ.get("BENCH_CYCLE_RATE", "20000"))
BURST_SECONDS = WINDOW_SECONDS // 3
TARGET_LAG_S = 600
GROWTH_TOLERANCE_S = 60   # one sensor poke and a JVM start's spread: more than that is growth
SETTLE_S = 3600           # after the last window's end, the longest this waits for its reconciliation
SPARK_TASK = "spark_kafka_to_influx"


def spark_state(api: AirflowApi, w: Window) -> str:
    runs = api.runs(SPARK_DAG, logical_date_gte=w.start.isoformat(), logical_date_lte=w.start.isoformat())
    if not runs:
        return "no run"
    ti = task(api, SPARK_DAG, runs[0]["dag_run_id"], SPARK_TASK)
    return "failed" if runs[0]["state"] == "failed" else (ti["state"] or "none")


def wait_windows(api: AirflowApi, s, windows: list[Window]) -> dict[Window, str]:
    """Until every window is reconciled (ok or mismatch) or its Spark run failed; a progress line a
    minute. Returns each window's outcome."""
    done: dict[Window, str] = {}
    deadline = windows[-1].end + timedelta(seconds=SETTLE_S)
    last_print = 0.0
    while len(done) < len(windows) and now() < deadline:
        states = {}
        for w in windows:
            if w in done:
                continue
            a = audit(s, w) if now() > w.end else None
            spark = spark_state(api, w) if now() > w.end else "window open"
            if a and a["status"] in ("ok", "mismatch"):
                done[w] = a["status"]
            elif spark == "failed":
                done[w] = "spark failed"
            states[w] = done.get(w, f"spark {spark}" + (f", audit {a['status']}" if a else ""))
        if time.monotonic() - last_print > 60 or len(done) == len(windows):
            last_print = time.monotonic()
            print(f"{now():%H:%M:%S} " + "; ".join(f"{w.label()}: {done.get(w, states.get(w))}" for w in windows),
                  flush=True)
        time.sleep(10)
    return {w: done.get(w, "not reconciled in time") for w in windows}


def window_row(api: AirflowApi, s, w: Window, outcome: str, switched) -> dict:
    burst = api.xcom(BURST_DAG, run_at(api, BURST_DAG, w.start)["dag_run_id"], "burst")
    a = audit(s, w) or {}
    row = {"window": w.label(), "outcome": outcome, "produced": burst["produced"],
           "acknowledged": burst["acknowledged"], "burst ev/s": burst["achieved_rate"],
           **{k: a.get(k) for k in ("kafka", "hdfs", "influx", "dead_lettered", "reconciled_lag_s",
                                    "hdfs_latency_p95_s", "influx_latency_p95_s")}}
    spark = task(api, SPARK_DAG, run_at(api, SPARK_DAG, w.start)["dag_run_id"], SPARK_TASK)
    if spark["start_date"]:
        row["spark start (s after end)"] = (parse_utc(spark["start_date"]) - w.end).total_seconds()
    if spark["start_date"] and spark["end_date"]:
        job = (parse_utc(spark["end_date"]) - parse_utc(spark["start_date"])).total_seconds()
        row["spark task s"] = job
        row["spark ev/s"] = (a.get("kafka") or 0) / job
    if outcome == "ok":
        row["timeline"] = timeline(api, s, w, switched)
    return row


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def report(rows: list[dict], raw_s: float, events: int, s) -> None:
    console = Console(width=120)  # not 80 when logged to a file
    # One column per window, a row per figure: fifteen figures side by side would not fit a log line.
    per_window = Table(title=f"pipeline cycle: {len(rows)} windows of {WINDOW_SECONDS}s, bursts of "
                             f"{RATE:,} ev/s x {BURST_SECONDS}s, Spark {s.spark_master}")
    cols = ["outcome", "produced", "acknowledged", "burst ev/s", "kafka", "hdfs", "influx",
            "dead_lettered", "spark start (s after end)", "spark task s", "spark ev/s", "hdfs_latency_p95_s",
            "influx_latency_p95_s", "reconciled_lag_s"]
    per_window.add_column("window")
    for r in rows:
        per_window.add_column(r["window"].replace("T", " ").removesuffix(":00Z") + " UTC", justify="right")
    for c in cols:
        per_window.add_row(c.replace("_", " "), *(fmt(r.get(c)) for r in rows))
    console.print(per_window)
    stages = Table(title="each stage done, seconds after the window end")
    marks = [m for r in rows if "timeline" in r for m in r["timeline"]]
    stages.add_column("window")
    for m in dict.fromkeys(marks):
        stages.add_column(m, justify="right")
    for r in rows:
        if "timeline" in r:
            stages.add_row(r["window"], *(fmt(v) for v in r["timeline"].values()))
    console.print(stages)
    base = Table(title="baseline, same run: InfluxDB raw ingest of one window's points")
    for c in ("points", f"seconds (2 connections, batches of {BATCH})", "points/s", "share of the 600 s target"):
        base.add_column(c, justify="right")
    base.add_row(f"{events:,}", f"{raw_s:.1f}", f"{events / raw_s:,.0f}", f"{raw_s / TARGET_LAG_S:.0%}")
    console.print(base)

    lags = [r.get("reconciled_lag_s") for r in rows]
    exact = all(r["outcome"] == "ok" and r["produced"] == r["acknowledged"] == r["kafka"] == r["hdfs"]
                == r["influx"] for r in rows)
    in_time = all(lag is not None and lag <= TARGET_LAG_S for lag in lags)
    growth = [b - a for a, b in zip(lags, lags[1:]) if a is not None and b is not None]
    steady = len(growth) == len(rows) - 1 and all(g <= GROWTH_TOLERANCE_S for g in growth)
    console.print(f"every tier equal in every window: {'yes' if exact else 'NO'}; resources: driver "
                  f"{s.spark_driver_memory}, executor {s.spark_executor_memory}, shuffle partitions "
                  f"{s.spark_shuffle_partitions or 'one per core'}; load average {os.getloadavg()[0]:.1f}")
    console.print(f"growth of window end -> reconciled, window to window (s): {growth}")
    console.print(f"target: every window ok within {TARGET_LAG_S}s of its end and no growth (> "
                  f"{GROWTH_TOLERANCE_S}s): {'met' if exact and in_time and steady else 'NOT met'} "
                  f"(lags {lags})")


def main() -> None:
    stack = get_settings()
    api = AirflowApi(stack)
    overrides = {"window_seconds": WINDOW_SECONDS, "burst_seconds": BURST_SECONDS, "burst_rate": RATE,
                 **scratch_names("cycle")}
    expires = timedelta(seconds=(WINDOWS + 2) * WINDOW_SECONDS + SETTLE_S)
    with scratch_namespace(api, stack, overrides, expires) as (s, switched):
        windows = [Window.containing(switched + timedelta(seconds=5), WINDOW_SECONDS).next()]
        while len(windows) < WINDOWS:
            windows.append(windows[-1].next())
        print(f"switched to {s.topic}; windows {', '.join(w.label() for w in windows)}; the first starts in "
              f"{(windows[0].start - now()).total_seconds():.0f}s", flush=True)
        api.pause(BURST_DAG, False)
        api.pause(RECONCILE_DAG, False)
        # Unpaused once the first window has closed and the DAG processor has re-parsed: its first run
        # is then the first window's (see scratch_namespace).
        sleep_until(windows[0].end + timedelta(seconds=25))
        api.pause(SPARK_DAG, False)
        outcomes = wait_windows(api, s, windows)
        api.pause(BURST_DAG, True)  # the windows after these are not measured: spare the baseline
        rows = [window_row(api, s, w, outcomes[w], switched) for w in windows]
    events = RATE * BURST_SECONDS
    lines = same_points(windows[0].start_ms * 1_000_000, events)
    raw_s = raw_ingest(settings_for({}), f"{s.influx_db}_raw", lines, 2)
    report(rows, raw_s, events, s)


if __name__ == "__main__":
    main()

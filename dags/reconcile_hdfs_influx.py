"""
### reconcile_hdfs_influx

Per window, once it is in InfluxDB (scheduled on the Asset `car_transactions_influx_windows`, which every
run of `car_transactions_to_influx` updates, scheduled, manual or backfill alike), counts the window in
every tier and prints them as one table in the task log:

| tier | counted as |
|---|---|
| generator | produced / acknowledged, summed over the bursts aimed at the window (`settings.burst_measurement`) |
| Kafka | records the broker stamped in the window: offsets for the window's start and end timestamps |
| HDFS | distinct records in the window's **closed** files (duplicate lines are shown, not counted; the files' offset ranges must cover Kafka's exactly) |
| InfluxDB | raw points in the window, + dead letters from Spark's `window_summary`; rollup sums per dimension |

**Accounting rule**: `kafka == hdfs == influx + dead_lettered`, and each rollup dimension sums to `influx`
(details in `carpipe.reconcile`). **Offset audit**: per partition, the offset ranges the window's HDFS
file names state cover exactly the offsets Kafka stamped in it (no gap, no overlap; a mismatch names the
ranges). **Ingest latency**: p50/p95/max seconds from Kafka timestamp to HDFS commit and to InfluxDB.

- **pending**: Spark has not summarised the window, Flume has not consumed all of it, or its files are
  still open: the sensor counts again until the window settles (reschedule mode, bounded timeout);
- **mismatch**: the task fails at once (no retry: re-counting cannot fix it), naming the window, the tiers
  and the difference;
- every count is written as a `pipeline_audit` point (time = window start, tag `status`, integer fields
  `produced`, `kafka`, `hdfs`, `influx`, `offset_gaps`, ..., float `hdfs_latency_p95_s`, ...) for the
  dashboards.

**Manual trigger**: param `window_start` (ISO-8601 UTC, a window start); empty = the latest closed window.
"""

from __future__ import annotations

from airflow.sdk import PokeReturnValue, dag, task

from carpipe import cadence
from carpipe.dag_defaults import DEFAULT_ARGS, INFLUX_WINDOWS, START_DATE, window_start_param
from carpipe.dag_settings import dag_settings

S = dag_settings()
TIMING = cadence.reconcile_timing(S.window_seconds, S.grace_seconds)


@dag(
    dag_id="reconcile_hdfs_influx",
    schedule=[INFLUX_WINDOWS],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=2,
    default_args=DEFAULT_ARGS,
    tags=["carpipe", "reconciliation", "hdfs", "influxdb"],
    doc_md=__doc__,
    params={
        "window_start": window_start_param("reconcile"),
    },
)
def reconcile_hdfs_influx():
    @task
    def windows(**context) -> list[dict]:
        """The windows this run checks: those of the triggering asset events, or the manual one."""
        import json
        from datetime import datetime, timezone

        from carpipe.dag_settings import current_overrides, settings_for

        triggering = context.get("triggering_asset_events")
        events = triggering.get(INFLUX_WINDOWS, []) if triggering else []
        wanted = [{k: e.extra[k] for k in ("window_start", "window_seconds", "overrides")} for e in events]
        if not wanted:
            overrides = current_overrides()
            w = cadence.run_window(settings_for(overrides).window_seconds, datetime.now(timezone.utc),
                                   None, context["params"]["window_start"])
            wanted = [{"window_start": w.start.isoformat(), "window_seconds": w.seconds,
                       "overrides": overrides}]
        # Several events for one window (e.g. a backfill rerun) are one check.
        unique = {json.dumps(w, sort_keys=True): w for w in wanted}
        out = sorted(unique.values(), key=lambda w: w["window_start"])
        print("windows to reconcile:", ", ".join(w["window_start"] for w in out))
        return out

    @task.sensor(poke_interval=TIMING.poke_interval, timeout=TIMING.timeout, mode="reschedule",
                 map_index_template="{{ window_label }}")
    def reconcile_window(window: dict) -> PokeReturnValue:
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowFailException

        from carpipe.dag_settings import task_settings
        from carpipe.influx import client_from_settings
        from carpipe.audit import write_audit
        from carpipe.reconcile import judge, render_table
        from carpipe.tier_counts import count_tiers
        from carpipe.windows import Window

        s = task_settings(window["overrides"])
        w = Window.starting(window["window_start"], window["window_seconds"])
        get_current_context()["window_label"] = w.label()  # names the mapped instance in the UI
        influx = client_from_settings(s)
        counts = count_tiers(s, influx, w)
        verdict = judge(counts)
        print(render_table(counts, verdict))
        write_audit(influx, s, w, counts, verdict.status)
        if verdict.status == "mismatch":
            raise AirflowFailException("reconciliation mismatch: " + verdict.message(counts))
        return PokeReturnValue(is_done=verdict.status == "ok",
                               xcom_value={**counts.as_dict(), "status": verdict.status})

    reconcile_window.expand(window=windows())


reconcile_hdfs_influx()

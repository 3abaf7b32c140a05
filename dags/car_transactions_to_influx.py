"""
### car_transactions_to_influx

One run per data interval (`CronDataIntervalTimetable`: a run's data interval **is** its window, 15 minutes
by default, following `settings.window_seconds`): after the window closes plus `settings.grace_seconds`,
submits the Spark job `spark_apps/kafka_to_influx.py` for exactly that window (earlier, once Kafka shows the
window is over) with **SparkSubmitOperator**
(connection `spark_default`; connector jars passed with `--jars`, never `--packages`). The submitting worker
uses its own `spark-submit` (PATH), connector jars and address for the driver (`SPARK_LOCAL_IP`).

| task | does |
|---|---|
| `plan` | the run's window (data interval; manual runs: param `window_start`, empty = the latest closed window) and the Spark job's arguments |
| `wait_for_window_end` | deferrable sensor until the window end (no worker slot held; immediate for past windows) |
| `wait_for_window_close` | done once every Kafka partition holds a record stamped after the window end (no record of the window can still arrive), or at window end + grace at the latest; pokes every 15 s |
| `spark_kafka_to_influx` | the Spark job: raw points, per-minute rollups, window summary, dead letters, all idempotent |
| `publish_window` | updates the Asset `car_transactions_influx_windows` with the window, which triggers `reconcile_hdfs_influx` |

Catchup is off (the first run after `make up` is the latest closed window, not every window since
the start date); windows missed while the platform was down are reprocessed with a backfill.

**Backfill** (reprocess windows; the Spark job overwrites the same points, so counts stay the same):

    airflow backfill create --dag-id car_transactions_to_influx \\
        --from-date 2026-01-01T10:00:00Z --to-date 2026-01-01T10:45:00Z --reprocess-behavior completed

**Manual trigger**: param `window_start` (ISO-8601 UTC, a window start, e.g. `2026-01-01T10:15:00Z`).
"""

from __future__ import annotations

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import CronDataIntervalTimetable, PokeReturnValue, dag, task

from carpipe import cadence
from carpipe.config import REPO_ROOT
from carpipe.dag_defaults import DEFAULT_ARGS, INFLUX_WINDOWS, START_DATE, window_start_param
from carpipe.connections import SPARK_CONN
from carpipe.dag_settings import dag_settings
from carpipe.spark import local_connector_jars

S = dag_settings()
APPLICATION = REPO_ROOT / "spark_apps" / "kafka_to_influx.py"


@dag(
    dag_id="car_transactions_to_influx",
    schedule=CronDataIntervalTimetable(cadence.window_cron(S.window_seconds), timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    # With catchup off, an interval that closes while max_active_runs runs are active is skipped, not
    # queued: so runs are cheap to keep active (they wait deferred), and the heavy task is limited
    # instead (max_active_tis_per_dag below). Windows missed while the platform was down are
    # reprocessed with `airflow backfill create`.
    max_active_runs=8,
    default_args=DEFAULT_ARGS,
    tags=["carpipe", "spark", "influxdb"],
    doc_md=__doc__,
    params={
        "window_start": window_start_param("process"),
    },
    user_defined_macros={"local_connector_jars": local_connector_jars},
)
def car_transactions_to_influx():
    @task(multiple_outputs=True)
    def plan(**context) -> dict:
        from datetime import datetime, timezone

        from carpipe.dag_defaults import run_interval
        from carpipe.dag_settings import current_overrides, task_settings
        from carpipe.spark import spark_conf
        from spark_apps.kafka_to_influx import application_args

        overrides = current_overrides()
        s = task_settings(overrides)
        window = cadence.run_window(s.window_seconds, datetime.now(timezone.utc),
                                    run_interval(context["dag_run"]), context["params"]["window_start"])
        args = application_args(s, window)
        print(f"window {window}; spark args: {' '.join(args)}")
        return {"window_start": window.start.isoformat(), "window_seconds": window.seconds,
                "window_end": window.end.isoformat(),
                "ready_at": cadence.spark_ready_at(window, s.grace_seconds).isoformat(),
                "application_args": args, "conf": spark_conf(s),
                "overrides": overrides}

    @task(outlets=[INFLUX_WINDOWS])
    def publish_window(window_start: str, window_seconds: int, overrides: dict, **context) -> None:
        context["outlet_events"][INFLUX_WINDOWS].extra = {
            "window_start": window_start, "window_seconds": window_seconds, "overrides": overrides}
        print(f"published window {window_start} ({window_seconds}s)")

    # Reschedule mode: a poke holds a worker slot for seconds, then frees it until the next one.
    @task.sensor(poke_interval=15, timeout=S.grace_seconds + 3600, mode="reschedule")
    def wait_for_window_close(window_end: str, ready_at: str, overrides: dict) -> PokeReturnValue:
        from datetime import datetime, timezone

        from carpipe.dag_settings import task_settings
        from carpipe.kafka_offsets import window_closed

        if datetime.now(timezone.utc) >= datetime.fromisoformat(ready_at):
            print(f"grace over at {ready_at}")
            return PokeReturnValue(is_done=True, xcom_value="grace")
        end_ms = int(datetime.fromisoformat(window_end).timestamp() * 1000)
        if window_closed(task_settings(overrides), end_ms):
            print(f"every partition holds a record stamped after {window_end}: the window is over in Kafka")
            return PokeReturnValue(is_done=True, xcom_value="kafka")
        return PokeReturnValue(is_done=False)

    p = plan()
    window_end = DateTimeSensorAsync(task_id="wait_for_window_end", target_time=p["window_end"])
    wait = wait_for_window_close(p["window_end"], p["ready_at"], p["overrides"])
    spark = SparkSubmitOperator(
        task_id="spark_kafka_to_influx",
        application=str(APPLICATION),
        conn_id=SPARK_CONN,  # its spark-binary, spark-submit, is the one on the worker's PATH
        # Rendered by the worker that submits: its own install's jars.
        jars="{{ local_connector_jars() }}",
        application_args=p["application_args"],
        conf=p["conf"],
        name="kafka_to_influx",
        # At most two Spark jobs at once on this 2-core platform, across scheduled and backfill runs;
        # windows waiting for a slot stay queued in order.
        max_active_tis_per_dag=2,
    )
    window_end >> wait >> spark >> publish_window(p["window_start"], p["window_seconds"], p["overrides"])


car_transactions_to_influx()

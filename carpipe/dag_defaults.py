"""What every carpipe DAG shares: owner, retry policy, start date, tags, and the Asset that links the
Spark leg to the reconciliation (data-aware scheduling: a window is reconciled as soon as it is in
InfluxDB, whatever ran it: the schedule, a manual trigger or a backfill)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import Asset, Param

OWNER = "carpipe"
START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)

DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(seconds=20),
}

# One event per window written to InfluxDB; its extra says which: {"window_start": ISO, "window_seconds":
# int, "overrides": {...}} (the run's settings overrides, see carpipe.dag_settings).
INFLUX_WINDOWS = Asset(name="car_transactions_influx_windows")

# What a window_start param must look like: ISO-8601 with an explicit UTC offset or Z (a naive time would
# be a guess); that it is a window start is checked when the run plans its window.
ISO_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$"


def window_start_param(verb: str) -> Param:
    """The UI trigger form's field for the window a manual run works on (manual runs have no data
    interval in Airflow 3)."""
    return Param(None, type=["null", "string"], pattern=ISO_UTC, title="window_start",
                 description=f"manual runs: the window to {verb} (ISO-8601 UTC, a window start such as "
                             "2026-01-01T10:15:00Z); empty: the latest closed window")


def run_interval(dag_run) -> tuple[datetime, datetime] | None:
    """A run's data interval, or None for a manual run (Airflow 3 gives those none)."""
    if dag_run.run_type == "manual" or dag_run.data_interval_start is None:
        return None
    return dag_run.data_interval_start, dag_run.data_interval_end

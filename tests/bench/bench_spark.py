"""The Spark window job on one window of each size in ``BENCH_SPARK_EVENTS``, end to end, side by side
in the same run with InfluxDB's raw ingest rate for the same points.

Subject: ``spark_apps/kafka_to_influx.py`` under spark-submit (local[2], the connector jars, the
arguments the DAG passes) on a dedicated topic holding one generator burst. Its rate is measured
inside the job, from SparkSession ready to load done (the JVM start is excluded and shown apart):
read from Kafka, validate, dedupe, point times, raw points + rollups + summary written to InfluxDB,
dead letters to HDFS.

Baseline: the same number of points with the same tags and fields (the same seeded events,
serialized in Python beforehand, not timed), written as plain line protocol over one HTTP keep-alive
connection in batches of 5,000 (and over two, as the job writes from its two cores) to a fresh
database. Targets (issue 13: a 20k ev/s x 300 s burst is a 6M window): the job >= 20k events/s and
>= 0.8x the better of the two raw ingest rates.

``BENCH_SPARK_EVENTS``: comma-separated window sizes (default ``1000000,6000000``; the 6M window takes
tens of minutes at today's rate). The job runs with the resources of the config layer
(``CARPIPE_SPARK_*``), shown under the table.
"""

from __future__ import annotations

import os

from rich.console import Console
from rich.table import Table

from carpipe.config import get_settings
from carpipe.windows import Window
from generator.burst import Burst
from tests.bench.points import BATCH, SEED, raw_ingest, same_points
from tests.spark.jobrun import create_scratch, drop_scratch, run_job, scratch_settings, window_of

SIZES = [int(n) for n in os.environ.get("BENCH_SPARK_EVENTS", "1000000,6000000").split(",") if n]
TARGET_RATE = 20_000   # events/s
TARGET_RATIO = 0.8     # of the better raw ingest


def produce_window(s, events: int) -> Window:
    """One unpaced burst of ``events`` generator events; the window spans the burst (the topic holds
    nothing else)."""
    report = Burst(events, None, seed=SEED, settings=s).run()
    assert report.acknowledged == events and report.failed == 0, report.as_dict()
    print(f"produced {events:,} events in {report.produce_seconds:.1f}s ({report.achieved_rate:,.0f}/s)")
    # Broker stamps (LogAppendTime) fall between the first produce call and the last acknowledgement.
    return window_of(int(report.started_at.timestamp() * 1000), int(report.ended_at.timestamp() * 1000) + 1)


def bench_window(events: int) -> None:
    s = scratch_settings(get_settings(), "bench-spark")
    create_scratch(s)
    try:
        window = produce_window(s, events)
        run = run_job(s, window, "kafka", timeout=3 * 3600)
        assert run.returncode == 0, run.stderr[-5000:]
        job = run.result
        assert (job["read"], job["written"], job["dead_lettered"]) == (events, events, 0), job
        lines = same_points(window.start_ms * 1_000_000, events)
        raw1 = raw_ingest(s, s.influx_db + "_raw1", lines, 1)
        raw2 = raw_ingest(s, s.influx_db + "_raw2", lines, 2)
    finally:
        drop_scratch(s)

    table = Table(title=f"Spark window job vs raw InfluxDB ingest: {events:,} events, {s.spark_master}")
    for col in ("what", "seconds", "events/s", "job / raw"):
        table.add_column(col, justify="left" if col == "what" else "right")
    rate = events / job["seconds"]
    table.add_row("kafka_to_influx: SparkSession ready -> load done", f"{job['seconds']:.2f}", f"{rate:,.0f}", "")
    for name, seconds in ((f"raw ingest, same points, 1 connection, batches of {BATCH}", raw1),
                          (f"raw ingest, same points, 2 connections, batches of {BATCH}", raw2)):
        table.add_row(name, f"{seconds:.2f}", f"{events / seconds:,.0f}", f"{seconds / job['seconds']:.2f}x")
    table.add_row("spark-submit wall time (JVM start included)", f"{run.seconds:.2f}", f"{events / run.seconds:,.0f}", "")
    phases = Table(title="job phases (seconds)")
    for name in job["phases"]:
        phases.add_column(name, justify="right")
    phases.add_row(*(f"{v:.2f}" for v in job["phases"].values()))
    console = Console()
    console.print(table)
    console.print(phases)
    ratio = min(raw1, raw2) / job["seconds"]
    met = rate >= TARGET_RATE and ratio >= TARGET_RATIO
    console.print(f"resources {job['resources']}; rollup points {job['rollup_points']}")
    console.print(f"target >= {TARGET_RATE:,} events/s and >= {TARGET_RATIO}x the better raw ingest: "
                  f"{'met' if met else 'NOT met'} ({rate:,.0f}/s, {ratio:.2f}x)")


def main() -> None:
    for events in SIZES:
        bench_window(events)


if __name__ == "__main__":
    main()

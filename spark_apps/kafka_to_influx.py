"""One window of car transactions into InfluxDB: exact, idempotent, replayable.

    spark-submit --master local[2] --jars <Kafka connector jars> spark_apps/kafka_to_influx.py \\
        --start 2026-01-01T10:00:00Z --end 2026-01-01T10:15:00Z [--source kafka|hdfs|auto] \\
        --kafka-bootstrap HOST:PORT --topic car-transactions-logs \\
        --hdfs-url hdfs://HOST:PORT --hdfs-base /Cars --dead-letter-base /Cars-dead-letter \\
        --influx-url http://HOST:PORT --influx-db ETL_Project [--influx-user U] [--batch-size 5000]

``application_args(settings, window)`` builds exactly these arguments (the DAG and the tests use
it); the InfluxDB password, if any, comes from the environment variable CARPIPE_INFLUX_PASSWORD,
never from the command line. The executors get this package and carpipe from the driver itself
(spark_apps.shipping), so no ``--py-files`` is needed in client mode.

Shape (pyspark-example-project): ``main()`` = start Spark -> extract the window's records ->
transform (pure functions in spark_apps.transforms / line_protocol) -> load. Settings arrive as
arguments only. The last stdout line is ``KAFKA_TO_INFLUX_RESULT {json}`` (counts and timing);
on failure the exit status is 1 and the last line on stderr (which spark-submit merges into its
stdout) is ``kafka_to_influx failed: <root cause>``.

Idempotence: load first deletes the window's time range in the three measurements (every point of
a window lies inside it), then writes; running a window twice, or from HDFS after Kafka, leaves
InfluxDB as one run would. The summary point is written last, so its presence means the window's
points are complete. Dead letters replace the window's dead-letter directory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from carpipe.config import Settings
from carpipe.influx import ROLLUP_MEASUREMENT, SUMMARY_MEASUREMENT
from carpipe.windows import Window, iso_ms, parse_utc

DEFAULT_SCHEMA = Path(__file__).resolve().parents[1] / "generator" / "schema" / "car_transaction.schema.json"
PASSWORD_ENV = "CARPIPE_INFLUX_PASSWORD"
RESULT_PREFIX = "KAFKA_TO_INFLUX_RESULT "
SOURCES = ("kafka", "hdfs", "auto")
# The window_summary point's integer fields (the reconciliation reads them), besides ``loaded_ms``: when
# the run finished loading the window (epoch ms), the end of the ingest latency to InfluxDB.
SUMMARY_FIELDS = ("read", "written", "dead_lettered", "duplicates", "conflicts")


def application_args(s, window: Window, source: str = "auto", batch_size: int = 5000) -> list[str]:
    """The job's arguments for one window, from Settings (``s``)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
    args = ["--start", iso_ms(window.start), "--end", iso_ms(window.end), "--source", source,
            "--kafka-bootstrap", s.kafka_bootstrap, "--topic", s.topic,
            "--hdfs-url", s.hdfs_url, "--hdfs-base", s.hdfs_base_path, "--dead-letter-base", s.hdfs_dead_letter_path,
            "--influx-url", s.influx_url, "--influx-db", s.influx_db, "--raw-measurement", s.raw_measurement,
            "--batch-size", str(batch_size)]
    if s.influx_user:
        args += ["--influx-user", s.influx_user]
    # Kafka client security; the SASL password is not an argument (the job's Settings read it from the
    # environment or the secrets dir, like the InfluxDB password).
    args += ["--kafka-security-protocol", s.kafka_security_protocol]
    for flag, value in (("--kafka-sasl-mechanism", s.kafka_sasl_mechanism),
                        ("--kafka-sasl-username", s.kafka_sasl_username),
                        ("--kafka-ssl-ca", s.kafka_ssl_ca_location)):
        if value:
            args += [flag, value]
    return args


@dataclass(frozen=True)
class JobConfig:
    window: Window
    source: str
    kafka: "Settings"   # the Kafka settings: bootstrap servers and client security
    topic: str
    hdfs_url: str
    hdfs_base: str
    dead_letter_base: str
    influx: "InfluxTarget"
    raw_measurement: str
    event_schema: Path

    @property
    def measurements(self) -> list[str]:
        return [self.raw_measurement, ROLLUP_MEASUREMENT, SUMMARY_MEASUREMENT]

    def hdfs(self, base: str) -> str:
        return self.hdfs_url.rstrip("/") + self.window.hdfs_dir(base)


def parse_args(argv: list[str] | None = None) -> JobConfig:
    from spark_apps.influx_sink import InfluxTarget

    p = argparse.ArgumentParser(prog="kafka_to_influx", description=__doc__.splitlines()[0])
    p.add_argument("--start", required=True, help="window start, ISO-8601 UTC (inclusive)")
    p.add_argument("--end", required=True, help="window end, ISO-8601 UTC (exclusive)")
    p.add_argument("--source", choices=SOURCES, default="auto",
                   help="auto: Kafka, or HDFS when retention removed part of the window from Kafka")
    p.add_argument("--kafka-bootstrap", required=True)
    p.add_argument("--kafka-security-protocol", default="PLAINTEXT")
    p.add_argument("--kafka-sasl-mechanism", default="")
    p.add_argument("--kafka-sasl-username", default="")
    p.add_argument("--kafka-ssl-ca", default="", help="CA certificates of the brokers (PEM file)")
    p.add_argument("--topic", required=True)
    p.add_argument("--hdfs-url", required=True, help="the NameNode URI, hdfs://<host>:<port>")
    p.add_argument("--hdfs-base", required=True, help="Flume's base directory (window dirs below it)")
    p.add_argument("--dead-letter-base", required=True)
    p.add_argument("--influx-url", required=True)
    p.add_argument("--influx-db", required=True)
    p.add_argument("--influx-user", default="")
    p.add_argument("--influx-retries", type=int, default=5, help="retries per request on transient errors")
    p.add_argument("--raw-measurement", default="car_transaction_data")
    p.add_argument("--batch-size", type=int, default=5000, help="lines per InfluxDB write")
    p.add_argument("--event-schema", type=Path, default=DEFAULT_SCHEMA, help="the generator's JSON schema")
    a = p.parse_args(argv)
    try:
        start, end = parse_utc(a.start), parse_utc(a.end)
    except ValueError as exc:
        p.error(str(exc))
    if end <= start:
        p.error(f"--end {a.end} must be after --start {a.start}")
    if a.batch_size < 1:
        p.error("--batch-size must be positive")
    # Secrets come from this job's environment or the platform's secrets dir (carpipe.config).
    secrets = Settings()
    influx = InfluxTarget(a.influx_url, a.influx_db, a.influx_user,
                          os.environ.get(PASSWORD_ENV) or secrets.influx_password,
                          retries=a.influx_retries, batch_size=a.batch_size)
    kafka = secrets.model_copy(update={
        "kafka_bootstrap": a.kafka_bootstrap, "kafka_security_protocol": a.kafka_security_protocol,
        "kafka_sasl_mechanism": a.kafka_sasl_mechanism, "kafka_sasl_username": a.kafka_sasl_username,
        "kafka_ssl_ca_location": a.kafka_ssl_ca})
    return JobConfig(Window(start, end), a.source, kafka, a.topic, a.hdfs_url, a.hdfs_base,
                     a.dead_letter_base, influx, a.raw_measurement, a.event_schema)


# ------------------------------------------------------------------------------------------ start

def start_spark(pyfiles_dir: str):
    from pyspark.sql import SparkSession

    from spark_apps.shipping import ship

    from spark_apps.transforms import SPARK_CONF

    spark = SparkSession.builder.appName("kafka_to_influx").getOrCreate()
    for key, value in SPARK_CONF.items():
        spark.conf.set(key, value)
    sc = spark.sparkContext
    if not sc.getConf().contains("spark.sql.shuffle.partitions"):
        # A window is small next to the default 200 shuffle partitions: one per core keeps every
        # core busy without paying for hundreds of near-empty tasks.
        spark.conf.set("spark.sql.shuffle.partitions", str(sc.defaultParallelism))
    ship(sc, pyfiles_dir)
    return spark


# ---------------------------------------------------------------------------------------- extract

def resolve_source(cfg: JobConfig) -> str:
    if cfg.source != "auto":
        return cfg.source
    from carpipe.kafka_offsets import kafka_holds_window

    from carpipe.kafka_clients import librdkafka

    return "kafka" if kafka_holds_window(librdkafka(cfg.kafka), cfg.topic, cfg.window.start_ms) else "hdfs"


def extract(spark, cfg: JobConfig, source: str):
    """The window's records as one column ``raw``."""
    from spark_apps.sources import hdfs_files, read_hdfs, read_kafka

    if source == "kafka":
        from carpipe.kafka_clients import java

        return read_kafka(spark, java(cfg.kafka), cfg.topic, cfg.window.start_ms, cfg.window.end_ms)
    closed, in_use = hdfs_files(spark, cfg.hdfs(cfg.hdfs_base))
    if in_use:
        print(f"warning: {len(in_use)} file(s) of the window are still open in HDFS and are not read: "
              f"{', '.join(in_use)}", file=sys.stderr)
    return read_hdfs(spark, closed)


# -------------------------------------------------------------------------------------- transform

@dataclass
class WindowOutputs:
    deduped: object        # DataFrame every output below derives from (the one worth caching)
    counts: object         # one row: read, written, dead_lettered, duplicates, conflicts
    dead_letters: object   # (reason, raw)
    conflict_losers: object  # (reason, raw) of valid versions that lost a conflict: re-reads the window
    raw_lines: object      # (line) one per valid transaction
    rollup_lines: object   # (line) one per minute bucket and dimension value


def transform(records, rules, window: Window, raw_measurement: str) -> WindowOutputs:
    from spark_apps import line_protocol as lp
    from spark_apps import transforms as t

    classified = t.classify(records, rules, window.end_ms)
    deduped = t.dedupe(classified)
    events = t.with_point_ms(t.valid_events(deduped), window.start_ms, window.end_ms)
    return WindowOutputs(
        deduped=deduped,
        counts=t.window_counts(deduped),
        dead_letters=t.dead_letters(deduped),
        conflict_losers=t.conflict_losers(classified, deduped),
        raw_lines=lp.raw_lines(t.with_point_ns(events), raw_measurement),
        rollup_lines=lp.rollup_lines(t.rollups_1m(events, window.start_ms), ROLLUP_MEASUREMENT),
    )


# ------------------------------------------------------------------------------------------- load

def load(out: WindowOutputs, cfg: JobConfig, source: str) -> dict:
    from spark_apps.influx_sink import delete_range, write_driver, write_lines
    from spark_apps.line_protocol import summary_line

    phases: dict[str, float] = {}
    clock = time.monotonic()

    def phase(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        phases[name] = round(now - clock, 3)
        clock = now

    counts = out.counts.first().asDict()  # reads, parses and dedupes the window (cached for the rest)
    phase("read_parse_dedupe")
    dead_dir = cfg.hdfs(cfg.dead_letter_base)
    # Conflicts are rare: only then is the window read a second time, for the losing versions' bytes.
    dead = out.dead_letters.unionByName(out.conflict_losers) if counts["conflicts"] else out.dead_letters
    # One file, sorted: the same window gives the same file whatever the partitioning.
    (dead.repartition(1).sortWithinPartitions("raw", "reason")
     .write.mode("overwrite").option("ignoreNullFields", False).json(dead_dir))
    phase("dead_letters")
    start_ns, end_ns = cfg.window.start_ms * 1_000_000, cfg.window.end_ms * 1_000_000
    delete_range(cfg.influx, cfg.measurements, start_ns, end_ns)
    phase("delete_window")
    written = write_lines(out.raw_lines, cfg.influx)
    if written != counts["written"]:
        raise RuntimeError(f"wrote {written} raw points, expected {counts['written']}")
    phase("raw_points")
    rollups = write_lines(out.rollup_lines, cfg.influx)
    phase("rollups")
    loaded_ms = int(time.time() * 1000)  # every point but the summary is in
    write_driver(cfg.influx, [summary_line(SUMMARY_MEASUREMENT, source, start_ns, {
        **{k: counts[k] for k in SUMMARY_FIELDS}, "loaded_ms": loaded_ms})])
    phase("summary")
    return {**counts, "rollup_points": rollups, "dead_letter_dir": dead_dir, "phases": phases}


# ------------------------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    try:
        result = run(cfg)
    except Exception as exc:  # one clear line for the task log; the traceback stays above it
        import traceback

        traceback.print_exc()
        print(f"kafka_to_influx failed: {failure_message(exc)}", file=sys.stderr)
        return 1
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


def run(cfg: JobConfig) -> dict:
    from spark_apps.event_rules import load_rules
    from spark_apps.influx_sink import check_database

    rules = load_rules(cfg.event_schema)
    check_database(cfg.influx)  # unreachable or missing: fail before reading or changing anything
    with tempfile.TemporaryDirectory(prefix="kafka_to_influx-") as tmp:
        spark = start_spark(tmp)
        try:
            resources = job_resources(spark)
            ready = time.monotonic()
            source = resolve_source(cfg)
            out = transform(extract(spark, cfg, source), rules, cfg.window, cfg.raw_measurement)
            out.deduped.persist()
            loaded = load(out, cfg, source)
            seconds = time.monotonic() - ready
        finally:
            spark.stop()
    return {"window": [iso_ms(cfg.window.start), iso_ms(cfg.window.end)], "source": source, **loaded,
            "resources": resources,
            "seconds": round(seconds, 3), "events_per_s": round(loaded["read"] / seconds, 1) if seconds else None}


def job_resources(spark) -> dict:
    """What the job ran with (spark-submit's memory, cores, shuffle partitions), for its result line."""
    conf = spark.sparkContext.getConf()
    return {"master": spark.sparkContext.master, "cores": spark.sparkContext.defaultParallelism,
            "driver_memory": conf.get("spark.driver.memory", "1g"),
            "executor_memory": conf.get("spark.executor.memory", "1g"),
            "shuffle_partitions": int(spark.conf.get("spark.sql.shuffle.partitions"))}


def failure_message(exc: BaseException) -> str:
    """The root cause in one line; for a failed Spark task, the error raised on the executor (its
    traceback is part of the driver's exception text)."""
    from carpipe.influx import InfluxError

    text = str(exc)
    for line in text.splitlines():
        if "InfluxError: " in line:
            return line.split("InfluxError: ", 1)[1].strip()
    first = text.splitlines()[0] if text else ""
    return first if isinstance(exc, InfluxError) else f"{type(exc).__name__}: {first}"


if __name__ == "__main__":
    sys.exit(main())

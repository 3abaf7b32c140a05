"""The counts of one window in every tier (generator, Kafka, Flume/HDFS, Spark, InfluxDB), read from
each tier's own system, for the reconciliation (carpipe.reconcile) to judge, with the offset audit
(HDFS's file names against Kafka's offsets) and the ingest latency of a settled window."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from carpipe.config import Settings
from carpipe.influx import ROLLUP_MEASUREMENT, SUMMARY_MEASUREMENT, InfluxClient
from carpipe.windows import Window

if TYPE_CHECKING:  # the probes' modules are imported where they are used
    from carpipe.ingest_latency import CommittedFile, Latency
    from carpipe.offset_files import Coverage

ROLLUP_DIMENSIONS = ("brand", "country", "branch")


@dataclass
class TierCounts:
    window: str                    # label of the window start, e.g. 2026-01-01T10:15:00Z
    window_seconds: int
    produced: int = 0              # generator, summed over the bursts aimed at this window
    acknowledged: int = 0
    kafka: int = 0
    kafka_retained: bool = True    # False once retention deleted part of the window from Kafka
    kafka_ranges: dict[int, tuple[int, int]] = field(default_factory=dict)  # partition: [first, last] offsets
    flume_behind: int = 0          # records stamped before the window end not yet committed by Flume
    hdfs_lines: int = 0
    hdfs_distinct: int = 0         # distinct versions (identity and bytes)
    hdfs_conflicts: int = 0        # versions sharing a transaction_id with another version
    hdfs_open_files: int = 0
    hdfs_offsets: list[Coverage] | None = None  # per partition, files vs kafka_ranges; None: not audited
    hdfs_unnamed_files: int = 0    # closed files not named by offsets (older layout): no offset audit
    hdfs_misnamed: list[str] = field(default_factory=list)  # files holding other line counts than named
    influx: int = 0                # raw points
    dead_lettered: int | None = None  # None: Spark has not summarised the window yet
    spark_source: str | None = None   # kafka | hdfs: what the summary's run read
    spark_read: int | None = None
    spark_duplicates: int | None = None
    spark_conflicts: int | None = None
    loaded_ms: int | None = None      # when the summary's run finished loading InfluxDB (epoch ms)
    rollups: dict[str, int] = field(default_factory=dict)
    hdfs_latency: Latency | None = None    # Kafka timestamp -> HDFS commit, once the window settled
    influx_latency: Latency | None = None  # Kafka timestamp -> InfluxDB loaded

    @property
    def hdfs_duplicates(self) -> int:
        return self.hdfs_lines - self.hdfs_distinct

    @property
    def kafka_copies(self) -> int:
        """Kafka records repeating an identity, as the Spark job counted them reading Kafka."""
        return self.spark_duplicates if self.spark_source == "kafka" and self.spark_duplicates else 0

    @property
    def kafka_distinct(self) -> int:
        return self.kafka - self.kafka_copies

    @property
    def influx_accounted(self) -> int:
        """Records InfluxDB accounts for: valid points plus dead letters."""
        return self.influx + (self.dead_lettered or 0)

    def as_dict(self) -> dict:
        return asdict(self)


# -- reading the tiers ------------------------------------------------------------------------
def _time_range(w: Window) -> str:
    return f"time >= {w.start_ms}ms AND time < {w.end_ms}ms"


def influx_counts(influx: InfluxClient, s: Settings, w: Window, c: TierCounts) -> None:
    rows = influx.rows(f'SELECT count("transaction_id") AS n FROM "{s.raw_measurement}" WHERE {_time_range(w)}')
    c.influx = int(rows[0]["n"]) if rows else 0
    rows = influx.rows(f'SELECT sum("count") AS n FROM "{ROLLUP_MEASUREMENT}" WHERE {_time_range(w)} '
                       f'GROUP BY "dimension"')
    c.rollups = {r["dimension"]: int(r["n"] or 0) for r in rows}
    rows = influx.rows(f'SELECT * FROM "{SUMMARY_MEASUREMENT}" WHERE time = {w.start_ms}ms')
    if rows:
        # The Spark job deletes the window's points (summary included) before writing, so there is
        # one summary: the last run's.
        row = rows[0]
        c.spark_source, c.spark_read = row["source"], int(row["read"])
        c.dead_lettered, c.spark_duplicates = int(row["dead_lettered"]), int(row.get("duplicates") or 0)
        c.spark_conflicts = int(row.get("conflicts") or 0)
        c.loaded_ms = None if row.get("loaded_ms") is None else int(row["loaded_ms"])  # older runs: none
    rows = influx.rows(f'SELECT sum("produced") AS p, sum("acknowledged") AS a FROM "{s.burst_measurement}" '
                       f"WHERE {_time_range(w)} AND \"topic\" = '{s.topic}'")
    if rows:
        c.produced, c.acknowledged = int(rows[0]["p"] or 0), int(rows[0]["a"] or 0)


def kafka_counts(s: Settings, w: Window, c: TierCounts, lag) -> None:
    """Records in the window by offsets for its timestamps, and how far Flume is from its end."""
    from carpipe.kafka_clients import librdkafka
    from carpipe.kafka_offsets import kafka_holds_window

    start, end = lag.targets(w.start_ms), lag.targets(w.end_ms)
    c.kafka = sum(end[p] - start[p] for p in lag.partitions)
    c.kafka_ranges = {p: (start[p], end[p] - 1) for p in lag.partitions}
    c.kafka_retained = kafka_holds_window(librdkafka(s), s.topic, w.start_ms)
    c.flume_behind = lag.remaining(end)


def hdfs_counts(s: Settings, w: Window, c: TierCounts):
    """After kafka_counts (the offset audit compares with its ranges); returns the WindowCount."""
    from carpipe.hdfs_counts import count_window

    h = count_window(s, w)
    c.hdfs_lines, c.hdfs_distinct, c.hdfs_open_files = h.lines, h.distinct, len(h.open_files)
    c.hdfs_conflicts = h.conflicts
    c.hdfs_unnamed_files, c.hdfs_misnamed = len(h.unnamed_files), h.misnamed
    # Once retention deleted part of the window, Kafka's ranges no longer say what was stamped in it.
    if c.kafka_retained and not h.unnamed_files:
        c.hdfs_offsets = offset_coverage(c.kafka_ranges, h.committed)
    return h


def offset_coverage(kafka_ranges: dict[int, tuple[int, int]], files: list[CommittedFile]) -> list[Coverage]:
    """Per partition (Kafka's and any a file names), the files' ranges against Kafka's."""
    from carpipe.offset_files import coverage

    held: dict[int, list[tuple[int, int]]] = {p: [] for p in kafka_ranges}
    for f in files:
        held.setdefault(f.partition, []).append((f.start, f.end))
    return [coverage(p, *kafka_ranges.get(p, (0, -1)), ranges) for p, ranges in sorted(held.items())]


def latency_counts(lag, w: Window, c: TierCounts, files: list[CommittedFile]) -> None:
    """The ingest latency, measured once the window settled (nothing of it still in flight) and while
    Kafka still holds it (the grid reads Kafka's offsets for times)."""
    from carpipe import ingest_latency as il

    if c.dead_lettered is None or c.flume_behind or c.hdfs_open_files or not c.kafka_retained:
        return
    times = il.grid_times(w.start_ms, w.end_ms, il.step_seconds(w.seconds))
    grid = il.Grid(times, lag.grid(times))
    # Files not named by offsets cannot be placed on the grid: no HDFS latency rather than part of one.
    c.hdfs_latency = None if c.hdfs_offsets is None else il.to_hdfs(grid, files)
    c.influx_latency = None if c.loaded_ms is None else il.to_influx(grid, c.loaded_ms)


def count_tiers(s: Settings, influx: InfluxClient, w: Window) -> TierCounts:
    from carpipe.kafka_offsets import GroupLag

    c = TierCounts(window=w.label(), window_seconds=w.seconds)
    with GroupLag(s) as lag:
        kafka_counts(s, w, c, lag)
        h = hdfs_counts(s, w, c)
        influx_counts(influx, s, w, c)
        latency_counts(lag, w, c, h.committed)
    return c

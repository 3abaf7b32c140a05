"""The counts of one window in every tier (generator, Kafka, Flume/HDFS, Spark, InfluxDB), read from
each tier's own system, for the reconciliation (carpipe.reconcile) to judge."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from carpipe.config import Settings
from carpipe.influx import ROLLUP_MEASUREMENT, SUMMARY_MEASUREMENT, InfluxClient
from carpipe.windows import Window

ROLLUP_DIMENSIONS = ("brand", "country", "branch")


@dataclass
class TierCounts:
    window: str                    # label of the window start, e.g. 2026-01-01T10:15:00Z
    window_seconds: int
    produced: int = 0              # generator, summed over the bursts aimed at this window
    acknowledged: int = 0
    kafka: int = 0
    kafka_retained: bool = True    # False once retention deleted part of the window from Kafka
    flume_behind: int = 0          # records stamped before the window end not yet committed by Flume
    hdfs_lines: int = 0
    hdfs_distinct: int = 0         # distinct versions (identity and bytes)
    hdfs_conflicts: int = 0        # versions sharing a transaction_id with another version
    hdfs_open_files: int = 0
    influx: int = 0                # raw points
    dead_lettered: int | None = None  # None: Spark has not summarised the window yet
    spark_source: str | None = None   # kafka | hdfs: what the summary's run read
    spark_read: int | None = None
    spark_duplicates: int | None = None
    spark_conflicts: int | None = None
    rollups: dict[str, int] = field(default_factory=dict)

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
    rows = influx.rows(f'SELECT sum("produced") AS p, sum("acknowledged") AS a FROM "{s.burst_measurement}" '
                       f"WHERE {_time_range(w)} AND \"topic\" = '{s.topic}'")
    if rows:
        c.produced, c.acknowledged = int(rows[0]["p"] or 0), int(rows[0]["a"] or 0)


def kafka_counts(s: Settings, w: Window, c: TierCounts) -> None:
    """Records in the window by offsets for its timestamps, and how far Flume is from its end."""
    from carpipe.kafka_clients import librdkafka
    from carpipe.kafka_offsets import GroupLag, kafka_holds_window

    lag = GroupLag(s)
    start, end = lag.targets(w.start_ms), lag.targets(w.end_ms)
    c.kafka = sum(end[p] - start[p] for p in lag.partitions)
    c.kafka_retained = kafka_holds_window(librdkafka(s), s.topic, w.start_ms)
    c.flume_behind = lag.remaining(end)


def hdfs_counts(s: Settings, w: Window, c: TierCounts) -> None:
    from carpipe.hdfs_counts import count_window

    h = count_window(s, w)
    c.hdfs_lines, c.hdfs_distinct, c.hdfs_open_files = h.lines, h.distinct, len(h.open_files)
    c.hdfs_conflicts = h.conflicts


def count_tiers(s: Settings, influx: InfluxClient, w: Window) -> TierCounts:
    c = TierCounts(window=w.label(), window_seconds=w.seconds)
    kafka_counts(s, w, c)
    hdfs_counts(s, w, c)
    influx_counts(influx, s, w, c)
    return c

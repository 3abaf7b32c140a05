"""Load into InfluxDB: line protocol to /write from the executors, InfluxQL from the driver.

Retries and batching are carpipe.influx.InfluxClient's (shipped to the executors, see
spark_apps.shipping). A Spark task that fails after writing part of its lines is retried by Spark
(and a failed job is rerun by Airflow): that is at-least-once delivery, made exact by InfluxDB
itself, where a point with the same measurement, tag set and timestamp overwrites the earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from carpipe.influx import InfluxClient, InfluxError


@dataclass(frozen=True)
class InfluxTarget:
    url: str
    database: str
    user: str = ""
    password: str = field(default="", repr=False)
    retries: int = 5
    batch_size: int = 5000

    def client(self) -> InfluxClient:
        return InfluxClient(self.url, self.database, self.user, self.password, retries=self.retries)


def check_database(target: InfluxTarget) -> None:
    """Fail before anything is written when InfluxDB is unreachable or the database is missing."""
    names = {r["name"] for r in target.client().rows_on("SHOW DATABASES")}
    if target.database not in names:
        raise InfluxError(f"InfluxDB at {target.url} has no database {target.database!r}")


def delete_range(target: InfluxTarget, measurements: list[str], start_ns: int, end_ns: int) -> None:
    """Remove every point of these measurements in [start, end).

    A rerun may produce fewer points than the run before it (a replay from HDFS after a fix, a
    record now dead-lettered); overwriting alone would leave those stale points behind. Every point
    the job writes for a window lies inside the window (clamped point times, rollup buckets, the
    summary at the window start), so this range belongs to this window alone.
    """
    q = ";".join(f'DELETE FROM "{m}" WHERE time >= {start_ns} AND time < {end_ns}' for m in measurements)
    target.client().query(q)


def write_lines(lines: DataFrame, target: InfluxTarget) -> int:
    """Write the ``line`` column from the executors, in batches; returns the lines written."""

    def write_partition(batches):
        import pyarrow as pa

        client = target.client()
        lines_iter = (line for batch in batches for line in batch.column(0).to_pylist())
        yield pa.RecordBatch.from_pydict({"written": [client.write(lines_iter, batch_size=target.batch_size)]},
                                         schema=pa.schema([("written", pa.int64())]))

    row = lines.select("line").mapInArrow(write_partition, "written long").agg(F.sum("written")).first()
    return int(row[0] or 0)


def write_driver(target: InfluxTarget, lines: list[str]) -> int:
    return target.client().write(lines, batch_size=target.batch_size)

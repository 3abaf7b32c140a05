"""Extract: the records of one window, from Kafka (by broker timestamp) or from Flume's HDFS files.

Both return one column, ``raw`` (the record value as UTF-8 text), so everything downstream is the
same for either source. A record belongs to window [start, end) iff start <= its Kafka timestamp <
end (LogAppendTime); Flume buckets its files by that same timestamp.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from carpipe.webhdfs import IN_USE_SUFFIX


def read_kafka(spark: SparkSession, client: dict[str, str], topic: str, start_ms: int, end_ms: int) -> DataFrame:
    """Batch read of exactly the window.

    startingTimestamp / endingTimestamp resolve, per partition, to the first offset whose timestamp
    is >= the given time, so the offsets read are [first >= start, first >= end): the half-open
    window. A partition with nothing at or after ``start`` reads nothing ("latest" strategy); one
    with nothing at or after ``end`` reads to its end. The filter on the timestamp column repeats
    the rule row by row, in case a broker clock step ever made timestamps non-monotonic. ``client``:
    the Java client properties (carpipe.kafka_clients.java: bootstrap servers and security).
    """
    df = (spark.read.format("kafka")
          .options(**{f"kafka.{k}": v for k, v in client.items()})
          .option("subscribe", topic)
          .option("startingTimestamp", str(start_ms))
          .option("endingTimestamp", str(end_ms))
          .option("startingOffsetsByTimestampStrategy", "latest")
          .load())
    ts = F.unix_millis("timestamp")
    # A null value (tombstone) is what Flume writes as an empty line: the same record either way.
    raw = F.coalesce(F.col("value").cast("string"), F.lit(""))
    return df.where((ts >= start_ms) & (ts < end_ms)).select(raw.alias("raw"))


def hdfs_files(spark: SparkSession, directory: str) -> tuple[list[str], list[str]]:
    """(closed files, in-use files) of a Flume window directory; FileNotFoundError when it is absent.

    Flume names a file it is still writing ``*.tmp`` and renames it when closed; names starting
    with ``_`` or ``.`` are hidden by Hadoop convention.
    """
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(directory)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(path):
        raise FileNotFoundError(f"no Flume directory for this window: {directory}")
    closed, in_use = [], []
    for status in fs.listStatus(path):
        name = status.getPath().getName()
        if not status.isFile() or name.startswith(("_", ".")):
            continue
        (in_use if name.endswith(IN_USE_SUFFIX) else closed).append(status.getPath().toString())
    return sorted(closed), sorted(in_use)


def read_hdfs(spark: SparkSession, files: list[str]) -> DataFrame:
    """One row per line of the given Flume files (one Kafka record value per line)."""
    if not files:
        return spark.createDataFrame([], "raw string")
    return spark.read.option("wholetext", False).text(files).select(F.col("value").alias("raw"))

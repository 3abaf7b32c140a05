"""InfluxDB line protocol built as Spark column expressions (JVM-side: no Python per row).

Escaping follows carpipe.line_protocol (the rules' one statement; its regexes are used here as they
are): tag values escape comma, equals sign and space; string field values are double-quoted and escape
double quote and backslash. Measurement names, tag keys and field keys here are fixed identifiers
that need no escaping. Numbers are written from exact
decimals (never a float's repr, which can turn into exponent notation): floats as ``123.45``,
integers with the ``i`` suffix. Timestamps are integer nanoseconds.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from carpipe.line_protocol import STRING_SPECIALS_REGEX, TAG_SPECIALS_REGEX
from spark_apps.transforms import TAG_FIELDS

RAW_STRING_FIELDS = ("transaction_id", "buyer_id", "buyer_name")


def escape_tag(c: Column) -> Column:
    return F.regexp_replace(c, TAG_SPECIALS_REGEX, r"\\$1")


def escape_string_field(c: Column) -> Column:
    return F.concat(F.lit('"'), F.regexp_replace(c, STRING_SPECIALS_REGEX, r"\\$1"), F.lit('"'))


def _int(c: Column) -> Column:
    return F.concat(c.cast("string"), F.lit("i"))


def _float(c: Column) -> Column:
    """A decimal column as a line-protocol float (plain digits)."""
    return c.cast("string")


def _line(measurement: str, tags: list[tuple[str, Column]], fields: list[tuple[str, Column]], ns: Column) -> Column:
    parts: list[Column] = [F.lit(measurement)]
    for key, value in tags:
        parts += [F.lit(f",{key}="), escape_tag(value)]
    for i, (key, value) in enumerate(fields):
        parts += [F.lit((" " if i == 0 else ",") + f"{key}="), value]
    parts += [F.lit(" "), ns.cast("string")]
    return F.concat(*parts)


def raw_lines(points: DataFrame, measurement: str) -> DataFrame:
    """One line per transaction (needs point_ns): low-cardinality tags, ids and price as fields."""
    line = _line(
        measurement,
        [(t, F.col(t)) for t in TAG_FIELDS],
        [*[(f, escape_string_field(F.col(f))) for f in RAW_STRING_FIELDS],
         ("year", _int(F.col("year"))),
         ("transaction_price", _float(F.col("transaction_price"))),
         ("schema_version", _int(F.col("schema_version")))],
        F.col("point_ns"))
    return points.select(line.alias("line"))


def rollup_lines(rollups: DataFrame, measurement: str) -> DataFrame:
    line = _line(
        measurement,
        [("dimension", F.col("dimension")), ("value", F.col("value"))],
        [("count", _int(F.col("count"))), ("revenue", _float(F.col("revenue"))),
         ("avg_price", _float(F.col("avg_price")))],
        F.col("bucket_ms") * 1_000_000)
    return rollups.select(line.alias("line"))


def summary_line(measurement: str, source: str, start_ns: int, counts: dict[str, int]) -> str:
    """The window's summary point (driver side; ``source`` is kafka|hdfs, no escaping needed)."""
    fields = ",".join(f"{k}={int(v)}i" for k, v in counts.items())
    return f"{measurement},source={source} {fields} {start_ns}"

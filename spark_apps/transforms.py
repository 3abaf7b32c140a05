"""The pure steps of the window job: DataFrame in, DataFrame out, no I/O and no settings.

Input to ``classify`` is one row per record read (column ``raw``: the Kafka value or the Flume line).
Everything after it works on typed columns, so the Kafka and the HDFS source give the same output
for the same records.
"""

from __future__ import annotations

from decimal import Decimal

from pyspark.sql import Column, DataFrame, Window as W
from pyspark.sql import functions as F

from spark_apps.event_rules import EventRules, FieldRule

# Low-cardinality fields that become InfluxDB tags, sorted by key (InfluxDB's preferred order).
TAG_FIELDS = ("branch", "car_brand", "car_model", "color", "country")
# Every field the job reads; the schema must define each of them.
JOB_FIELDS = ("schema_version", "event_time", "transaction_id", "buyer_id", "buyer_name", "year",
              "transaction_price", *TAG_FIELDS)
# Rollup dimensions: tag value of `dimension` -> event field.
ROLLUP_DIMENSIONS = (("brand", "car_brand"), ("country", "country"), ("branch", "branch"))

MONEY = "decimal(18,2)"            # transaction_price: exact cents, so sums never depend on order
_NUMBER = "decimal(38,18)"         # any JSON number, exactly, before range checks
_INT_TYPES = ("TINYINT", "SMALLINT", "INT", "BIGINT")
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# Characters no escaping makes safe in an InfluxDB 1.x tag value (line breaks end the line; a
# backslash before an escaped character is ambiguous).
_TAG_UNSAFE = r"[\n\r\\]"
NS_PER_MS = 1_000_000


def check_rules(rules: EventRules) -> None:
    missing = [f for f in JOB_FIELDS if f not in rules.names]
    if missing:
        raise ValueError(f"event schema lacks fields the job writes: {missing}")


# ----------------------------------------------------------------------------------------- classify

def classify(records: DataFrame, rules: EventRules) -> DataFrame:
    """records(raw) -> (identity, reason, raw, <one typed column per schema field>).

    ``reason`` is null for a valid event, else the first rule it breaks; ``raw`` is kept only for
    invalid records (the dead letters need it, valid ones are fully described by their fields).
    ``identity`` is what duplicates share (see ``dedupe``).
    """
    check_rules(rules)
    fields = rules.fields
    # Each field is parsed as a VARIANT, so its JSON type stays visible: a number sent where the
    # schema says string is rejected, not coerced to text as a STRING column would be.
    ddl = ", ".join(f"`{r.name}` variant" for r in fields)
    parsed = records.select(
        "raw",
        F.from_json("raw", ddl).alias("p"),
        F.json_object_keys("raw").alias("keys"),  # null unless raw is one well-formed JSON object
    )
    typed = parsed.select(
        "raw", "keys",
        *[F.col("p")[r.name].alias(_variant(r.name)) for r in fields],
        *[F.try_variant_get(F.col("p")[r.name], "$", _SQL_TYPES[r.kind]).alias(r.name) for r in fields],
    )
    checks: list[tuple[Column, str | Column]] = [
        (F.col("raw").isNull() | (F.trim("raw") == ""), "empty record"),
        (F.col("keys").isNull(), "malformed JSON: not one JSON object"),
        (F.size("keys") != F.size(F.array_distinct("keys")), "duplicate field"),
    ]
    if rules.closed:
        extra = F.array_except("keys", F.array(*[F.lit(n) for n in rules.names]))
        checks.append((F.size(extra) > 0, F.concat(F.lit("unexpected field: "), F.array_join(extra, ", "))))
    for r in fields:
        checks += _field_checks(r)
    checks += _contract_checks()
    reason = F.coalesce(*[F.when(broken, msg if isinstance(msg, Column) else F.lit(msg)) for broken, msg in checks])
    # Identity as the reconciliation counts HDFS lines (flume.hdfs_counts.identity): the
    # transaction_id of a JSON object that has one as a string, else the raw text.
    tid_is_text = F.schema_of_variant(F.col(_variant("transaction_id"))) == "STRING"
    identity = F.when(F.col("keys").isNotNull() & tid_is_text, F.concat(F.lit("id:"), F.col("transaction_id"))) \
        .otherwise(F.concat(F.lit("raw:"), F.coalesce(F.col("raw"), F.lit(""))))
    return typed.select(reason.alias("reason"), identity.alias("identity"), "raw", *rules.names).select(
        "identity", "reason", F.when(F.col("reason").isNotNull(), F.col("raw")).alias("raw"), *rules.names)


_SQL_TYPES = {"string": "string", "integer": "bigint", "number": _NUMBER, "boolean": "boolean"}


def _variant(name: str) -> str:
    return f"_v_{name}"


def _type_ok(kind: str, vtype: Column) -> Column:
    if kind == "string":
        return vtype == "STRING"
    if kind == "integer":
        return vtype.isin(*_INT_TYPES)
    if kind == "number":
        return vtype.isin(*_INT_TYPES, "DOUBLE", "FLOAT") | vtype.startswith("DECIMAL")
    return vtype == "BOOLEAN"


def _exact(x: float | int) -> Column:
    """A schema bound as an exact decimal literal (no binary-float rounding in comparisons)."""
    return F.lit(Decimal(str(x)))


def _field_checks(r: FieldRule) -> list[tuple[Column, str]]:
    """(broken, reason) checks for one field, in the order they are reported."""
    name, v, value = r.name, F.col(_variant(r.name)), F.col(r.name)
    present = v.isNotNull() & ~F.is_variant_null(v)
    out = []
    if r.required:
        out.append((v.isNull(), f"missing field: {name}"))
    if not r.nullable:
        out.append((F.is_variant_null(v), f"null field: {name}"))
    out.append((present & ~_type_ok(r.kind, F.schema_of_variant(v)), f"wrong type: {name} (expected {r.kind})"))
    out.append((present & value.isNull(), f"invalid {name}: out of range"))  # e.g. 1e400 or 2**70

    def bad(ok: Column, what: str) -> None:
        out.append((present & ~ok, f"invalid {name}: {what}"))

    if r.allowed is not None:
        bad(value.isin(*r.allowed), f"must be one of {list(r.allowed)}")
    if r.min_length is not None:
        bad(F.char_length(value) >= r.min_length, f"shorter than {r.min_length}")
    if r.max_length is not None:
        bad(F.char_length(value) <= r.max_length, f"longer than {r.max_length}")
    if r.pattern is not None:
        bad(value.rlike(r.pattern), "does not match the schema pattern")
    if r.fmt == "date-time":
        bad(value.try_cast("timestamp").isNotNull(), "not an ISO-8601 date-time")
    if r.fmt == "uuid":
        bad(value.rlike(_UUID), "not a UUID")
    if r.minimum is not None:
        bad(value >= _exact(r.minimum), f"must be >= {r.minimum}")
    if r.exclusive_minimum is not None:
        bad(value > _exact(r.exclusive_minimum), f"must be > {r.exclusive_minimum}")
    if r.maximum is not None:
        bad(value <= _exact(r.maximum), f"must be <= {r.maximum}")
    if r.exclusive_maximum is not None:
        bad(value < _exact(r.exclusive_maximum), f"must be < {r.exclusive_maximum}")
    if r.multiple_of is not None:
        bad(value % _exact(r.multiple_of) == 0, f"must be a multiple of {r.multiple_of}")
    return out


def _contract_checks() -> list[tuple[Column, str]]:
    """Rules of the interface contract (and of InfluxDB) that the JSON schema does not express."""
    price = F.col("transaction_price")
    out = [
        (F.col("event_time").try_cast("timestamp").isNull(), "invalid event_time: not an ISO-8601 date-time"),
        (price <= 0, "invalid transaction_price: must be > 0"),
        (price.try_cast(MONEY).isNull(), "invalid transaction_price: out of range"),
        (price != price.try_cast(MONEY), "invalid transaction_price: more than two decimals"),
    ]
    for tag in TAG_FIELDS:
        value = F.col(tag)
        out.append((value.rlike(_TAG_UNSAFE) | (value == ""),
                    f"invalid {tag}: not usable as an InfluxDB tag value (empty, line break or backslash)"))
    return out


def dedupe(classified: DataFrame) -> DataFrame:
    """One row per identity, with ``copies`` = how many records had it.

    Delivery into a window is at-least-once on the HDFS path: Flume's Kafka source commits after its
    HDFS sink took the batch, so a Flume crash can leave the same lines twice. Kafka holds each event
    once (the generator's producer is idempotent), so on the Kafka path this changes nothing.
    Reconciled here, with the identity the reconciliation uses: copies collapse into one; a valid
    copy wins over invalid ones, then the smallest (field by field), so the survivor never depends
    on read order or on the source.
    """
    rest = [c for c in classified.columns if c not in ("identity", "reason")]
    pick = F.struct(F.col("reason").isNotNull().alias("invalid"), "reason", *rest)
    return (classified.groupBy("identity")
            .agg(F.count(F.lit(1)).alias("copies"), F.min(pick).alias("e"))
            .select("identity", "copies", F.col("e.reason").alias("reason"),
                    *[F.col("e")[c].alias(c) for c in rest]))


def window_counts(deduped: DataFrame) -> DataFrame:
    """One row: read (records, copies included), written (valid events), dead_lettered, duplicates."""
    return deduped.agg(
        F.sum("copies").alias("read"),
        F.count_if(F.col("reason").isNull()).alias("written"),
        F.count_if(F.col("reason").isNotNull()).alias("dead_lettered"),
        (F.sum("copies") - F.count(F.lit(1))).alias("duplicates"))


def valid_events(deduped: DataFrame) -> DataFrame:
    """Valid events, typed for the sinks: event_ts (timestamp) added, price as exact cents."""
    return (deduped.where(F.col("reason").isNull())
            .drop("identity", "copies", "reason", "raw")
            .withColumn("event_ts", F.col("event_time").try_cast("timestamp"))
            .withColumn("transaction_price", F.col("transaction_price").cast(MONEY)))


def dead_letters(deduped: DataFrame) -> DataFrame:
    """Invalid records as the dead-letter contract has them: (reason, raw)."""
    return deduped.where(F.col("reason").isNotNull()).select("reason", "raw")


# ---------------------------------------------------------------------------------- point time

def with_point_ms(events: DataFrame, start_ms: int, end_ms: int) -> DataFrame:
    """Adds point_ms: event_time at ms precision, clamped into [start, end - 1 ms].

    Clamping keeps every point of a window inside the window's own time range, so a rerun can
    replace exactly that range and never touches a neighbour's points, whatever the event clocks say.
    """
    ms = F.unix_millis("event_ts")  # truncates µs: the floor, for any time after 1970
    return events.withColumn("point_ms", F.least(F.greatest(ms, F.lit(start_ms)), F.lit(end_ms - 1)))


def with_point_ns(events: DataFrame) -> DataFrame:
    """Adds point_ns = point_ms in ns + the transaction's rank among those sharing point_ms and the
    tag set (ordered by transaction_id): distinct transactions never share a series and timestamp,
    and the same input always gives each transaction the same point."""
    rank = F.row_number().over(W.partitionBy("point_ms", *TAG_FIELDS).orderBy("transaction_id")) - 1
    rank = F.when(rank < NS_PER_MS, rank).otherwise(
        F.raise_error(F.lit("more than 1,000,000 transactions share one millisecond and tag set")))
    return events.withColumn("point_ns", F.col("point_ms") * NS_PER_MS + rank)


# --------------------------------------------------------------------------------------- rollups

def rollups_1m(events: DataFrame, start_ms: int) -> DataFrame:
    """Per-minute sales by brand, country and branch: (bucket_ms, dimension, value, count, revenue,
    avg_price).

    The bucket is the minute of point_ms, but never before the window start: a window shorter than
    a minute then owns its own bucket instead of overwriting the bucket another window wrote.
    For whole-minute windows this is exactly the minute.
    """
    bucket = F.greatest(F.col("point_ms") - F.col("point_ms") % 60_000, F.lit(start_ms))
    pairs = F.array(*[F.struct(F.lit(d).alias("dimension"), F.col(c).alias("value")) for d, c in ROLLUP_DIMENSIONS])
    return (events.select(bucket.alias("bucket_ms"), F.explode(pairs).alias("d"), "transaction_price")
            .groupBy("bucket_ms", F.col("d.dimension").alias("dimension"), F.col("d.value").alias("value"))
            .agg(F.count(F.lit(1)).alias("count"), F.sum("transaction_price").alias("revenue"))
            .withColumn("avg_price", F.round(F.col("revenue") / F.col("count"), 2)))

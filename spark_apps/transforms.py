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

# Session settings the transforms are built for (the job and the unit tests apply them):
SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    # Constraint propagation grows with the validation expression's size until the optimizer
    # spends minutes (or the heap) on it; these plans gain nothing from it.
    "spark.sql.constraintPropagation.enabled": "false",
    # A generated method over the JIT's 8000-byte limit would run interpreted, far slower:
    # let Spark split such a stage instead.
    "spark.sql.codegen.hugeMethodLimit": "8000",
}
MONEY = "decimal(18,2)"            # transaction_price: exact cents, so sums never depend on order
NS_PER_MS = 1_000_000
# How each JSON-schema type is parsed. LongType and DoubleType refuse JSON strings (except the
# strings "NaN"/"Infinity" for doubles, caught below); StringType accepts any token as its text,
# hence the explicit string check in _field_checks.
_PARSE_TYPES = {"string": "string", "integer": "bigint", "number": "double", "boolean": "boolean"}
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_JSON_NUMBER = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"


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

    Cost: one typed JSON parse plus the key list per record. The checks that need more (telling a
    missing field from a null one, or a JSON string from a number in a text field) re-read the
    record lazily, only for the few records where the cheap checks leave the question open.
    """
    check_rules(rules)
    names = rules.names
    ddl = ", ".join(f"`{r.name}` {_PARSE_TYPES[r.kind]}" for r in rules.fields)
    typed = records.select(
        "raw",
        F.json_object_keys("raw").alias("keys"),  # null unless raw is one well-formed JSON object
        F.from_json("raw", ddl).alias("p"),
    ).select("raw", "keys", *[F.col("p")[n].alias(n) for n in names])
    # The common case in one test: every field has a value and there are no other keys.
    complete = F.col("keys").isNotNull() & (F.size("keys") == len(names))
    for n in names:
        complete = complete & F.col(n).isNotNull()
    incomplete = ~complete
    checks: list[tuple[Column, str | Column]] = [
        (F.col("raw").isNull() | (F.trim("raw") == ""), "empty record"),
        (F.col("keys").isNull(), "malformed JSON: not one JSON object"),
        (_lazy(incomplete, F.size("keys") != F.size(F.array_distinct("keys"))), "duplicate field"),
    ]
    if rules.closed:
        extra = F.array_except("keys", F.array(*[F.lit(n) for n in names]))
        checks.append((_lazy(incomplete, F.size(extra) > 0),
                       F.concat(F.lit("unexpected field: "), F.array_join(extra, ", "))))
    for r in rules.fields:
        checks += _field_checks(r, incomplete)
    checks += _contract_checks()
    reason = F.coalesce(*[F.when(broken, msg if isinstance(msg, Column) else F.lit(msg)) for broken, msg in checks])
    # Identity as the reconciliation counts HDFS lines (flume.hdfs_counts.identity): the
    # transaction_id of a JSON object that has one as a string, else the raw text.
    tid = F.col("transaction_id")
    tid_is_text = tid.isNotNull() & ~_lazy(_maybe_literal(tid), _json_type("transaction_id") != "STRING")
    identity = F.when(F.col("keys").isNotNull() & tid_is_text, F.concat(F.lit("id:"), tid)) \
        .otherwise(F.concat(F.lit("raw:"), F.coalesce(F.col("raw"), F.lit(""))))
    return typed.select(reason.alias("reason"), identity.alias("identity"), "raw", *names).select(
        "identity", "reason", F.when(F.col("reason").isNotNull(), F.col("raw")).alias("raw"), *names)


def _lazy(first: Column, then: Column) -> Column:
    """first AND then, with ``then`` evaluated only when ``first`` holds (a CASE branch, which
    Spark neither evaluates eagerly nor hoists as a common subexpression)."""
    return F.when(first, then).otherwise(F.lit(False))


def _json_type(name: str) -> Column:
    """The JSON type of a top-level field as schema_of_variant names it (re-parses the record)."""
    return F.schema_of_variant(F.variant_get(F.parse_json("raw"), f"$['{name}']", "variant"))


def _maybe_literal(text: Column) -> Column:
    """Could this text be how a StringType column renders a non-string JSON token (a number,
    true/false, an object or an array)? Cheap, and true for every such rendering."""
    first = F.substring(text, 1, 1)
    return (F.when(first.isin("{", "["), True)
            .when(first.isin(*"-0123456789"), text.rlike(_JSON_NUMBER))
            .otherwise(text.isin("true", "false")))


def _exact(x: float | int) -> Column:
    """A schema bound as an exact decimal literal."""
    return F.lit(Decimal(str(x)))


def _field_checks(r: FieldRule, incomplete: Column) -> list[tuple[Column, str | Column]]:
    """(broken, reason) checks for one field, in the order they are reported."""
    name, value = r.name, F.col(r.name)
    out: list[tuple[Column, str | Column]] = []
    if r.required:
        out.append((_lazy(incomplete, ~F.array_contains("keys", name)), f"missing field: {name}"))
    wrong = f"wrong type: {name} (expected {r.kind})"
    json_null = _json_type(name) == "VOID"
    # A present field without a value: JSON null, or a token the parser refused for this type.
    # (A missing required field was reported above; an optional one may be absent.)
    no_value = value.isNull() if r.required else _lazy(value.isNull(), F.array_contains("keys", name))
    if r.nullable:
        out.append((_lazy(no_value, ~json_null), wrong))
    else:
        out.append((no_value, F.when(json_null, F.lit(f"null field: {name}")).otherwise(F.lit(wrong))))
    if r.kind == "string":
        out.append((_lazy(_maybe_literal(value), _json_type(name) != "STRING"), wrong))
    if r.kind == "number":  # the strings "NaN" and "Infinity" parse as doubles
        out.append((F.isnan(value) | (F.abs(value) == float("inf")), wrong))

    def bad(ok: Column, what: str) -> None:
        out.append((value.isNotNull() & ~ok, f"invalid {name}: {what}"))

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
    if r.fmt == "uuid" and r.pattern is None:  # a schema pattern already pins the text down
        bad(value.rlike(_UUID), "not a UUID")
    if r.minimum is not None:
        bad(value >= _exact(r.minimum), f"must be >= {r.minimum}")
    if r.exclusive_minimum is not None:
        bad(value > _exact(r.exclusive_minimum), f"must be > {r.exclusive_minimum}")
    if r.maximum is not None:
        bad(value <= _exact(r.maximum), f"must be <= {r.maximum}")
    if r.exclusive_maximum is not None:
        bad(value < _exact(r.exclusive_maximum), f"must be < {r.exclusive_maximum}")
    if r.multiple_of is not None:  # exactly, on the number's decimal text
        bad(value.cast("string").try_cast("decimal(38,18)") % _exact(r.multiple_of) == 0,
            f"must be a multiple of {r.multiple_of}")
    return out


def _contract_checks() -> list[tuple[Column, str]]:
    """Rules of the interface contract (and of InfluxDB) that the JSON schema does not express."""
    price = F.col("transaction_price")
    out = [
        (F.col("event_time").try_cast("timestamp").isNull(), "invalid event_time: not an ISO-8601 date-time"),
        (price <= 0, "invalid transaction_price: must be > 0"),
        # round() works on the double's shortest decimal text: true exactly when it has <= 2 decimals
        (price != F.round(price, 2), "invalid transaction_price: more than two decimals"),
        (price.try_cast(MONEY).isNull(), "invalid transaction_price: out of range"),
    ]
    for tag in TAG_FIELDS:
        # No escaping makes these safe in an InfluxDB 1.x tag value: a line break ends the line,
        # a backslash before an escaped character (or at the end) changes how it is read.
        v = F.col(tag)
        out.append(((v == "") | v.contains("\n") | v.contains("\r") | v.contains("\\"),
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
    # Partitioned tags first: the window sort then leaves each series's points together and in time
    # order, so a write batch touches few series (InfluxDB ingests such batches markedly faster).
    rank = F.row_number().over(W.partitionBy(*TAG_FIELDS, "point_ms").orderBy("transaction_id")) - 1
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

"""The pure steps of the window job: DataFrame in, DataFrame out, no I/O and no settings.

Input to ``classify`` is one row per record read (column ``raw``: the Kafka value or the Flume line).
Everything after it works on typed columns, so the Kafka and the HDFS source give the same output
for the same records.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from pyspark.sql import Column, DataFrame, Window as W
from pyspark.sql import functions as F

from carpipe.records import ID_FIELD, ID_PREFIX, RAW_PREFIX
from carpipe.windows import UTC, parse_utc
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
    """The schema defines every field the job writes, keeps unusable values out of the InfluxDB tags
    and bounds the price to what MONEY holds: the job relies on the contract for all three."""
    missing = [f for f in JOB_FIELDS if f not in rules.names]
    if missing:
        raise ValueError(f"event schema lacks fields the job writes: {missing}")
    for tag in TAG_FIELDS:
        admitted = [v for v in ("", "a\n", "a\nb", "a\rb", "a\\b") if rules[tag].admits_text(v)]
        if admitted:
            raise ValueError(f"event schema admits {admitted!r} as {tag}, which is an InfluxDB tag")
    price = rules["transaction_price"]
    if price.maximum is None or price.maximum >= 1e16 or price.max_decimals is None or price.max_decimals > 2:
        raise ValueError("event schema must bound transaction_price below 1e16 with at most 2 decimals")


# ----------------------------------------------------------------------------------------- classify

# The parser takes only RFC 8259 JSON (Spark's defaults also take 'single quotes' and NaN).
JSON_OPTIONS = {"allowSingleQuotes": "false", "allowNonNumericNumbers": "false"}
CONFLICT_REASON = "conflicting duplicate of "


def classify(records: DataFrame, rules: EventRules, received_by_ms: int) -> DataFrame:
    """records(raw) -> (identity, version, reason, raw, <one typed column per schema field>).

    ``reason`` is null for a valid event, else the first rule it breaks. ``identity`` and ``version``
    are carpipe.records' rule (what duplicates and conflicts share; see ``dedupe``). ``received_by_ms``
    is when the records had all reached the platform at the latest (the window end): the bound for
    event times "ahead of their receipt".

    Cost: one typed JSON parse plus the key list per record. The checks that need more (telling a
    missing field from a null one, or a JSON string from a number in a text field) re-read the
    record lazily, only for the few records where the cheap checks leave the question open.
    """
    check_rules(rules)
    names = rules.names
    ddl = ", ".join(f"`{r.name}` {_PARSE_TYPES[r.kind]}" for r in rules.fields)
    typed = records.select(
        "raw",
        F.is_valid_utf8("raw").alias("utf8"),
        F.json_object_keys("raw").alias("keys"),  # null unless raw begins with one well-formed JSON object
        F.from_json("raw", ddl, JSON_OPTIONS).alias("p"),
    ).select("raw", "utf8", "keys", *[F.col("p")[n].alias(n) for n in names])
    # The common case in one test: every field has a value and there are no other keys.
    complete = F.col("keys").isNotNull() & (F.size("keys") == len(names))
    for n in names:
        complete = complete & F.col(n).isNotNull()
    incomplete = ~complete
    checks: list[tuple[Column, str | Column]] = [
        (F.col("raw").isNull() | (F.trim("raw") == ""), "empty record"),
        (~F.col("utf8"), "malformed JSON: not valid UTF-8"),
        (F.col("keys").isNull(), "malformed JSON: not one JSON object"),
        (_lazy(incomplete, F.size("keys") != F.size(F.array_distinct("keys"))), "duplicate field"),
        # json_object_keys takes 'single quotes' and raw control characters in strings; the strict
        # parser does not (a complete record was parsed by from_json, which is strict too).
        (_lazy(incomplete, F.try_parse_json("raw").isNull()), "malformed JSON: not one JSON object"),
    ]
    if rules.closed:
        extra = F.array_except("keys", F.array(*[F.lit(n) for n in names]))
        checks.append((_lazy(incomplete, F.size(extra) > 0),
                       F.concat(F.lit("unexpected field: "), F.array_join(extra, ", "))))
    for r in rules.fields:
        checks += _field_checks(r, incomplete, received_by_ms)
    reason = F.coalesce(*[F.when(broken, msg if isinstance(msg, Column) else F.lit(msg)) for broken, msg in checks])
    # carpipe.records.identity: the transaction_id of a JSON object that has one as a string (the
    # strict parser's, which reads unpaired surrogates as '?'), else a digest of the bytes.
    tid = F.col(ID_FIELD)
    tid_is_text = tid.isNotNull() & ~_lazy(_maybe_literal(tid), _json_type(ID_FIELD) != "STRING")
    identity = F.when(F.col("utf8") & F.col("keys").isNotNull() & tid_is_text, F.concat(F.lit(ID_PREFIX), tid)) \
        .otherwise(F.concat(F.lit(RAW_PREFIX), F.sha2(F.coalesce(F.col("raw"), F.lit("")), 256)))
    return typed.select(identity.alias("identity"), F.xxhash64("raw").alias("version"), reason.alias("reason"),
                        "raw", *names)


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


def _field_checks(r: FieldRule, incomplete: Column, received_by_ms: int) -> list[tuple[Column, str | Column]]:
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
        bad(value.rlike(r.java_pattern), f"does not match the schema pattern {r.pattern}")
    if r.fmt == "date-time":
        instant = value.try_cast("timestamp")
        bad(instant.isNotNull(), "not an ISO-8601 date-time")
        if r.not_before is not None:
            bad(instant >= F.lit(parse_utc(r.not_before)), f"before {r.not_before}")
        if r.max_ahead_seconds is not None:
            latest = datetime.fromtimestamp(received_by_ms / 1000, UTC) + timedelta(seconds=r.max_ahead_seconds)
            bad(instant <= F.lit(latest), f"more than {r.max_ahead_seconds}s after the window end")
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
    if r.max_decimals is not None:
        # round() works on the double's shortest decimal text: equal exactly when it has few enough
        # decimals (as Python's round(), which the API uses)
        bad(value == F.round(value, r.max_decimals), f"more than {r.max_decimals} decimals")
    return out


def dedupe(classified: DataFrame) -> DataFrame:
    """One row per version of each identity: (identity, version, copies, conflict, reason, raw, fields).

    Duplicates (copies of one identity with the same bytes) collapse into one row, ``copies`` counting
    them: a client's retry, a producer outside our control, an old window written before Flume was exactly-once.
    Conflicts (one identity, different bytes: the same transaction_id with other content) are never
    silently collapsed: one version is kept, the valid one before invalid ones, then the smallest
    version digest (so the choice never depends on read order or on the source), and every other
    version becomes a dead letter with reason "conflicting duplicate of <transaction_id>"
    (``conflict`` true). ``raw`` is kept for invalid versions only; ``conflict_losers`` recovers it for
    the valid losing ones.
    """
    rest = [c for c in classified.columns if c not in ("identity", "version", "reason", "raw")]
    invalid = F.col("reason").isNotNull()
    # One shuffle (by identity) and one sort (identity, invalid, version, raw) serve all three windows:
    # each one's partitioning is a superset of identity and its ordering a prefix of that sort.
    rows = (classified.withColumn("invalid", invalid).repartition("identity")
            .sortWithinPartitions("identity", "invalid", "version", "raw"))
    copies = W.partitionBy("identity", "invalid", "version").orderBy("raw")
    copy_no = F.row_number().over(copies)
    n_copies = F.count(F.lit(1)).over(copies.rowsBetween(W.unboundedPreceding, W.unboundedFollowing))
    rank = F.dense_rank().over(W.partitionBy("identity").orderBy("invalid", "version"))
    versions = (rows.select("*", copy_no.alias("copy_no"), n_copies.alias("copies"), rank.alias("rank"))
                .where(F.col("copy_no") == 1))
    conflict = F.col("rank") > 1
    reason = F.when(conflict, F.concat(F.lit(CONFLICT_REASON), F.substring("identity", len(ID_PREFIX) + 1, 1 << 20))) \
        .otherwise(F.col("reason"))
    return versions.select("identity", "version", "copies", conflict.alias("conflict"), reason.alias("reason"),
                           F.when(invalid, F.col("raw")).alias("raw"), *rest)


def window_counts(deduped: DataFrame) -> DataFrame:
    """One row: read (records, copies included), written (valid events), dead_lettered (invalid
    versions and conflicting ones), duplicates (copies beyond the first of a version), conflicts.
    ``read == written + dead_lettered + duplicates``; all 0 for an empty window."""
    read = F.coalesce(F.sum("copies"), F.lit(0))
    return deduped.agg(
        read.alias("read"),
        F.count_if(F.col("reason").isNull()).alias("written"),
        F.count_if(F.col("reason").isNotNull()).alias("dead_lettered"),
        (read - F.count(F.lit(1))).alias("duplicates"),
        F.count_if("conflict").alias("conflicts"))


def valid_events(deduped: DataFrame) -> DataFrame:
    """Valid events, typed for the sinks: event_ts (timestamp) added, price as exact cents."""
    return (deduped.where(F.col("reason").isNull())
            .drop("identity", "version", "copies", "conflict", "reason", "raw")
            .withColumn("event_ts", F.col("event_time").try_cast("timestamp"))
            .withColumn("transaction_price", F.col("transaction_price").cast(MONEY)))


def dead_letters(deduped: DataFrame) -> DataFrame:
    """Invalid records as the dead-letter contract has them: (reason, raw); conflicting versions
    that were valid have no raw here (see ``conflict_losers``)."""
    return deduped.where(F.col("reason").isNotNull() & (~F.col("conflict") | F.col("raw").isNotNull())) \
        .select("reason", "raw")


def conflict_losers(classified: DataFrame, deduped: DataFrame) -> DataFrame:
    """The valid versions that lost a conflict, with their raw text: (reason, raw). Re-reads the
    records, so the job calls it only for a window that has conflicts."""
    losers = deduped.where(F.col("conflict") & F.col("raw").isNull()).select("identity", "version", "reason")
    return (classified.select("identity", "version", "raw").join(F.broadcast(losers), ["identity", "version"])
            .dropDuplicates(["identity", "version"]).select("reason", "raw"))


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

"""The window job's pure transforms on small fixtures, with exact expected output (local Spark)."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest

from carpipe.windows import Window, parse_utc
from spark_apps import line_protocol as lp
from spark_apps import transforms as t
from spark_apps.kafka_to_influx import transform
from tests.spark.conftest import event, line, tid

W = Window(parse_utc("2026-01-01T12:00:00Z"), parse_utc("2026-01-01T12:00:30Z"))
NS = 1_000_000


def frame(spark, raws: list[str]):
    return spark.createDataFrame([(r,) for r in raws], "raw string")


def classify(spark, rules, raws: list[str], window=W):
    return t.classify(frame(spark, raws), rules, window.end_ms)


def reasons(spark, rules, raws: list[str]) -> list[str | None]:
    return [r.reason for r in classify(spark, rules, raws).collect()]


TAG_RULE = r"does not match the schema pattern ^[^\x00-\x1F\x7F-\x9F\\]+$"
TEXT_RULE = r"does not match the schema pattern ^[^\x00-\x1F\x7F-\x9F]+$"


BAD = [
    ("", "empty record"),
    ("   ", "empty record"),
    ("not json", "malformed JSON: not one JSON object"),
    ("[1, 2]", "malformed JSON: not one JSON object"),
    ('{"schema_version": 1', "malformed JSON: not one JSON object"),
    ('{"transaction_price": Infinity}', "malformed JSON: not one JSON object"),
    ('{"year": 2020, "year": 2021}', "duplicate field"),
    (line(extra="x"), "unexpected field: extra"),
    (line(color=None), "missing field: color"),
    (line(color=None, branch=None), "missing field: color"),  # first broken rule, schema order
    (line(buyer_name=None) + "", "missing field: buyer_name"),
    (json.dumps({**event(), "country": None}), "null field: country"),
    (line(year="2020"), "wrong type: year (expected integer)"),
    (line(year=2020.5), "wrong type: year (expected integer)"),
    (line(car_brand=7), "wrong type: car_brand (expected string)"),
    (line(buyer_name={"first": "Ann"}), "wrong type: buyer_name (expected string)"),
    (line(transaction_price="25000"), "wrong type: transaction_price (expected number)"),
    (line(schema_version=2), "invalid schema_version: must be one of [1]"),
    (line(event_time="2026-01-01 12:00:01"), "invalid event_time: does not match the schema pattern "
                                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"),
    (line(event_time="2026-13-01T12:00:01.234Z"), "invalid event_time: not an ISO-8601 date-time"),
    (line(transaction_id="42"), "invalid transaction_id: does not match the schema pattern "
                                "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    (line(buyer_name=""), "invalid buyer_name: shorter than 1"),
    (line(car_model="x" * 101), "invalid car_model: longer than 100"),
    (line(year=1899), "invalid year: must be >= 1900"),
    (line(year=2101), "invalid year: must be <= 2100"),
    (line(year=2 ** 70), "wrong type: year (expected integer)"),
    (line(transaction_price=0), "invalid transaction_price: must be >= 0.01"),
    (line(transaction_price=-5.5), "invalid transaction_price: must be >= 0.01"),
    (line(transaction_price=10_000_000.01), "invalid transaction_price: must be <= 10000000"),
    (line(transaction_price=12.345), "invalid transaction_price: more than 2 decimals"),
    (line(transaction_price=0.285), "invalid transaction_price: more than 2 decimals"),
    (line(transaction_price=1e300), "invalid transaction_price: must be <= 10000000"),
    (line(transaction_price="NaN"), "wrong type: transaction_price (expected number)"),
    (line(color=True), "wrong type: color (expected string)"),
    (line(car_model=[1]), "wrong type: car_model (expected string)"),
    (line(car_brand="Rolls\nRoyce"), f"invalid car_brand: {TAG_RULE}"),
    (line(car_brand="Rolls Royce\n"), f"invalid car_brand: {TAG_RULE}"),   # Java's $ would match before it
    (line(branch="Ber\\lin"), f"invalid branch: {TAG_RULE}"),
    (line(color="\x07"), f"invalid color: {TAG_RULE}"),
    (line(country="Ger\x85many"), f"invalid country: {TAG_RULE}"),
    (line(buyer_name="Ann\tLee"), f"invalid buyer_name: {TEXT_RULE}"),
    (line(event_time="0087-01-01T00:00:00.000Z"), "invalid event_time: before 1970-01-01T00:00:00.000Z"),
    (line(event_time="1969-12-31T23:59:59.999Z"), "invalid event_time: before 1970-01-01T00:00:00.000Z"),
    (line(event_time="2026-01-02T12:00:30.001Z"), "invalid event_time: more than 86400s after the window end"),
    (line(event_time="٢٠٢٦-01-01T12:00:01.234Z"), "invalid event_time: does not match the schema pattern "
                                                  "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"),
    ("{'schema_version': 1}", "malformed JSON: not one JSON object"),
    ('{"schema_version": 1, "color": "a\tb"}', "malformed JSON: not one JSON object"),
]


def test_each_invalid_record_gets_the_reason_of_the_first_rule_it_breaks(spark, rules):
    raws = [raw for raw, _ in BAD]
    assert dict(zip(raws, reasons(spark, rules, raws))) == dict(BAD)


def test_event_times_up_to_a_day_after_the_window_end_are_valid(spark, rules):
    assert reasons(spark, rules, [line(event_time="2026-01-02T12:00:30.000Z"),
                                  line(event_time="1970-01-01T00:00:00.000Z")]) == [None, None]


def test_valid_records_are_typed_exactly_and_keep_no_raw_copy_past_dedupe(spark, rules):
    raws = [line(1), line(2, transaction_price=19999, year=1900, buyer_name='Zoë "Z" Ünal, Jr.'),
            line(3, transaction_price=0.01, car_model="Model S=Plaid, Long Range"),
            # text that looks like JSON literals is still text when the JSON says string
            line(4, car_model="208", color="true", buyer_name="[1]", branch="-1e5")]
    rows = [r.asDict() for r in classify(spark, rules, raws).collect()]
    assert [r["reason"] for r in rows] == [None] * 4
    assert [r["raw"] for r in rows] == raws
    assert [r.raw for r in t.dedupe(classify(spark, rules, raws)).collect()] == [None] * 4
    assert [r["identity"] for r in rows] == [f"id:{tid(n)}" for n in (1, 2, 3, 4)]
    assert [(r["transaction_price"], r["year"]) for r in rows] == [(25000.5, 2020), (19999.0, 1900), (0.01, 2020),
                                                                   (25000.5, 2020)]
    assert rows[1]["buyer_name"] == 'Zoë "Z" Ünal, Jr.'
    assert (rows[3]["car_model"], rows[3]["color"], rows[3]["buyer_name"], rows[3]["branch"]) == ("208", "true", "[1]", "-1e5")


def test_dedupe_collapses_identical_copies_and_keeps_conflicting_ones_apart(spark, rules):
    b3, a3 = line(3, buyer_name="B"), line(3, buyer_name="A")
    raws = [line(1), line(1), line(1),                              # Flume redelivery: same line thrice
            line(2, year="x"), line(2),                             # conflict: the valid version wins
            b3, a3, a3,                                             # conflict between valid versions
            "garbage", "garbage", line(4, transaction_price=-1)]
    classified = classify(spark, rules, raws)
    deduped = t.dedupe(classified)
    rows = sorted((r.identity, r.copies, r.conflict, r.reason, r.buyer_name) for r in deduped.collect())
    winner3 = next(r for r in rows if r[0] == f"id:{tid(3)}" and not r[2])
    loser3 = "A" if winner3[4] == "B" else "B"
    assert rows == sorted([
        (f"id:{tid(1)}", 3, False, None, "Ann Lee"),
        (f"id:{tid(2)}", 1, False, None, "Ann Lee"),
        (f"id:{tid(2)}", 1, True, f"conflicting duplicate of {tid(2)}", "Ann Lee"),
        winner3,
        (f"id:{tid(3)}", 2 if loser3 == "A" else 1, True, f"conflicting duplicate of {tid(3)}", loser3),
        ("raw:" + hashlib.sha256(b"garbage").hexdigest(), 2, False, "malformed JSON: not one JSON object", None),
        (f"id:{tid(4)}", 1, False, "invalid transaction_price: must be >= 0.01", "Ann Lee")])
    # the choice between valid versions is the smaller version digest: the same whatever the read order
    again = {(r.identity, r.buyer_name) for r in t.dedupe(classify(spark, rules, raws[::-1])).collect()
             if not r.conflict}
    assert (f"id:{tid(3)}", winner3[4]) in again
    assert t.window_counts(deduped).first().asDict() == {"read": 11, "written": 3, "dead_lettered": 4,
                                                         "duplicates": 4, "conflicts": 2}
    assert sorted(map(tuple, t.dead_letters(deduped).collect())) == sorted([
        (f"conflicting duplicate of {tid(2)}", line(2, year="x")),
        ("invalid transaction_price: must be >= 0.01", line(4, transaction_price=-1)),
        ("malformed JSON: not one JSON object", "garbage")])
    assert [tuple(r) for r in t.conflict_losers(classified, deduped).collect()] == [
        (f"conflicting duplicate of {tid(3)}", a3 if loser3 == "A" else b3)]


def test_an_empty_window_counts_zero(spark, rules):
    deduped = t.dedupe(classify(spark, rules, []))
    assert t.window_counts(deduped).first().asDict() == {"read": 0, "written": 0, "dead_lettered": 0,
                                                         "duplicates": 0, "conflicts": 0}


def points(spark, rules, raws, window=W):
    events = t.valid_events(t.dedupe(classify(spark, rules, raws, window)))
    return t.with_point_ns(t.with_point_ms(events, window.start_ms, window.end_ms))


def test_point_time_is_event_time_at_ms_clamped_into_the_window_plus_a_tie_break(spark, rules):
    raws = [line(1, event_time="2026-01-01T12:00:01.234Z"),
            line(2, event_time="2025-12-31T23:00:00.000Z"),    # before the window: its first ms
            line(3, event_time="2026-01-01T12:05:00.000Z"),    # after: its last ms
            line(4, event_time="2026-01-01T12:00:30.000Z"),    # exactly the (exclusive) end: last ms
            line(7, event_time="2026-01-01T12:00:05.000Z"),    # same ms and tags: ranked by id
            line(6, event_time="2026-01-01T12:00:05.000Z"),
            line(5, event_time="2026-01-01T12:00:05.000Z", color="blue")]  # other tags: own rank
    got = {r.transaction_id: r.point_ns for r in points(spark, rules, raws).collect()}
    start = W.start_ms * NS
    last = W.end_ms * NS - NS
    assert got == {tid(1): start + 1234 * NS, tid(2): start, tid(3): last, tid(4): last + 1, tid(6): start + 5000 * NS, tid(7): start + 5000 * NS + 1,
                   tid(5): start + 5000 * NS}


def test_rollups_per_minute_and_dimension_exact_cents(spark, rules):
    hour = Window(parse_utc("2026-01-01T12:00:00Z"), parse_utc("2026-01-01T12:15:00Z"))
    raws = [line(1, event_time="2026-01-01T12:00:10.000Z", transaction_price=0.1),
            line(2, event_time="2026-01-01T12:00:50.000Z", transaction_price=0.2, car_brand="BMW"),
            line(3, event_time="2026-01-01T12:01:00.000Z", transaction_price=100.01, country="France",
                 branch="Paris")]
    events = t.with_point_ms(t.valid_events(t.dedupe(classify(spark, rules, raws, hour))),
                             hour.start_ms, hour.end_ms)
    got = {(r.bucket_ms, r.dimension, r.value): (r["count"], r.revenue, r.avg_price)
           for r in t.rollups_1m(events, hour.start_ms).collect()}
    m0, m1 = hour.start_ms, hour.start_ms + 60_000
    assert got == {
        (m0, "brand", "Toyota"): (1, Decimal("0.10"), Decimal("0.10")),
        (m0, "brand", "BMW"): (1, Decimal("0.20"), Decimal("0.20")),
        (m0, "country", "Germany"): (2, Decimal("0.30"), Decimal("0.15")),
        (m0, "branch", "Berlin"): (2, Decimal("0.30"), Decimal("0.15")),
        (m1, "brand", "Toyota"): (1, Decimal("100.01"), Decimal("100.01")),
        (m1, "country", "France"): (1, Decimal("100.01"), Decimal("100.01")),
        (m1, "branch", "Paris"): (1, Decimal("100.01"), Decimal("100.01")),
    }


def test_a_window_shorter_than_a_minute_owns_its_bucket(spark, rules):
    second_half = Window(parse_utc("2026-01-01T12:00:30Z"), parse_utc("2026-01-01T12:01:00Z"))
    events = t.with_point_ms(t.valid_events(t.dedupe(classify(spark, rules, [line(1)], second_half))),
                             second_half.start_ms, second_half.end_ms)
    assert {r.bucket_ms for r in t.rollups_1m(events, second_half.start_ms).collect()} == {second_half.start_ms}


def test_the_whole_transform_gives_exact_line_protocol(spark, rules):
    raws = [line(1, car_brand="Land Rover", car_model="Defender 110, V8=yes", buyer_name='Ann "A" \\ Lee'),
            line(2, event_time="2026-01-01T12:00:29.999Z", transaction_price=99.9, country="Côte d'Ivoire"),
            line(2, event_time="2026-01-01T12:00:29.999Z", transaction_price=99.9, country="Côte d'Ivoire"),
            "{oops"]
    out = transform(frame(spark, raws), rules, W, "car_transaction_data")
    assert out.counts.first().asDict() == {"read": 4, "written": 2, "dead_lettered": 1, "duplicates": 1,
                                           "conflicts": 0}
    assert sorted(r.line for r in out.raw_lines.collect()) == sorted([
        'car_transaction_data,branch=Berlin,car_brand=Land\\ Rover,car_model=Defender\\ 110\\,\\ V8\\=yes,'
        'color=red,country=Germany transaction_id="00000000-0000-4000-8000-000000000001",'
        'buyer_id="00000000-0000-4000-8000-00000000b0b0",buyer_name="Ann \\"A\\" \\\\ Lee",year=2020i,'
        f'transaction_price=25000.50,schema_version=1i {W.start_ms * NS + 1234 * NS}',
        "car_transaction_data,branch=Berlin,car_brand=Toyota,car_model=Corolla,color=red,"
        "country=Côte\\ d'Ivoire transaction_id=\"00000000-0000-4000-8000-000000000002\","
        'buyer_id="00000000-0000-4000-8000-00000000b0b0",buyer_name="Ann Lee",year=2020i,'
        f"transaction_price=99.90,schema_version=1i {W.start_ms * NS + 29_999 * NS}",
    ])
    start = W.start_ms * NS
    assert sorted(r.line for r in out.rollup_lines.collect()) == sorted([
        f"car_sales_1m,dimension=brand,value=Land\\ Rover count=1i,revenue=25000.50,avg_price=25000.50 {start}",
        f"car_sales_1m,dimension=brand,value=Toyota count=1i,revenue=99.90,avg_price=99.90 {start}",
        f"car_sales_1m,dimension=country,value=Germany count=1i,revenue=25000.50,avg_price=25000.50 {start}",
        f"car_sales_1m,dimension=country,value=Côte\\ d'Ivoire count=1i,revenue=99.90,avg_price=99.90 {start}",
        f"car_sales_1m,dimension=branch,value=Berlin count=2i,revenue=25100.40,avg_price=12550.20 {start}",
    ])
    assert [tuple(r) for r in out.dead_letters.collect()] == [("malformed JSON: not one JSON object", "{oops")]


def test_summary_line():
    assert lp.summary_line("window_summary", "hdfs", 5, {"read": 3, "written": 2, "dead_lettered": 1}) == \
        "window_summary,source=hdfs read=3i,written=2i,dead_lettered=1i 5"


NASTY = ["a,b", "a=b", "a b", " lead and trail ", "ünï €", "tab\there", 'quo"te', "x,y=z w"]


def test_escaping_matches_the_influxdb_client_point_serializer(spark):
    """influxdb-client's Point is the reference line-protocol serializer (for these characters; it
    writes a tab in a tag as the two characters backslash-t, which InfluxDB 1.x then stores as such,
    while a raw tab is kept as it is: see the integration test's round trip)."""
    from influxdb_client import Point
    from pyspark.sql import functions as F

    rows = spark.createDataFrame([(v,) for v in NASTY], "v string").select(
        "v", lp.escape_tag(F.col("v")).alias("tag"), lp.escape_string_field(F.col("v")).alias("field")).collect()
    got = {r.v: f"m,t={r.tag} f={r.field} 1" for r in rows}
    expected = {v: Point("m").tag("t", v).field("f", v).time(1).to_line_protocol() for v in NASTY}
    expected["tab\there"] = expected["tab\there"].replace("\\t", "\t", 1)
    assert got == expected


def test_spark_escapes_as_the_python_rules_do(spark):
    from pyspark.sql import functions as F

    from carpipe import line_protocol as py

    rows = spark.createDataFrame([(v,) for v in NASTY], "v string").select(
        "v", lp.escape_tag(F.col("v")).alias("tag"), lp.escape_string_field(F.col("v")).alias("field")).collect()
    assert {r.v: (r.tag, r.field) for r in rows} == {v: (py.escape_tag(v), py.escape_string_field(v)) for v in NASTY}


def test_python_refuses_tag_values_influxdb_would_misread():
    from carpipe.line_protocol import escape_tag

    for value in ("", "a\nb", "a\rb", "C:\\x"):
        with pytest.raises(ValueError, match="not usable as an InfluxDB tag value"):
            escape_tag(value)


def test_string_fields_escape_backslash_and_quote(spark):
    from pyspark.sql import functions as F

    row = spark.createDataFrame([('C:\\ "x"\n',)], "v string").select(lp.escape_string_field(F.col("v"))).first()
    assert row[0] == '"C:\\\\ \\"x\\"\n"'

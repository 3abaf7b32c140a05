"""The reconciliation's judgement, table and audit point (the counting itself runs in the e2e test)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from carpipe.config import Settings
from carpipe.audit import audit_line, burst_line
from carpipe.reconcile import judge, odd_tier, render_table
from carpipe.tier_counts import ROLLUP_DIMENSIONS, TierCounts
from carpipe.windows import UTC, Window

W = Window(datetime(2026, 1, 1, 10, 15, tzinfo=UTC), datetime(2026, 1, 1, 10, 16, tzinfo=UTC))


def settled(n: int = 100, dead: int = 0, **kw) -> TierCounts:
    base = dict(window=W.label(), window_seconds=60, produced=n, acknowledged=n, kafka=n,
                hdfs_lines=n, hdfs_distinct=n, influx=n - dead, dead_lettered=dead, spark_source="kafka",
                spark_read=n, spark_duplicates=0, spark_conflicts=0, rollups={d: n - dead for d in ROLLUP_DIMENSIONS})
    return TierCounts(**{**base, **kw})


def test_equal_counts_are_ok():
    v = judge(settled())
    assert (v.status, v.reasons, v.notes) == ("ok", [], [])


def test_dead_letters_are_accounted_for():
    assert judge(settled(100, dead=3)).status == "ok"


@pytest.mark.parametrize("kw, reason", [
    ({"dead_lettered": None}, "Spark has not written"),
    ({"flume_behind": 7}, "Flume has not yet consumed 7"),
    ({"hdfs_open_files": 1, "hdfs_lines": 40, "hdfs_distinct": 40}, "still open"),
])
def test_data_still_in_flight_is_pending_not_mismatch(kw, reason):
    v = judge(settled(**kw))
    assert v.status == "pending"
    assert any(reason in r for r in v.reasons)


def test_a_missing_hdfs_file_is_a_mismatch_naming_window_tiers_and_difference():
    c = settled(100, hdfs_lines=60, hdfs_distinct=60)
    v = judge(c)
    assert v.status == "mismatch"
    msg = v.message(c)
    assert W.label() in msg
    assert "hdfs vs influx: HDFS has 60 record(s), InfluxDB accounts for 100" in msg
    assert "difference -40" in msg
    assert "the hdfs tier is the odd one out" in msg


def test_a_missing_influx_point_is_a_mismatch_on_the_influx_tier():
    c = settled(100, influx=99)
    v = judge(c)
    assert v.status == "mismatch"
    assert "difference +1" in v.reasons[0]            # hdfs - influx
    assert any("the influx tier is the odd one out" in r for r in v.reasons)
    assert any("rollups vs raw" in r for r in v.reasons)


def test_duplicate_hdfs_lines_are_reported_but_not_counted():
    v = judge(settled(100, hdfs_lines=104, hdfs_distinct=100))
    assert v.status == "ok"
    assert "4 duplicate line(s)" in v.notes[0]


def test_identical_records_in_kafka_count_once_everywhere():
    # 100 records in Kafka, 2 of them repeat an identity (e.g. the same poison bytes twice): Spark and
    # the HDFS count both see 98 distinct records.
    c = settled(100, hdfs_lines=100, hdfs_distinct=98, influx=97, dead_lettered=1, spark_duplicates=2,
                rollups={d: 97 for d in ROLLUP_DIMENSIONS})
    v = judge(c)
    assert v.status == "ok", v.reasons
    assert "2 record(s) repeating an identity" in v.notes[0]


def test_an_empty_window_is_ok_with_every_tier_zero():
    v = judge(settled(0, rollups={}))
    assert (v.status, v.reasons, v.notes) == ("ok", [], [])


def test_a_window_of_poison_only_is_ok_with_everything_dead_lettered():
    v = judge(settled(5, dead=5, produced=0, acknowledged=0, rollups={}))
    assert v.status == "ok", v.reasons


def test_conflicting_versions_count_apart_and_are_shown():
    # 100 records, 3 of them reuse a transaction_id with other content: 100 versions, 3 dead-lettered
    c = settled(100, dead=3, hdfs_conflicts=3, spark_conflicts=3)
    v = judge(c)
    assert v.status == "ok", v.reasons
    assert "3 conflicting version(s)" in v.notes[0]
    assert "3 conflicting" in render_table(c, v)


def test_spark_and_hdfs_disagreeing_on_conflicts_is_a_mismatch():
    v = judge(settled(100, dead=3, hdfs_conflicts=3, spark_conflicts=2))
    assert v.status == "mismatch"
    assert v.reasons == ["conflicts: Spark found 2 conflicting version(s), HDFS holds 3: difference +1"]


def test_spark_reading_less_than_kafka_holds_is_a_mismatch():
    v = judge(settled(100, spark_read=90))
    assert v.status == "mismatch"
    assert any("kafka vs spark: Spark read 90" in r for r in v.reasons)


def test_windows_expired_from_kafka_are_checked_hdfs_against_influx_only():
    c = settled(100, kafka=40, kafka_retained=False, spark_source="hdfs", spark_read=100)
    v = judge(c)
    assert v.status == "ok", v.reasons
    assert any("retention" in n for n in v.notes)
    assert judge(settled(100, kafka=40, kafka_retained=False, influx=99,
                         rollups={d: 99 for d in ROLLUP_DIMENSIONS})).status == "mismatch"


def test_acknowledged_events_missing_from_kafka_are_a_mismatch():
    v = judge(settled(100, produced=110, acknowledged=110))
    assert v.status == "mismatch"
    assert "generator vs kafka" in v.reasons[0]


def test_records_from_other_producers_are_a_note():
    v = judge(settled(100, produced=80, acknowledged=80))
    assert v.status == "ok" and "other producers" in v.notes[0]


def test_odd_tier():
    assert odd_tier({"kafka": 5, "hdfs": 4, "influx": 5}) == "hdfs"
    assert odd_tier({"kafka": 5, "hdfs": 5, "influx": 5}) is None
    assert odd_tier({"kafka": 5, "hdfs": 4, "influx": 3}) is None


def test_table_shows_every_tier_and_the_verdict():
    c = settled(100, hdfs_lines=60, hdfs_distinct=60)
    text = render_table(c, judge(c))
    for label in ("generator produced", "kafka", "hdfs", "influx raw", "influx rollup brand", "MISMATCH"):
        assert label in text
    assert "mismatch: hdfs vs influx" in text


def test_audit_point_is_at_the_window_start_with_status_tag_and_integer_fields():
    s = Settings()
    line = audit_line(s, W, settled(100, dead=2, hdfs_lines=104, hdfs_conflicts=1), "ok",
                      W.end + timedelta(seconds=151.6))
    head, fields, ts = line.split(" ")
    assert head == f"{s.audit_measurement},status=ok"
    assert int(ts) == W.start_ms * 1_000_000
    parsed = dict(f.split("=") for f in fields.split(","))
    assert {k: parsed[k] for k in ("produced", "kafka", "hdfs", "influx", "hdfs_duplicates", "conflicts")} == {
        "produced": "100i", "kafka": "100i", "hdfs": "100i", "influx": "98i", "hdfs_duplicates": "4i",
        "conflicts": "1i"}
    assert parsed["reconciled_lag_s"] == "152i"  # whole seconds from the window end to the verdict


def test_burst_point_is_at_its_start_inside_its_window():
    s = Settings()
    report = {"started_at": "2026-01-01T10:15:01.250000+00:00", "topic": "car-transactions-logs",
              "requested": 50, "produced": 50, "acknowledged": 50, "failed": 0, "achieved_rate": 5.0}
    line = burst_line(s, report, W)
    assert line.startswith(f"{s.burst_measurement},topic=car-transactions-logs requested=50i,produced=50i,")
    assert line.endswith(f" {W.start_ms * 1_000_000 + 1_250_000_000}")
    with pytest.raises(ValueError, match="outside its window"):
        burst_line(s, {**report, "started_at": "2026-01-01T10:16:00+00:00"}, W)

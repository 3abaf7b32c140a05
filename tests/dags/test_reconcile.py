"""The reconciliation's judgement, table and audit point (the counting itself runs in the e2e test)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from carpipe.config import Settings
from carpipe.audit import audit_line, burst_line
from carpipe.ingest_latency import CommittedFile, Latency
from carpipe.reconcile import judge, odd_tier, render_table
from carpipe.tier_counts import ROLLUP_DIMENSIONS, TierCounts, offset_coverage
from carpipe.windows import UTC, Window

W = Window(datetime(2026, 1, 1, 10, 15, tzinfo=UTC), datetime(2026, 1, 1, 10, 16, tzinfo=UTC))


def kafka_ranges(n: int) -> dict[int, tuple[int, int]]:
    """n records over two partitions: 0 from offset 1000, 1 from offset 0 ([first, last]; empty: last < first)."""
    return {0: (1000, 1000 + n // 2 - 1), 1: (0, n - n // 2 - 1)}


def files(*ranges: tuple[int, int, int]) -> list[CommittedFile]:
    return [CommittedFile(p, a, b, commit_ms=W.end_ms) for p, a, b in ranges]


def settled(n: int = 100, dead: int = 0, held: list[CommittedFile] | None = None, **kw) -> TierCounts:
    """Every tier agreeing on n records; HDFS's files cover Kafka's offsets exactly unless ``held``."""
    ranges = kafka_ranges(n)
    held = files(*((p, a, b) for p, (a, b) in ranges.items() if a <= b)) if held is None else held
    base = dict(window=W.label(), window_seconds=60, produced=n, acknowledged=n, kafka=n, kafka_ranges=ranges,
                hdfs_lines=n, hdfs_distinct=n, hdfs_offsets=offset_coverage(ranges, held),
                influx=n - dead, dead_lettered=dead, spark_source="kafka",
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


def test_files_covering_kafkas_offsets_exactly_are_ok():
    # partition 1's 50 offsets (0-49) in three files, partition 0's in one
    c = settled(100, held=files((0, 1000, 1049), (1, 0, 9), (1, 10, 48), (1, 49, 49)))
    assert [cov.exact for cov in c.hdfs_offsets] == [True, True]
    assert judge(c).status == "ok"
    assert "covered exactly: no gap, no overlap" in render_table(c, judge(c))


def test_an_offset_gap_is_a_mismatch_naming_the_missing_range():
    c = settled(300, held=files((0, 1000, 1149), (1, 0, 99), (1, 120, 149)))
    assert c.kafka_ranges[1] == (0, 149)
    v = judge(c)
    assert v.status == "mismatch"
    assert "hdfs offsets: partition 1: missing 100-119" in v.reasons


def test_overlapping_files_and_offsets_outside_the_window_are_named():
    c = settled(100, held=files((0, 1000, 1030), (0, 1020, 1049), (1, 0, 49), (1, 50, 52)))
    v = judge(c)
    assert v.status == "mismatch"
    assert [r for r in v.reasons if r.startswith("hdfs offsets")] == [
        "hdfs offsets: partition 0: duplicated 1020-1030", "hdfs offsets: partition 1: outside the window 50-52"]
    assert "partition 0: duplicated 1020-1030" in render_table(c, v)


def test_a_partition_only_hdfs_knows_is_outside_the_window():
    (cov,) = offset_coverage({}, files((3, 7, 9)))
    assert (cov.partition, cov.missing, cov.outside) == (3, [], [(7, 9)])


def test_a_file_holding_other_lines_than_its_name_says_is_a_mismatch():
    v = judge(settled(100, hdfs_misnamed=["/Cars/x/t+0+1000+1049.jsonl holds 49 line(s), its name says 50"]))
    assert v.status == "mismatch"
    assert v.reasons == ["hdfs offsets: /Cars/x/t+0+1000+1049.jsonl holds 49 line(s), its name says 50"]


def test_offsets_are_not_judged_while_pending_or_once_kafka_dropped_the_window():
    gap = files((0, 1000, 1049), (1, 0, 9))
    v = judge(settled(100, held=gap, hdfs_open_files=1))
    assert v.status == "pending" and not any("offsets" in r for r in v.reasons)
    v = judge(settled(100, held=gap, kafka=40, kafka_retained=False, spark_source="hdfs"))
    assert v.status == "ok", v.reasons


def test_files_not_named_by_offsets_leave_the_window_unaudited_by_offsets():
    c = settled(100, hdfs_offsets=None, hdfs_unnamed_files=2)
    v = judge(c)
    assert v.status == "ok"
    assert any("2 HDFS file(s) not named by their Kafka offsets" in n for n in v.notes)
    assert "not audited: 2 file(s) not named by offsets" in render_table(c, v)


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
    assert {k: parsed[k] for k in ("offset_gaps", "offset_duplicates", "offset_outside")} == {
        "offset_gaps": "0i", "offset_duplicates": "0i", "offset_outside": "0i"}
    assert not any("latency" in k for k in parsed)   # not measured: not written


def test_audit_point_counts_offsets_and_writes_latencies_as_floats():
    c = settled(100, held=files((0, 1000, 1030), (0, 1020, 1044), (1, 0, 52)),
                hdfs_latency=Latency(2.5, 9.0, 12.0, records=100, resolution_s=1),
                influx_latency=Latency(400.0, 612.25, 640.0, records=100, resolution_s=1))
    line = audit_line(Settings(), W, c, "mismatch", W.end)
    parsed = dict(f.split("=") for f in line.split(" ")[1].split(","))
    # 1045-1049 missing, 1020-1030 held twice, 50-52 stamped after the window
    assert {k: parsed[k] for k in ("offset_gaps", "offset_duplicates", "offset_outside")} == {
        "offset_gaps": "5i", "offset_duplicates": "11i", "offset_outside": "3i"}
    assert {k: v for k, v in parsed.items() if "latency" in k} == {
        "latency_resolution_s": "1i", "hdfs_latency_p50_s": "2.5", "hdfs_latency_p95_s": "9.0",
        "hdfs_latency_max_s": "12.0", "influx_latency_p50_s": "400.0", "influx_latency_p95_s": "612.25",
        "influx_latency_max_s": "640.0"}
    text = render_table(c, judge(c))
    assert "p50 2.5s, p95 9s, max 12s to file commit; 1s grid, overstates < 1s" in text
    assert "p50 400s, p95 612.25s, max 640s to Spark's load; 1s grid" in text


def test_burst_point_is_at_its_start_inside_its_window():
    s = Settings()
    report = {"started_at": "2026-01-01T10:15:01.250000+00:00", "topic": "car-transactions-logs",
              "requested": 50, "produced": 50, "acknowledged": 50, "failed": 0, "achieved_rate": 5.0}
    line = burst_line(s, report, W)
    assert line.startswith(f"{s.burst_measurement},topic=car-transactions-logs requested=50i,produced=50i,")
    assert line.endswith(f" {W.start_ms * 1_000_000 + 1_250_000_000}")
    with pytest.raises(ValueError, match="outside its window"):
        burst_line(s, {**report, "started_at": "2026-01-01T10:16:00+00:00"}, W)

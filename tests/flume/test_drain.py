"""Unit tests (no services): deciding from Flume's counters that everything before a deadline is written."""

from __future__ import annotations

from flume.agent_conf import channel_names, sink_names
from flume.drain import DrainCheck, Snapshot


def snap(size=0, puts=100, batches=(5, 5), failures=0, other=(0, 100)) -> Snapshot:
    """Lane 0 as given, lane 1 with ``other`` = (size, puts)."""
    return Snapshot(channel_sizes=(size, other[0]), puts=(puts, other[1]), batches=batches, failures=failures)


def test_idle_agent_is_drained_once_every_sink_ran_two_more_batches():
    check = DrainCheck(snap())
    assert not check.update(snap(batches=(5, 5)))
    assert not check.update(snap(batches=(7, 6)))      # one sink may still have a batch in flight
    assert check.update(snap(batches=(7, 7)))


def test_records_put_before_the_mark_still_queued_block_the_drain():
    check = DrainCheck(snap(size=40, puts=100))
    assert not check.update(snap(size=40, puts=100, batches=(9, 9)))
    # 30 new records arrived, 50 of the queue taken: 20 queued remain, all of them new -> ok to wait for flight
    assert not check.update(snap(size=20, puts=130, batches=(10, 10)))
    assert check.update(snap(size=25, puts=135, batches=(12, 12)))


def test_every_lane_is_judged_on_its_own_queue():
    check = DrainCheck(snap(size=0, puts=100, other=(40, 100)))
    # Lane 1 still holds 40 records from before the mark; lane 0's new records do not make up for it.
    assert not check.update(snap(size=0, puts=200, batches=(9, 9), other=(40, 100)))
    assert not check.update(snap(size=0, puts=200, batches=(12, 12), other=(0, 100)))
    assert check.update(snap(size=0, puts=200, batches=(14, 14), other=(0, 100)))


def test_after_a_sink_failure_only_an_empty_channel_counts():
    check = DrainCheck(snap(puts=100))
    assert not check.update(snap(size=10, puts=120, batches=(6, 6), failures=1))
    assert not check.update(snap(size=10, puts=120, batches=(9, 9), failures=1))
    assert not check.update(snap(size=0, puts=120, batches=(10, 10), failures=1))
    assert check.update(snap(size=0, puts=120, batches=(12, 12), failures=1))


def test_snapshot_reads_flume_metrics_lane_by_lane():
    metrics = {**{f"CHANNEL.{n}": {"ChannelSize": 3.0 + i, "EventPutSuccessCount": 10.0 * (i + 1)}
                  for i, n in enumerate(channel_names(3))},
               **{f"SINK.{n}": {"BatchEmptyCount": 1.0, "BatchUnderflowCount": 2.0, "BatchCompleteCount": 3.0 + i,
                                "EventWriteFail": 1.0, "ChannelReadFail": 0.0} for i, n in enumerate(sink_names(3))},
               "SOURCE.kafka-source": {"EventAcceptedCount": 60.0}}
    s = Snapshot.of(metrics)
    assert (s.channel_sizes, s.puts, s.batches, s.failures) == ((3, 4, 5), (10, 20, 30), (6, 7, 8), 3)

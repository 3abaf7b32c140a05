"""Unit tests (no services): deciding from Flume's counters that everything before a deadline is written."""

from __future__ import annotations

from flume.agent_conf import sink_names
from flume.drain import DrainCheck, Snapshot


def snap(size=0, puts=100, batches=(5, 5), failures=0) -> Snapshot:
    return Snapshot(channel_size=size, puts=puts, batches=batches, failures=failures)


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


def test_after_a_sink_failure_only_an_empty_channel_counts():
    check = DrainCheck(snap(puts=100))
    assert not check.update(snap(size=10, puts=120, batches=(6, 6), failures=1))
    assert not check.update(snap(size=10, puts=120, batches=(9, 9), failures=1))
    assert not check.update(snap(size=0, puts=120, batches=(10, 10), failures=1))
    assert check.update(snap(size=0, puts=120, batches=(12, 12), failures=1))


def test_snapshot_reads_flume_metrics():
    names = sink_names()
    metrics = {"CHANNEL.channel": {"ChannelSize": 3.0, "EventPutSuccessCount": 10.0},
               **{f"SINK.{n}": {"BatchEmptyCount": 1.0, "BatchUnderflowCount": 2.0, "BatchCompleteCount": 3.0,
                                "EventWriteFail": 1.0, "ChannelReadFail": 0.0} for n in names}}
    s = Snapshot.of(metrics)
    assert (s.channel_size, s.puts, s.batches, s.failures) == (3, 10, (6,) * len(names), len(names))

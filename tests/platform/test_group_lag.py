"""The offset probes (carpipe.kafka_offsets.GroupLag) on the stack's real Kafka: the topic's offsets for
times, a group's committed offsets, and a commit from outside the group, which waits for its members."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from carpipe.kafka_clients import librdkafka
from carpipe.kafka_offsets import GroupLag, Stopped
from carpipe.topic import ensure_topic

pytestmark = pytest.mark.integration


@pytest.fixture
def scratch(stack_up):
    tag = f"lag-test-{uuid.uuid4().hex[:10]}"
    s = stack_up.model_copy(update={"topic": tag, "flume_consumer_group": tag})
    ensure_topic(s)
    yield s
    admin = AdminClient(librdkafka(s))
    [f.result(30) for f in admin.delete_topics([tag], request_timeout=30).values()]


def produce(s, n: int, partition: int) -> int:
    """``n`` records into ``partition``; the broker's append time of the last one (ms)."""
    stamps: list[int] = []
    p = Producer({**librdkafka(s), "acks": "all"})
    for i in range(n):
        p.produce(s.topic, f"r{i}".encode(), partition=partition,
                  on_delivery=lambda err, msg: stamps.append(msg.timestamp()[1]) if err is None else None)
    assert p.flush(30) == 0 and len(stamps) == n
    return max(stamps)


@pytest.fixture
def member(scratch) -> Iterator[Consumer]:
    """A live member of the group: subscribed and polling, as a running Flume agent's source is."""
    c = Consumer({**librdkafka(scratch), "group.id": scratch.flume_consumer_group, "enable.auto.commit": False})
    c.subscribe([scratch.topic])
    joined, stop = threading.Event(), threading.Event()

    def poll():
        while not stop.is_set():
            c.poll(0.2)
            if c.assignment():
                joined.set()
        c.close()  # leaves the group
    t = threading.Thread(target=poll, daemon=True)
    t.start()
    assert joined.wait(60), "the member did not join its group"
    yield stop
    stop.set()
    t.join(30)


def test_offsets_for_times_and_the_groups_position(scratch):
    first = produce(scratch, 5, partition=0)
    time.sleep(0.05)
    last = produce(scratch, 3, partition=0)
    produce(scratch, 2, partition=1)
    with GroupLag(scratch) as lag:
        assert lag.partitions == list(range(scratch.topic_partitions))
        ends = {0: 8, 1: 2} | {p: 0 for p in range(2, scratch.topic_partitions)}
        assert lag.targets() == ends
        # Partition 0's first batch was stamped by first; partition 1's records all came later.
        assert lag.targets(first + 1) == {**ends, 0: 5, 1: 0}
        assert lag.at(last + 1000) == {p: -1 for p in lag.partitions}
        assert lag.grid([first + 1, last + 1])[0] == [5, 8]
        # Nothing committed: the group starts at the earliest offset.
        assert lag.positions() == {p: 0 for p in lag.partitions}
        assert lag.remaining(lag.targets()) == 10
        lag.commit({0: 6, 1: 2})
        assert lag.positions() == {**{p: 0 for p in lag.partitions}, 0: 6, 1: 2}
        assert lag.remaining(lag.targets()) == 2


def test_a_commit_waits_until_the_group_has_no_member(scratch, member):
    notes: list[str] = []
    threading.Timer(4, member.set).start()  # the member leaves 4 s on
    with GroupLag(scratch) as lag:
        started = time.monotonic()
        lag.commit({0: 0}, timeout=60, progress=notes.append)
        waited = time.monotonic() - started
        assert lag.positions()[0] == 0
    assert notes and "still has members" in notes[0]
    assert 3 < waited < 30, waited


def test_a_stop_ends_the_wait_for_a_busy_group(scratch, member):
    stop = threading.Event()
    threading.Timer(2, stop.set).start()
    with GroupLag(scratch, stop=stop) as lag:
        started = time.monotonic()
        with pytest.raises(Stopped, match="still had members"):
            lag.commit({0: 0}, timeout=60, progress=lambda _: None)
        assert time.monotonic() - started < 10

"""Offset probes of the topic: how far a consumer group is behind a point in time, and whether
retention may have removed records of a window.

The topic stamps records at append (LogAppendTime), so "every record before T" is the prefix of each
partition up to the first offset whose timestamp is >= T; the group has them all once its committed
offsets reach that point. The Flume source commits only after a batch is in its channel.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, TimeoutError as FutureTimeout
from typing import Callable, TypeVar

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from carpipe.config import Settings
from carpipe.kafka_clients import librdkafka

TIMEOUT = 30
# What a broker failing over answers while partition leadership or the group coordinator moves to
# another broker (a multi-broker cluster); asked again a moment later, the question has an answer.
FAILOVER_ERRORS = frozenset({
    KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.FENCED_LEADER_EPOCH,
    KafkaError.UNKNOWN_LEADER_EPOCH, KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.REQUEST_TIMED_OUT, KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT})
FAILOVER_SECONDS = 60.0
T = TypeVar("T")


class Stopped(Exception):
    """A probe given up because its caller was told to stop (a Flume runner's SIGTERM)."""


def answer(future: Future, stop: threading.Event | None = None):
    """The future's result, given up as soon as ``stop`` is set: an admin request can take its whole
    request timeout, longer than a stopping process may wait."""
    while True:
        try:
            return future.result(timeout=0.5)
        except FutureTimeout:
            if stop is not None and stop.is_set():
                raise Stopped("stop requested while waiting for Kafka's answer") from None


def through_failover(ask: Callable[[], T], seconds: float = FAILOVER_SECONDS, pause: float = 1.0,
                     stop: threading.Event | None = None, renew: Callable[[], None] | None = None) -> T:
    """``ask()``, asked again while it fails with a failover error, for at most ``seconds`` and not once
    ``stop`` is set; any other error, or one that outlasts that, is raised. ``renew``: called before
    asking again (a client whose cached leaders went stale keeps getting the same error)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return ask()
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is None or error.code() not in FAILOVER_ERRORS or time.monotonic() >= deadline:
                raise
            if stop is None:
                time.sleep(pause)
            elif stop.wait(pause):
                raise Stopped(f"stop requested while Kafka failed over ({error.name()})") from exc
            if renew is not None:
                renew()


class GroupLag:
    def __init__(self, s: Settings, group: str | None = None, stop: threading.Event | None = None):
        """``stop``: once set, probes in progress give up (``Stopped``) instead of waiting out Kafka."""
        self.topic = s.topic
        self.group = group or s.flume_consumer_group
        self.stop = stop
        self.conf = librdkafka(s)
        self.admin = AdminClient(self.conf)
        meta = self.admin.list_topics(self.topic, timeout=TIMEOUT).topics[self.topic]
        if meta.error is not None:
            raise RuntimeError(f"topic {self.topic}: {meta.error}")
        self.partitions = sorted(meta.partitions)

    def _renew(self) -> None:
        """A new admin client, with fresh metadata: after a leader was killed, the old one kept asking
        with a fenced leader epoch for over a minute (FENCED_LEADER_EPOCH until its metadata refresh)."""
        self.admin = AdminClient(self.conf)

    def _ask(self, ask: Callable[[], T]) -> T:
        """``ask()`` through a failover, given up on a stop, with a fresh client before each new ask."""
        return through_failover(ask, stop=self.stop, renew=self._renew)

    def _answer(self, future: Future):
        return answer(future, self.stop)

    def _offsets(self, spec: OffsetSpec) -> dict[int, int]:
        def ask() -> dict[int, int]:
            futures = self.admin.list_offsets({TopicPartition(self.topic, p): spec for p in self.partitions},
                                              request_timeout=TIMEOUT)
            return {tp.partition: self._answer(f).offset for tp, f in futures.items()}
        return self._ask(ask)

    def targets(self, before_ms: int | None = None) -> dict[int, int]:
        """Per partition, the offset just past the last record stamped before ``before_ms``
        (the end of the partition when None or when every record is older)."""
        end = self._offsets(OffsetSpec.latest())
        if before_ms is None:
            return end
        at = self._offsets(OffsetSpec.for_timestamp(before_ms))
        return {p: at[p] if at[p] >= 0 else end[p] for p in self.partitions}

    def grid(self, times_ms: list[int]) -> dict[int, list[int]]:
        """Per partition, ``targets(t)`` for each of ``times_ms``: which offsets were stamped between
        consecutive times. One request per time, all in flight at once."""
        end = self._offsets(OffsetSpec.latest())

        def ask() -> dict[int, list[int]]:
            requests = [self.admin.list_offsets({TopicPartition(self.topic, p): OffsetSpec.for_timestamp(t)
                                                 for p in self.partitions}, request_timeout=TIMEOUT)
                        for t in times_ms]
            out: dict[int, list[int]] = {p: [] for p in self.partitions}
            for futures in requests:
                for tp, f in futures.items():
                    offset = self._answer(f).offset
                    out[tp.partition].append(offset if offset >= 0 else end[tp.partition])
            return out
        return self._ask(ask)

    def positions(self) -> dict[int, int]:
        """Committed offsets; a partition the group never committed starts at its earliest offset
        (the source's auto.offset.reset)."""
        request = ConsumerGroupTopicPartitions(
            self.group, [TopicPartition(self.topic, p) for p in self.partitions])
        result = self._ask(lambda: self._answer(self.admin.list_consumer_group_offsets(
            [request], request_timeout=TIMEOUT)[self.group]))
        committed = {tp.partition: tp.offset for tp in result.topic_partitions}
        earliest = self._offsets(OffsetSpec.earliest())
        return {p: committed[p] if committed.get(p, -1) >= 0 else earliest[p] for p in self.partitions}

    def wait_empty(self, timeout: float = 120, progress=print) -> None:
        """Until the group has no member: a consumer that died (SIGKILL) stays one until its session
        times out, and offsets of a group with members cannot be set from outside."""
        deadline = time.monotonic() + timeout
        while (group := self._ask(lambda: self._answer(self.admin.describe_consumer_groups(
                [self.group], request_timeout=TIMEOUT)[self.group]))).members:
            if time.monotonic() > deadline:
                raise RuntimeError(f"group {self.group} still has {len(group.members)} member(s) after "
                                   f"{timeout:.0f}s: is another consumer using it?")
            progress(f"group {self.group} still has {len(group.members)} member(s) (a dead agent's session "
                     f"times out); waiting")
            time.sleep(2)

    def commit(self, offsets: dict[int, int]) -> None:
        """Set the group's committed offsets (the group must have no active member: see wait_empty)."""
        request = ConsumerGroupTopicPartitions(
            self.group, [TopicPartition(self.topic, p, o) for p, o in sorted(offsets.items())])
        result = self._ask(lambda: self._answer(self.admin.alter_consumer_group_offsets(
            [request], request_timeout=TIMEOUT)[self.group]))
        failed = [tp for tp in result.topic_partitions if tp.error is not None]
        if failed:
            raise RuntimeError(f"committing offsets of group {self.group}: {failed}")

    def remaining(self, targets: dict[int, int]) -> int:
        """Records before the targets that the group has not committed yet."""
        pos = self.positions()
        return sum(max(0, targets[p] - pos[p]) for p in self.partitions)


def kafka_holds_window(client: dict[str, str], topic: str, start_ms: int, timeout: float = 30) -> bool:
    """False when retention may have deleted records of the window from some partition.

    Per partition: nothing was ever deleted (log start offset 0), or the earliest record still held
    is older than the window start (so everything from the start on is still there). ``client``:
    librdkafka properties (carpipe.kafka_clients.librdkafka).
    """
    consumer = Consumer({**client, "group.id": "carpipe-spark-retention-probe",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        meta = consumer.list_topics(topic, timeout=timeout).topics[topic]
        if meta.error is not None:
            raise KafkaException(meta.error)
        for p in sorted(meta.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if low == 0:
                continue
            if low == high:  # everything this partition ever held is gone: cannot vouch for the window
                return False
            if _timestamp_at(consumer, TopicPartition(topic, p, low), timeout) >= start_ms:
                return False
        return True
    finally:
        consumer.close()


def _timestamp_at(consumer, tp, timeout: float) -> int:
    """Broker timestamp of the record at tp's offset (or the next one still held)."""
    consumer.assign([tp])
    try:
        msg = consumer.poll(timeout)
        if msg is None:
            raise TimeoutError(f"no record at {tp.topic}[{tp.partition}]@{tp.offset} within {timeout}s")
        if msg.error() is not None:
            raise RuntimeError(f"reading {tp.topic}[{tp.partition}]@{tp.offset}: {msg.error()}")
        return msg.timestamp()[1]
    finally:
        consumer.unassign()


def window_closed(s: Settings, end_ms: int) -> bool:
    """Kafka's word that a window is over: every partition holds a record stamped at or after ``end_ms``.

    LogAppendTime stamps grow with a partition's offsets, so once such a record is in a partition, no
    record stamped before the end can be appended to it any more. A partition nobody writes to after the
    window never says so; the caller's grace period is then the bound.
    """
    at = GroupLag(s)._offsets(OffsetSpec.for_timestamp(end_ms))
    return all(offset >= 0 for offset in at.values())

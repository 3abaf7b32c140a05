"""Offset probes of the topic: how far a consumer group is behind a point in time, and whether
retention may have removed records of a window.

The topic stamps records at append (LogAppendTime), so "every record before T" is the prefix of each
partition up to the first offset whose timestamp is >= T; the group has them all once its committed
offsets reach that point. The Flume source commits only after a batch is in its channel.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, TypeVar

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, TopicPartition

from carpipe.config import Settings
from carpipe.kafka_clients import librdkafka

TIMEOUT = 30
# One blocking ask of a probe: a stop is seen between asks, and a slower answer is asked for again
# (_TIMED_OUT is a failover error) until FAILOVER_SECONDS.
ASK_SECONDS = 5.0
# What a broker failing over answers while partition leadership or the group coordinator moves to
# another broker (a multi-broker cluster), and what the client says of a request to a broker that went
# away (_DESTROY_BROKER: a killed broker's handle dropped); asked again a moment later, it has an answer.
FAILOVER_ERRORS = frozenset({
    KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.FENCED_LEADER_EPOCH,
    KafkaError.UNKNOWN_LEADER_EPOCH, KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.REQUEST_TIMED_OUT, KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT, KafkaError._DESTROY_BROKER})
# What the broker answers a commit from outside the group while it still has members.
GROUP_BUSY_ERRORS = frozenset({KafkaError.UNKNOWN_MEMBER_ID, KafkaError.ILLEGAL_GENERATION,
                               KafkaError.REBALANCE_IN_PROGRESS})
FAILOVER_SECONDS = 60.0
T = TypeVar("T")


class Stopped(Exception):
    """A probe given up because its caller was told to stop (a Flume runner's SIGTERM)."""


def kafka_error(exc: KafkaException) -> KafkaError | None:
    return exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None


def paused(stop: threading.Event | None, seconds: float) -> bool:
    """Wait ``seconds``; True (at once) when ``stop`` is set meanwhile."""
    if stop is None:
        time.sleep(seconds)
        return False
    return stop.wait(seconds)


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
            error = kafka_error(exc)
            if error is None or error.code() not in FAILOVER_ERRORS or time.monotonic() >= deadline:
                raise
            if paused(stop, pause):
                raise Stopped(f"stop requested while Kafka failed over ({error.name()})") from exc
            if renew is not None:
                renew()


def checked(partitions: list[TopicPartition]) -> list[TopicPartition]:
    """A consumer's per-partition answer, its first partition error raised (asked again if a failover's)."""
    for tp in partitions:
        if tp.error is not None:
            raise KafkaException(tp.error)
    return partitions


class GroupLag:
    """The topic's offsets and a consumer group's, read through a consumer that never joins the group
    (it neither subscribes nor takes partitions, so the group's members are left alone).

    Not librdkafka's admin API: its requests abort the whole process when one times out or its broker
    connection drops, which is what a failover does (seen here on librdkafka 2.16: the coordinator
    requests' ``eonce->refcnt > 0`` assertion, librdkafka PR #5397; a double free in ListOffsets): the
    likely end of a Flume runner that vanished without a word in a cluster test, right after the group
    coordinator moved. The consumer's own requests rode out thousands of timeouts. Close it
    (``with GroupLag(...)``): its threads are librdkafka's.
    """

    def __init__(self, s: Settings, group: str | None = None, stop: threading.Event | None = None):
        """``stop``: once set, a probe gives up (``Stopped``) after its current ask, instead of waiting
        out Kafka."""
        self.topic = s.topic
        self.group = group or s.flume_consumer_group
        self.stop = stop
        self.conf = {**librdkafka(s), "group.id": self.group, "enable.auto.commit": False}
        self.consumer = Consumer(self.conf)
        try:
            meta = self._ask(lambda: self.consumer.list_topics(self.topic, timeout=TIMEOUT)).topics[self.topic]
            if meta.error is not None:
                raise RuntimeError(f"topic {self.topic}: {meta.error}")
        except BaseException:
            self.close()
            raise
        self.partitions = sorted(meta.partitions)

    def close(self) -> None:
        self.consumer.close()

    def __enter__(self) -> GroupLag:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _renew(self) -> None:
        """A new consumer, with fresh metadata: after a leader was killed, the old client kept asking
        with a fenced leader epoch for over a minute (FENCED_LEADER_EPOCH until its metadata refresh)."""
        old, self.consumer = self.consumer, Consumer(self.conf)
        old.close()

    def _ask(self, ask: Callable[[], T]) -> T:
        """``ask()`` through a failover, given up on a stop, with a fresh client before each new ask."""
        return through_failover(ask, stop=self.stop, renew=self._renew)

    def _partitions(self, offset: int = OFFSET_INVALID) -> list[TopicPartition]:
        return [TopicPartition(self.topic, p, offset) for p in self.partitions]

    def _ends(self) -> dict[int, tuple[int, int]]:
        """Per partition, (earliest offset held, offset past the last record)."""
        return self._ask(lambda: {p: self.consumer.get_watermark_offsets(
            TopicPartition(self.topic, p), timeout=ASK_SECONDS, cached=False) for p in self.partitions})

    def _latest(self) -> dict[int, int]:
        return {p: high for p, (_, high) in self._ends().items()}

    def at(self, ms: int) -> dict[int, int]:
        """Per partition, the first offset stamped at or after ``ms``; -1 where no record is (yet)."""
        return self._ask(lambda: {tp.partition: tp.offset for tp in checked(
            self.consumer.offsets_for_times(self._partitions(ms), timeout=ASK_SECONDS))})

    def targets(self, before_ms: int | None = None) -> dict[int, int]:
        """Per partition, the offset just past the last record stamped before ``before_ms``
        (the end of the partition when None or when every record is older)."""
        end = self._latest()
        if before_ms is None:
            return end
        at = self.at(before_ms)
        return {p: at[p] if at[p] >= 0 else end[p] for p in self.partitions}

    def grid(self, times_ms: list[int]) -> dict[int, list[int]]:
        """Per partition, ``targets(t)`` for each of ``times_ms``: which offsets were stamped between
        consecutive times."""
        end = self._latest()
        out: dict[int, list[int]] = {p: [] for p in self.partitions}
        for t in times_ms:
            for p, offset in self.at(t).items():
                out[p].append(offset if offset >= 0 else end[p])
        return out

    def positions(self) -> dict[int, int]:
        """Committed offsets; a partition the group never committed starts at its earliest offset
        (the source's auto.offset.reset)."""
        committed = self._ask(lambda: {tp.partition: tp.offset for tp in checked(
            self.consumer.committed(self._partitions(), timeout=ASK_SECONDS))})
        if all(committed.get(p, -1) >= 0 for p in self.partitions):  # the drain's every-second case
            return committed
        earliest = {p: low for p, (low, _) in self._ends().items()}
        return {p: committed[p] if committed.get(p, -1) >= 0 else earliest[p] for p in self.partitions}

    def commit(self, offsets: dict[int, int], timeout: float = 120, progress=print) -> None:
        """Set the group's committed offsets. The broker takes a commit from outside the group only while
        the group has no member: a consumer that died (SIGKILL) stays one until its session times out,
        so a refused commit is tried again for up to ``timeout`` seconds."""
        request = [TopicPartition(self.topic, p, o) for p, o in sorted(offsets.items())]
        deadline = time.monotonic() + timeout
        while True:
            try:
                checked(self._ask(lambda: self.consumer.commit(offsets=request, asynchronous=False)))
                return
            except KafkaException as exc:
                error = kafka_error(exc)
                if error is None or error.code() not in GROUP_BUSY_ERRORS:
                    raise
                if time.monotonic() > deadline:
                    raise RuntimeError(f"group {self.group} still has members after {timeout:.0f}s "
                                       f"({error.name()}): is another consumer using it?") from exc
            progress(f"group {self.group} still has members (a dead agent's session times out); waiting")
            if paused(self.stop, 2):
                raise Stopped(f"stop requested while group {self.group} still had members")

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
    with GroupLag(s) as lag:
        return all(offset >= 0 for offset in lag.at(end_ms).values())

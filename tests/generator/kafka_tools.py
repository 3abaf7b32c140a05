"""Reading what really landed in a topic: end offsets, and every record between two offset snapshots."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

Offsets = dict[int, int]  # partition -> end offset (high watermark)
NOT_READY = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART}


def _consumer(settings) -> Consumer:
    return Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"test-gen-{uuid.uuid4().hex}",
                     "enable.auto.commit": False, "auto.offset.reset": "earliest",
                     "isolation.level": "read_committed"})


def end_offsets(settings, topic: str, timeout: float = 30) -> Offsets:
    """High watermark of each partition; retries while the broker says the answer is not ready yet
    (e.g. leaders of a topic created a moment ago)."""
    consumer = _consumer(settings)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
                return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                        for p in partitions}
            except KafkaException as exc:
                if exc.args[0].code() not in NOT_READY or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        consumer.close()


def new_records(before: Offsets, after: Offsets) -> int:
    return sum(after[p] - before.get(p, 0) for p in after)


def read_range(settings, topic: str, start: Offsets, end: Offsets, timeout: float = 60) -> list[Message]:
    """Every record with start[p] <= offset < end[p], in each partition."""
    want = {p: e for p, e in end.items() if e > start.get(p, 0)}
    out: list[Message] = []
    if not want:
        return out
    consumer = _consumer(settings)
    try:
        consumer.assign([TopicPartition(topic, p, start.get(p, 0)) for p in want])
        deadline = time.monotonic() + timeout
        reached: set[int] = set()
        while len(reached) < len(want):
            assert time.monotonic() < deadline, f"timed out reading {topic}: {len(out)} records so far"
            for msg in consumer.consume(10_000, timeout=1):
                assert msg.error() is None, msg.error()
                p = msg.partition()
                if msg.offset() < want[p]:
                    out.append(msg)
                if msg.offset() >= want[p] - 1:
                    reached.add(p)
        return out
    finally:
        consumer.close()

"""Reading what really landed in a topic: end offsets, and every record between two offset snapshots."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Message, TopicPartition

Offsets = dict[int, int]  # partition -> end offset (high watermark)


def _consumer(settings) -> Consumer:
    return Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"test-gen-{uuid.uuid4().hex}",
                     "enable.auto.commit": False, "auto.offset.reset": "earliest",
                     "isolation.level": "read_committed"})


def end_offsets(settings, topic: str) -> Offsets:
    consumer = _consumer(settings)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
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

"""Benchmark: how the reconciliation counts a window's Kafka records, against the obvious alternative.

Subject: offsets for the window's start and end timestamps (``carpipe.tier_counts.kafka_counts``), a
handful of broker requests whatever the topic holds. Baseline: consume the topic from the beginning and
count the records whose timestamp falls in the window (what a "read it all" check costs).

A scratch topic (LogAppendTime, like the real one) is filled for FILL_SECONDS at full speed, once per
size, so the counted window (WINDOW_SECONDS, in the middle) sits among records before and after it.
Both methods must agree exactly. Run: ``BENCH=dags .venv/bin/python -m tests.bench`` (stack up).
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.table import Table

from carpipe.config import Settings, get_settings
from carpipe.kafka_offsets import GroupLag
from carpipe.tier_counts import TierCounts, kafka_counts
from carpipe.topic import ensure_topic
from carpipe.windows import UTC, Window

WINDOW_SECONDS = 2
FILL_SECONDS = 3 * WINDOW_SECONDS + 1
SIZES = {"small (10k/s)": 10_000, "large (unpaced)": None}
VALUE = b'{"schema_version":1,"transaction_id":"bench"}'


def fill(s: Settings, rate: int | None) -> tuple[int, Window]:
    """Produce for FILL_SECONDS; returns the count and a window that was filled from start to end."""
    from datetime import datetime

    p = Producer({"bootstrap.servers": s.kafka_bootstrap, "linger.ms": 20, "batch.num.messages": 10_000})
    started = datetime.now(UTC)
    t0 = time.monotonic()
    n = 0
    while (elapsed := time.monotonic() - t0) < FILL_SECONDS:
        if rate is not None and n >= elapsed * rate:
            time.sleep(0.001)
            continue
        try:
            p.produce(s.topic, VALUE)
            n += 1
        except BufferError:
            p.poll(0.05)
        if n % 10_000 == 0:
            p.poll(0)
    assert p.flush(60) == 0, "records left unacknowledged"
    return n, Window.containing(started, WINDOW_SECONDS).next().next()


def by_offsets(s: Settings, w: Window) -> int:
    c = TierCounts(window=w.label(), window_seconds=w.seconds)
    with GroupLag(s) as lag:
        kafka_counts(s, w, c, lag)
    return c.kafka


def by_consuming(s: Settings, w: Window) -> int:
    c = Consumer({"bootstrap.servers": s.kafka_bootstrap, "group.id": f"bench-{uuid.uuid4()}",
                  "enable.auto.commit": False, "fetch.max.bytes": 52_428_800})
    try:
        parts = c.list_topics(s.topic, timeout=30).topics[s.topic].partitions
        ends = {p: c.get_watermark_offsets(TopicPartition(s.topic, p), timeout=30)[1] for p in parts}
        c.assign([TopicPartition(s.topic, p, 0) for p in parts])
        left, count = sum(ends.values()), 0
        while left:
            for m in c.consume(10_000, timeout=1):
                if m.error() is None:
                    left -= 1
                    count += w.contains_ms(m.timestamp()[1])
        return count
    finally:
        c.close()


def timed(fn, *args) -> tuple[int, float]:
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def main() -> None:
    base = get_settings()
    admin = AdminClient({"bootstrap.servers": base.kafka_bootstrap})
    table = Table(title="reconciliation: Kafka records in one window")
    for col in ("topic fill", "records in topic", "in window", "offsets for times (s)",
                "consume + filter (s)", "speed-up"):
        table.add_column(col, justify="right")
    for label, rate in SIZES.items():
        s = base.model_copy(update={"topic": f"carpipe-bench-dags-{uuid.uuid4().hex[:8]}",
                                    "flume_consumer_group": f"bench-dags-{uuid.uuid4().hex[:8]}"})
        ensure_topic(s)
        try:
            total, window = fill(s, rate)
            subject, t_subject = timed(by_offsets, s, window)
            baseline, t_baseline = timed(by_consuming, s, window)
            if subject != baseline:
                raise AssertionError(f"{label}: offsets say {subject}, consuming says {baseline}")
            table.add_row(label, f"{total:,}", f"{subject:,}", f"{t_subject:.3f}", f"{t_baseline:.3f}",
                          f"{t_baseline / t_subject:.0f}x")
        finally:
            admin.delete_topics([s.topic])[s.topic].result(30)
    Console().print(table)


if __name__ == "__main__":
    main()

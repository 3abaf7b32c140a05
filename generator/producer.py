"""The process's Kafka producer (confluent-kafka), with per-caller delivery tallies.

Delivery guarantees: the producer is idempotent with ``acks=all``, so librdkafka's internal retries
(e.g. across a broker restart) never write a record twice, and every produced record ends in exactly
one delivery callback -- acknowledged, or failed once ``message.timeout.ms`` has passed. A failed
record *may* still have been written (a timeout cannot tell), which is why callers report the
failed count instead of resending: resending would be at-least-once. The counts are reconciled
downstream against what Kafka, HDFS and InfluxDB hold.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence

from confluent_kafka import KafkaException, Producer

from carpipe.config import Settings
from carpipe.kafka_clients import librdkafka
from carpipe.topic import ensure_topic

log = logging.getLogger(__name__)

# Throughput tuning: large batches lingering briefly; lz4 keeps the broker's share of the 2 cores low.
TUNING = {
    "linger.ms": 10,
    "batch.size": 1_000_000,
    "batch.num.messages": 10_000,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 500_000,
    "queue.buffering.max.kbytes": 512 * 1024,
}


def producer_config(settings: Settings) -> dict:
    return {
        **librdkafka(settings),
        "client.id": "carpipe-generator",
        "enable.idempotence": True,
        "acks": "all",
        # Upper bound on how long a record may wait for its acknowledgement (retries included):
        # after it the delivery callback reports failure, so no record is ever left unaccounted for.
        "message.timeout.ms": settings.producer_delivery_timeout_ms,
        **TUNING,
    }


class Tally:
    """Delivery counts of one caller's records (a burst, a stream, one API request).

    ``delivered`` runs once per record, so it is kept lean: no lock, because EventProducer serves
    callbacks on one thread at a time (its poll lock), and readers on other threads only read ints.
    """

    def __init__(self) -> None:
        self.produced = 0
        self.acknowledged = 0
        self.failed = 0
        self.errors: Counter[str] = Counter()
        self.last_message = None  # the latest acknowledged record (topic, partition, offset)
        self._settled = threading.Condition()

    @property
    def pending(self) -> int:
        return self.produced - self.acknowledged - self.failed

    def delivered(self, err, msg) -> None:
        if err is None:
            self.acknowledged += 1
            self.last_message = msg
        else:
            self.failed += 1
            self.errors[err.name() or str(err)] += 1
        if self.acknowledged + self.failed == self.produced:
            with self._settled:
                self._settled.notify_all()

    def wait(self, timeout: float, poll=None) -> bool:
        """Until every produced record has its callback; ``poll`` serves callbacks meanwhile
        (pass it when no other thread polls the producer). True when settled in time."""
        deadline = time.monotonic() + timeout
        while self.pending and (left := deadline - time.monotonic()) > 0:
            if poll is not None:
                poll(min(left, 0.1))
            else:
                with self._settled:
                    if self.pending:
                        self._settled.wait(min(left, 0.5))
        return self.pending == 0

    def as_dict(self) -> dict:
        return {"produced": self.produced, "acknowledged": self.acknowledged, "failed": self.failed,
                "pending": self.pending, "errors": dict(self.errors)}


class EventProducer:
    """A confluent-kafka Producer plus the discipline around it: keyed produce, BufferError ->
    poll and retry, per-record callbacks into a Tally, flush with the remainder checked."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.delivery_timeout = settings.producer_delivery_timeout_ms / 1000
        self._producer = Producer(producer_config(settings))
        self._ensured: set[str] = set()
        self._lock = threading.Lock()
        # Callbacks (Tally.delivered) run inside poll/flush: one thread at a time keeps them lock-free.
        self._poll_lock = threading.Lock()
        self._poller: threading.Thread | None = None
        self._closing = threading.Event()

    def ensure_topic(self, topic: str) -> None:
        """Create ``topic`` with the pipeline's settings once per process (LogAppendTime matters).
        Raises KafkaException within seconds when no broker answers."""
        with self._lock:
            if topic not in self._ensured:
                self.reachable(topic, timeout=10)
                ensure_topic(self.settings.model_copy(update={"topic": topic}))
                self._ensured.add(topic)

    def send(self, topic: str, records: Sequence[tuple[str, bytes]], tally: Tally) -> None:
        """Produce (key, value) records, each acknowledged or failed later into ``tally``."""
        produce, delivered = self._producer.produce, tally.delivered
        # Counted first: the poll thread may run a record's callback before produce() returns.
        tally.produced += len(records)
        queued = 0
        try:
            for queued, (key, value) in enumerate(records):
                try:
                    produce(topic, value, key, on_delivery=delivered)
                except BufferError:
                    self._produce_when_room(topic, key, value, delivered)
            queued = len(records)
        except BaseException:
            tally.produced -= len(records) - queued  # never queued, so never called back
            raise

    def _produce_when_room(self, topic: str, key: str, value: bytes, delivered) -> None:
        while True:
            # Local queue full: serve delivery callbacks to make room, then retry.
            self.poll(0.05)
            try:
                self._producer.produce(topic, value, key, on_delivery=delivered)
                return
            except BufferError:
                continue

    def poll(self, timeout: float = 0) -> int:
        """Serve delivery callbacks for up to ``timeout`` s; while another thread is serving them,
        wait for it instead (up to ``timeout``) and return 0."""
        if not self._poll_lock.acquire(timeout=timeout):
            return 0
        try:
            return self._producer.poll(timeout)
        finally:
            self._poll_lock.release()

    def flush(self, timeout: float) -> int:
        """Flush; returns how many records are still not delivered (0 = all have callbacks)."""
        with self._poll_lock:
            return self._producer.flush(timeout)

    def reachable(self, topic: str, timeout: float = 3.0) -> dict:
        """Broker metadata for the health check; raises KafkaException when Kafka is unreachable."""
        md = self._producer.list_topics(timeout=timeout)
        if not md.brokers:
            raise KafkaException("no broker in cluster metadata")
        return {"brokers": len(md.brokers), "topic": topic, "topic_exists": topic in md.topics}

    def start_polling(self) -> None:
        """Serve delivery callbacks from a background thread (for the web service, where request
        threads wait on their Tally instead of polling)."""
        with self._lock:
            if self._poller is None:
                self._poller = threading.Thread(target=self._poll_loop, name="kafka-poll", daemon=True)
                self._poller.start()

    def _poll_loop(self) -> None:
        while not self._closing.is_set():
            self.poll(0.2)

    def close(self) -> int:
        """Stop polling and flush; logs and returns the number of records left undelivered."""
        self._closing.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
        remainder = self.flush(self.delivery_timeout + 5)
        if remainder:
            log.error("producer closed with %d record(s) not acknowledged", remainder)
        return remainder


_producers: dict[str, EventProducer] = {}
_producers_lock = threading.Lock()


def get_producer(settings: Settings) -> EventProducer:
    """The one producer of this process for ``settings.kafka_bootstrap`` (flushed at exit)."""
    with _producers_lock:
        producer = _producers.get(settings.kafka_bootstrap)
        if producer is None:
            producer = _producers[settings.kafka_bootstrap] = EventProducer(settings)
        return producer


@atexit.register
def _close_all() -> None:
    with _producers_lock:
        for producer in _producers.values():
            producer.close()
        _producers.clear()

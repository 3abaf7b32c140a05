"""Bursts: produce events at a held rate for a while, then wait until the broker has acknowledged
every one and report the counts (the reconciliation compares ``produced`` with every tier).

Pacing runs against a monotonic clock: each tick produces every event due by now, so the rate holds
over the burst without a sleep per event, and a tick that falls behind catches up in the next one.
"""

from __future__ import annotations

import math
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from confluent_kafka import KafkaException

from carpipe.config import Settings, get_settings
from generator.events import EventFactory, utc_now_text
from generator.producer import EventProducer, Tally, get_producer

MIN_TICK = 0.02        # seconds between batches at least (a 20k/s burst: 400 events a batch) ...
MAX_TICK = 0.1         # ... and at most (keeps progress updates flowing at low rates)
MAX_BATCH = 5_000      # produce at most this many events between two polls of the producer
PROGRESS_EVERY = 0.1   # seconds between progress updates


@dataclass
class BurstReport:
    id: str
    topic: str
    seed: int
    rate: float | None           # requested events/s (None = as fast as the broker takes them)
    requested: int               # events the burst was asked for
    produced: int
    acknowledged: int
    failed: int                  # requested - acknowledged: delivery errors, no answer in time, never produced
    started_at: datetime
    ended_at: datetime           # after the last acknowledgement (or the wait for it gave up)
    produce_seconds: float       # first produce to the end of the burst's schedule
    achieved_rate: float         # produced / produce_seconds
    errors: dict[str, int] = field(default_factory=dict)  # delivery error name -> count
    error: str | None = None     # why the burst stopped early (e.g. no broker at the start)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["started_at"] = self.started_at.isoformat()
        d["ended_at"] = self.ended_at.isoformat()
        d["ok"] = self.ok
        return d


class Burst:
    """One burst: ``count`` events at ``rate``/s (``rate=None``: unpaced). ``status()`` and ``stop()``
    may be called from other threads (or a signal handler) while ``run()`` is going."""

    def __init__(self, count: int, rate: float | None, seed: int | None = None,
                 settings: Settings | None = None, producer: EventProducer | None = None):
        if count < 0 or (rate is not None and not rate > 0):
            raise ValueError("count must be >= 0 and rate > 0")
        self.settings = settings or get_settings()
        self.producer = producer or get_producer(self.settings)
        self.topic = self.settings.topic
        self.id = secrets.token_hex(8)
        self.count = count
        self.rate = rate
        self.factory = EventFactory(seed)
        self.tally = Tally()
        self.state = "pending"
        self.report: BurstReport | None = None
        self._stop = threading.Event()
        self._stop_reason: str | None = None

    def stop(self, reason: str) -> None:
        """End the burst early: no event is produced after this, those produced are still waited for, and
        the report counts the rest as failed, with ``reason`` as its error."""
        self._stop_reason = reason
        self._stop.set()

    @contextmanager
    def stopped_by(self, signum: int):
        """Inside this block signal ``signum`` stops the burst, then runs the handler it displaced (in an
        Airflow task: the operator's on_kill), so a terminated task ends within a tick with an honest
        report instead of producing to the end while its scheduler waits for it."""
        displaced = signal.getsignal(signum)

        def handler(sig, frame):
            self.stop(f"{signal.Signals(sig).name} received")
            if callable(displaced):
                displaced(sig, frame)

        signal.signal(signum, handler)
        try:
            yield self
        finally:
            signal.signal(signum, displaced)

    def status(self) -> dict:
        base = {"id": self.id, "state": self.state, "topic": self.topic, "seed": self.factory.seed,
                "rate": self.rate, "requested": self.count}
        if self.report is not None:
            return {**base, **self.report.as_dict()}
        return {**base, **self.tally.as_dict()}

    def run(self, progress: bool = False, start_at: datetime | None = None) -> BurstReport:
        """``start_at``: produce nothing before this instant (a stop ends the wait too)."""
        if start_at is not None and (wait := (start_at - datetime.now(timezone.utc)).total_seconds()) > 0:
            self._stop.wait(wait)
        self.state = "running"
        started_at = datetime.now(timezone.utc)
        produce_seconds, error = 0.0, None
        try:
            if not self._stop.is_set():  # a stop during the wait: nothing to produce, Kafka not needed
                self.producer.ensure_topic(self.topic)
                with _progress_bar(progress, self.count) as advance:
                    produce_seconds = self._produce(advance)
        except KafkaException as exc:  # no broker at the start, or a record the client refuses
            error = str(exc)
        except BaseException:
            self.state = "error"
            raise
        if self._stop.is_set():
            error = f"stopped after {self.tally.produced} of {self.count} events: {self._stop_reason}"
        # Every record gets a callback within the delivery timeout; the margin covers polling.
        self.tally.wait(self.producer.delivery_timeout + 5, poll=self.producer.poll)
        tally = self.tally
        self.report = BurstReport(
            id=self.id, topic=self.topic, seed=self.factory.seed, rate=self.rate, requested=self.count,
            produced=tally.produced, acknowledged=tally.acknowledged,
            failed=self.count - tally.acknowledged, errors=dict(tally.errors), error=error,
            started_at=started_at, ended_at=datetime.now(timezone.utc), produce_seconds=produce_seconds,
            achieved_rate=tally.produced / produce_seconds if produce_seconds > 0 else 0.0,
        )
        self.state = "succeeded" if self.report.ok else "failed"
        return self.report

    def _produce(self, advance) -> float:
        send, poll, records = self.producer.send, self.producer.poll, self.factory.records
        topic, tally = self.topic, self.tally
        sent = 0
        start = last_progress = time.monotonic()
        for n in due_batches(self.count, self.rate):
            if self._stop.is_set():
                break
            send(topic, records(utc_now_text(), n), tally)
            sent += n
            poll(0)
            if (now := time.monotonic()) - last_progress >= PROGRESS_EVERY:
                advance(sent)
                last_progress = now
        advance(sent)
        if self.rate is not None and not self._stop.is_set():
            # The schedule spans count/rate seconds (the last event is due at (count-1)/rate):
            # hold until its end so that produced/produce_seconds is the rate the burst kept.
            end = start + self.count / self.rate
            while (left := end - time.monotonic()) > 0 and not self._stop.is_set():
                poll(min(left, 0.1))
        return time.monotonic() - start


def due_batches(count: int, rate: float | None) -> Iterator[int]:
    """Yield how many events are due now, sleeping between batches, until ``count`` are out.
    Event i is due at i/rate seconds after the start (``rate=None``: all at once,
    in batches of MAX_BATCH so the caller can poll between them)."""
    sent = 0
    start = time.monotonic()
    while sent < count:
        tick = time.monotonic()
        due = count if rate is None else min(count, math.floor((tick - start) * rate) + 1)
        n = min(due - sent, MAX_BATCH)
        if n > 0:
            yield n
            sent += n
        if rate is not None and sent < count:
            # Wake when the next event is due, yet at least MIN_TICK after this tick began: at high rates
            # each batch carries every event that fell due meanwhile, instead of spinning on one or two.
            wait = max(start + sent / rate, tick + MIN_TICK) - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, MAX_TICK))


class _progress_bar:
    """A rich progress bar when asked for (the CLI); a no-op otherwise (API, library callers)."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total = enabled, total

    def __enter__(self):
        if not self.enabled:
            return lambda done: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(TextColumn("burst"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[rate]:>10.0f}/s"), TimeRemainingColumn())
        self._progress.__enter__()
        task = self._progress.add_task("burst", total=self.total, rate=0.0)
        t0 = time.monotonic()

        def advance(done: int) -> None:
            elapsed = time.monotonic() - t0
            self._progress.update(task, completed=done, rate=done / elapsed if elapsed else 0.0)

        return advance

    def __exit__(self, *exc):
        if self.enabled:
            self._progress.__exit__(*exc)


def run_burst(rate: float, duration: float, seed: int | None = None, settings: Settings | None = None,
              progress: bool = True, stop_signal: int | None = None,
              start_at: datetime | None = None) -> BurstReport:
    """Produce ``round(rate * duration)`` events at ``rate``/s (from ``start_at`` on, if given) and wait for
    their acknowledgements. The report's ``failed`` is the exact number of events not acknowledged (0 when
    all were). ``stop_signal``: a signal that ends the burst, or its wait, early (``Burst.stopped_by``)."""
    burst = Burst(round(rate * duration), rate, seed, settings)
    if stop_signal is None:
        return burst.run(progress, start_at)
    with burst.stopped_by(stop_signal):
        return burst.run(progress, start_at)

"""Window math shared by every tier: which window a record belongs to and where it lives.

A window is the half-open interval [start, start + length) of UTC time, aligned to multiples of
its length since the epoch. Membership is decided by the Kafka record timestamp, which the topic
sets at append time (``message.timestamp.type=LogAppendTime``), so Kafka (offsets for times),
Flume (its ``timestamp`` header) and Spark (by-timestamp reads) all answer the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

UTC = timezone.utc


def check_length(seconds: int) -> None:
    """Windows tile every hour (and so every day) exactly: ≤60 s dividing a minute, or whole minutes
    dividing an hour, which cron schedules can express."""
    ok = (0 < seconds <= 60 and 60 % seconds == 0) or (
        seconds % 60 == 0 and 60 % (seconds // 60) == 0)
    if not ok:
        raise ValueError(f"window length {seconds}s must divide a minute or be minutes dividing an hour")


@dataclass(frozen=True, order=True)
class Window:
    start: datetime
    end: datetime

    @classmethod
    def containing(cls, t: datetime, seconds: int) -> "Window":
        check_length(seconds)
        t = to_utc(t)
        epoch = int(t.timestamp())
        start = datetime.fromtimestamp(epoch - epoch % seconds, UTC)
        return cls(start, start + timedelta(seconds=seconds))

    @classmethod
    def starting(cls, start: datetime | str, seconds: int) -> "Window":
        """The window that starts exactly at ``start``; anything misaligned is a clear error."""
        start = parse_utc(start) if isinstance(start, str) else to_utc(start)
        w = cls.containing(start, seconds)
        if w.start != start:
            raise ValueError(f"{start.isoformat()} is not the start of a {seconds}s window "
                             f"(nearest start: {w.start.isoformat()})")
        return w

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    def contains_ms(self, ts_ms: int) -> bool:
        return self.start_ms <= ts_ms < self.end_ms

    def hdfs_dir(self, base: str) -> str:
        """The directory Flume writes this window to (flume/WindowInterceptor.java lays it out the same)."""
        return f"{base.rstrip('/')}/{self.start:%Y-%m-%d/%H-%M-%S}"

    def label(self) -> str:
        return f"{self.start:%Y-%m-%dT%H:%M:%SZ}"

    def next(self) -> "Window":
        return Window(self.end, self.end + (self.end - self.start))

    def __str__(self) -> str:
        return f"[{self.start:%Y-%m-%dT%H:%M:%SZ}, {self.end:%Y-%m-%dT%H:%M:%SZ})"


def iso_ms(t: datetime) -> str:
    """ISO-8601 UTC with milliseconds and 'Z' (``2026-01-01T10:15:00.000Z``): how event times, window
    bounds on the Spark job's command line and every other instant the platform writes are laid out."""
    t = to_utc(t)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def to_utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError(f"naive datetime {t!r}: times must carry a timezone (UTC)")
    return t.astimezone(UTC)


def parse_utc(text: str) -> datetime:
    """ISO-8601 with an explicit offset or 'Z'; naive strings are rejected, not guessed."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 time: {text!r}") from exc
    return to_utc(t)

"""The timing of one window as the DAGs run it (pure functions; the DAG files only wire them up).

Per window W = [start, end):
- the burst DAG fires at W.start (cron from the window length), bursts for at most the window minus a
  safety margin, so every event it produces is appended, and stamped by the broker, inside W;
- the Flume agent for W runs until W.end (the runner then drains what was appended before W.end);
- Spark reads W once W.end + grace has passed (LogAppendTime: nothing can be appended into W later,
  the grace only absorbs clock skew between this host and the broker);
- reconciliation counts W after Spark published it, treating data still in flight as "pending".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from carpipe.windows import Window, check_length, parse_utc, to_utc

# Time kept free at the end of a window, so that the last event of a burst is acknowledged (and so
# stamped by the broker) before the window closes.
END_MARGIN_SECONDS = 3
# A manual run decides its window in its first task; the burst task starts a few seconds later (more on
# a loaded machine): the current window is chosen only if the burst still fits after this much delay.
START_SLACK_SECONDS = 30


def window_cron(seconds: int) -> str:
    """The cron expression that fires at every window start (windows are whole minutes dividing an
    hour; sub-minute windows exist for Flume/Spark tests but cannot be scheduled by cron)."""
    check_length(seconds)
    if seconds % 60:
        raise ValueError(f"a {seconds}s window cannot be scheduled: DAG windows must be whole minutes")
    minutes = seconds // 60
    return "0 * * * *" if minutes == 60 else f"*/{minutes} * * * *"


def max_burst_seconds(window_seconds: int) -> int:
    return window_seconds - END_MARGIN_SECONDS


def burst_window(now: datetime, window_seconds: int, duration: int,
                 scheduled_start: datetime | None = None) -> Window:
    """The window a burst run targets.

    A scheduled run targets the window starting at its logical date. A manual run (no logical date in
    Airflow 3) targets the current window if the whole burst still fits in it once the burst task has
    started (START_SLACK_SECONDS), else the next one.
    """
    if not 0 < duration <= max_burst_seconds(window_seconds):
        raise ValueError(f"burst duration {duration}s must be between 1 and "
                         f"{max_burst_seconds(window_seconds)}s for {window_seconds}s windows")
    if scheduled_start is not None:
        return Window.starting(to_utc(scheduled_start), window_seconds)
    current = Window.containing(now, window_seconds)
    if to_utc(now) + timedelta(seconds=START_SLACK_SECONDS + duration + END_MARGIN_SECONDS) <= current.end:
        return current
    return current.next()


def burst_seconds_left(now: datetime, window: Window, duration: int) -> int:
    """How long a burst starting now (or at the window start, if that is later) may run: the requested
    duration, cut so that it ends END_MARGIN_SECONDS before the window closes (a late or retried run
    must not spill into the next window). 0 means there is no time left in the window."""
    start = max(to_utc(now), window.start)
    left = (window.end - start).total_seconds() - END_MARGIN_SECONDS
    return max(0, min(duration, int(left)))


def spark_ready_at(window: Window, grace_seconds: int) -> datetime:
    return window.end + timedelta(seconds=grace_seconds)


def run_window(window_seconds: int, now: datetime, interval: tuple[datetime, datetime] | None,
               window_start: str | None) -> Window:
    """The window a run of the Spark or reconcile DAG processes.

    Scheduled and backfill runs: exactly their data interval. Manual runs (no data interval in
    Airflow 3): the param ``window_start`` (ISO-8601 UTC, must be a window start; anything else is a
    clear error and the run changes nothing), or, when it is empty, the latest window that has closed.
    """
    if interval is not None:
        return interval_window(*interval)
    if window_start:
        return Window.starting(parse_utc(window_start), window_seconds)
    return Window.containing(to_utc(now) - timedelta(seconds=window_seconds), window_seconds)


def interval_window(start: datetime, end: datetime) -> Window:
    """The window of a data interval, which must be exactly one window."""
    w = Window.starting(to_utc(start), int((to_utc(end) - to_utc(start)).total_seconds()))
    if w.end != to_utc(end):
        raise ValueError(f"data interval [{start}, {end}) is not one window")
    return w


@dataclass(frozen=True)
class SensorTiming:
    poke_interval: int
    timeout: int


def flume_turn_timeout(window_seconds: int, grace_seconds: int) -> int:
    """How long a window's Flume runner waits for its turn: the runner before it (previous window, or
    the same window's for a manual run) runs at most its window plus the drain time."""
    return window_seconds + grace_seconds + 120


def reconcile_timing(window_seconds: int, grace_seconds: int) -> SensorTiming:
    """Re-count a pending window every few seconds (short windows) up to a minute (long ones), for a
    window plus grace (at least 5 minutes): longer than that, something is stuck, not late."""
    return SensorTiming(poke_interval=max(5, min(60, window_seconds // 20)),
                        timeout=max(300, window_seconds + grace_seconds))

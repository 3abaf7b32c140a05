"""The window timing the DAGs use: which window a run targets, how long a burst may last."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from carpipe import cadence
from carpipe.windows import UTC, Window


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("seconds, cron", [(900, "*/15 * * * *"), (60, "*/1 * * * *"),
                                           (300, "*/5 * * * *"), (3600, "0 * * * *")])
def test_window_cron_fires_at_every_window_start(seconds, cron):
    assert cadence.window_cron(seconds) == cron


@pytest.mark.parametrize("seconds", [30, 7 * 60, 90])
def test_window_cron_rejects_lengths_cron_cannot_express(seconds):
    with pytest.raises(ValueError):
        cadence.window_cron(seconds)


def test_scheduled_burst_targets_the_window_of_its_logical_date():
    w = cadence.burst_window(t("2026-01-01 10:15:04"), 900, 300, scheduled_start=t("2026-01-01 10:15:00"))
    assert w == Window(t("2026-01-01 10:15:00"), t("2026-01-01 10:30:00"))


def test_scheduled_burst_rejects_a_misaligned_logical_date():
    with pytest.raises(ValueError, match="not the start"):
        cadence.burst_window(t("2026-01-01 10:15:04"), 900, 300, scheduled_start=t("2026-01-01 10:16:00"))


def test_manual_burst_uses_the_current_window_when_it_fits():
    w = cadence.burst_window(t("2026-01-01 10:20:00"), 900, 300)
    assert w.start == t("2026-01-01 10:15:00")


def test_manual_burst_moves_to_the_next_window_when_it_would_spill_over():
    # 10:27 + 300 s + margin > 10:30: the whole burst goes to the next window.
    w = cadence.burst_window(t("2026-01-01 10:27:00"), 900, 300)
    assert w.start == t("2026-01-01 10:30:00")


def test_manual_burst_leaves_time_for_the_burst_task_to_start():
    # 7 s would fit before 10:16:00, but not once the burst task has started.
    w = cadence.burst_window(t("2026-01-01 10:15:45"), 60, 7)
    assert w.start == t("2026-01-01 10:16:00")
    assert cadence.burst_window(t("2026-01-01 10:15:05"), 60, 7).start == t("2026-01-01 10:15:00")


@pytest.mark.parametrize("duration", [0, -1, 60])
def test_burst_longer_than_a_window_or_empty_is_refused(duration):
    with pytest.raises(ValueError, match="duration"):
        cadence.burst_window(t("2026-01-01 10:20:00"), 60, duration)


def test_burst_seconds_left_cuts_a_late_burst_to_end_inside_its_window():
    w = Window(t("2026-01-01 10:15:00"), t("2026-01-01 10:16:00"))
    assert cadence.burst_seconds_left(t("2026-01-01 10:15:00"), w, 20) == 20
    assert cadence.burst_seconds_left(t("2026-01-01 10:15:50"), w, 20) == 10 - cadence.END_MARGIN_SECONDS
    assert cadence.burst_seconds_left(t("2026-01-01 10:15:59"), w, 20) == 0
    # Before the window: the burst starts at the window start, full length.
    assert cadence.burst_seconds_left(t("2026-01-01 10:14:00"), w, 20) == 20


def test_run_window_is_the_data_interval_of_scheduled_and_backfill_runs():
    w = cadence.run_window(60, t("2026-01-01 12:00:00"),
                           (t("2026-01-01 10:15:00"), t("2026-01-01 10:30:00")), None)
    assert w == Window(t("2026-01-01 10:15:00"), t("2026-01-01 10:30:00"))


def test_run_window_rejects_an_interval_that_is_not_one_window():
    with pytest.raises(ValueError):
        cadence.run_window(900, t("2026-01-01 12:00:00"),
                           (t("2026-01-01 10:15:00"), t("2026-01-01 10:22:00")), None)


def test_run_window_of_a_manual_run_comes_from_the_param():
    w = cadence.run_window(900, t("2026-01-01 12:00:00"), None, "2026-01-01T10:15:00Z")
    assert w.start == t("2026-01-01 10:15:00") and w.seconds == 900


@pytest.mark.parametrize("bad", ["2026-01-01T10:16:00Z", "yesterday", "2026-01-01T10:15:00"])
def test_run_window_rejects_a_bad_window_start_with_a_clear_error(bad):
    with pytest.raises(ValueError, match="window|ISO|naive"):
        cadence.run_window(900, t("2026-01-01 12:00:00"), None, bad)


def test_run_window_of_a_manual_run_without_param_is_the_latest_closed_window():
    w = cadence.run_window(900, t("2026-01-01 12:07:00"), None, None)
    assert w == Window(t("2026-01-01 11:45:00"), t("2026-01-01 12:00:00"))


def test_spark_waits_for_the_grace_after_the_window_end():
    w = Window(t("2026-01-01 10:15:00"), t("2026-01-01 10:30:00"))
    assert cadence.spark_ready_at(w, 120) == t("2026-01-01 10:30:00") + timedelta(seconds=120)


def test_reconcile_timing_scales_with_the_window():
    short, long = cadence.reconcile_timing(60, 20), cadence.reconcile_timing(900, 120)
    assert short.poke_interval == 5 and long.poke_interval == 45
    assert short.timeout >= 300 and long.timeout == 1020


def test_run_interval_is_none_for_manual_runs():
    from types import SimpleNamespace

    from carpipe.dag_defaults import run_interval

    start, end = t("2026-01-01 10:15:00"), t("2026-01-01 10:30:00")
    scheduled = SimpleNamespace(run_type="scheduled", data_interval_start=start, data_interval_end=end)
    backfill = SimpleNamespace(run_type="backfill", data_interval_start=start, data_interval_end=end)
    manual = SimpleNamespace(run_type="manual", data_interval_start=start, data_interval_end=start)
    assert run_interval(scheduled) == run_interval(backfill) == (start, end)
    assert run_interval(manual) is None

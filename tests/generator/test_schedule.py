"""Burst pacing logic (pure; the held rate itself is checked against the broker in test_burst)."""

from __future__ import annotations

from generator.burst import MAX_BATCH, due_batches


def test_unpaced_schedule_yields_every_event_once_in_bounded_batches():
    batches = list(due_batches(2 * MAX_BATCH + 7, None))
    assert sum(batches) == 2 * MAX_BATCH + 7
    assert max(batches) == MAX_BATCH

"""Unit tests (no services): one runner per consumer group, and how a second one waits for its turn."""

from __future__ import annotations

import threading
import time

import pytest

from carpipe.config import Settings
from flume.runner import RunnerBusy, group_lock


@pytest.fixture
def s(tmp_path) -> Settings:
    return Settings(state_dir=tmp_path, flume_consumer_group="g-lock-test")


def test_a_second_runner_fails_at_once_without_a_turn_to_wait_for(s):
    with group_lock(s):
        started = time.monotonic()
        with pytest.raises(RunnerBusy, match="another runner holds .*runner.lock \\(group g-lock-test\\)"):
            with group_lock(s):
                pass
        assert time.monotonic() - started < 1


def test_a_runner_waiting_its_turn_starts_when_the_first_one_ends(s):
    released = threading.Event()

    def first():
        with group_lock(s):
            ready.set()
            time.sleep(1.5)
            released.set()

    ready = threading.Event()
    holder = threading.Thread(target=first)
    holder.start()
    ready.wait(5)
    with group_lock(s, wait=30):
        assert released.is_set()  # its turn came only after the first one let go
    holder.join()


def test_the_wait_is_bounded_and_a_stop_request_ends_it(s):
    with group_lock(s):
        started = time.monotonic()
        with pytest.raises(RunnerBusy, match="still after 1s"):
            with group_lock(s, wait=1):
                pass
        assert 1 <= time.monotonic() - started < 4
        stop = threading.Event()
        threading.Timer(0.5, stop.set).start()
        started = time.monotonic()
        with pytest.raises(RunnerBusy, match="stopped while waiting for its turn"):
            with group_lock(s, wait=60, stop=stop):
                pass
        assert time.monotonic() - started < 4

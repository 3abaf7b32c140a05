"""The Flume task's wait for its turn: free lock -> go; held lock -> wait, then time out."""

from __future__ import annotations

import threading
import time

from carpipe.config import Settings
from carpipe.flume_turn import main, wait_turn
from flume.runner import group_lock


def test_free_group_goes_at_once(tmp_path):
    s = Settings(state_dir=tmp_path, flume_consumer_group="g")
    t = time.monotonic()
    assert wait_turn(s, timeout=5)
    assert time.monotonic() - t < 1


def test_busy_group_times_out(tmp_path):
    s = Settings(state_dir=tmp_path, flume_consumer_group="g")
    with group_lock(s):
        assert not wait_turn(s, timeout=0.3, poll=0.1)


def test_waits_until_the_other_runner_is_done(tmp_path):
    s = Settings(state_dir=tmp_path, flume_consumer_group="g")
    held, release = threading.Event(), threading.Event()

    def other_runner():
        with group_lock(s):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=other_runner)
    thread.start()
    held.wait(5)
    threading.Timer(0.5, release.set).start()
    t = time.monotonic()
    assert wait_turn(s, timeout=5, poll=0.1)
    assert time.monotonic() - t >= 0.4
    thread.join(5)


def test_cli_exit_codes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CARPIPE_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CARPIPE_FLUME_CONSUMER_GROUP", "cli-group")
    from carpipe import config

    config.get_settings.cache_clear()
    try:
        assert main(["--timeout", "1"]) == 0
        with group_lock(config.get_settings()):
            assert main(["--timeout", "0.2"]) == 1
        assert "cli-group still runs" in capsys.readouterr().out
    finally:
        config.get_settings.cache_clear()

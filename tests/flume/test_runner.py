"""Integration: real Kafka, real HDFS, real Flume, through ``python -m flume.runner`` as the DAG calls it.

Each test has its own topic, consumer group, HDFS base path and file channel (fixture ``flume_case``),
and 10-second windows. Window membership is checked against the timestamp the broker stamped on each
record (LogAppendTime), read back from the producer's delivery reports.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import datetime

import pytest

from carpipe.windows import UTC, Window
from carpipe.hdfs_counts import count_window
from carpipe.records import ID_PREFIX, identity
from generator.events import EventFactory, utc_now_text


pytestmark = pytest.mark.integration


def events(n: int, seed: int) -> list[bytes]:
    factory = EventFactory(seed)
    return [factory.record(utc_now_text())[1] for _ in range(n)]


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def window_of(case, path: str) -> Window:
    start = datetime.strptime(path.rsplit("/", 2)[-2] + " " + path.rsplit("/", 1)[-1],
                              "%Y-%m-%d %H-%M-%S").replace(tzinfo=UTC)
    return Window.starting(start, case.settings.window_seconds)


def assert_exactly(case, expected: dict[str, list[bytes]]) -> None:
    """Every window dir holds exactly its records (as a multiset), all files closed, nothing elsewhere."""
    got = case.hdfs_lines()
    assert sorted(got) == sorted(expected)
    case.assert_each_offset_once()
    for d, lines in expected.items():
        assert Counter(got[d]) == Counter(lines), d
        c = count_window(case.settings, window_of(case, d))
        assert (c.lines, c.distinct, c.duplicates, c.open_files) == (len(lines), len(lines), 0, [])


def test_window_holds_exactly_the_records_produced(flume_case):
    produced = flume_case.produce(events(400, seed=1))
    code, out, result = flume_case.run("--until", now_iso())
    assert code == 0, out
    assert result["status"] == "ok" and result["drained"] and result["open_files"] == []
    expected = flume_case.expected_by_window(produced)
    assert_exactly(flume_case, expected)
    assert sum(w["files"] for w in result["windows"]) >= len(expected)
    for d, lines in expected.items():
        assert all(identity(line).startswith(ID_PREFIX) for line in lines)  # all are events: nothing poisoned on the way


def test_records_arriving_between_runs_land_in_their_own_window(flume_case):
    a = flume_case.produce(events(100, seed=2))
    code, out, _ = flume_case.run("--until", now_iso())
    assert code == 0, out
    # No agent runs now: wait for the next window, then produce into it.
    last_a = max(r.timestamp_ms for r in a)
    time.sleep(max(0.0, (last_a // 10_000 + 1) * 10_000 / 1000 - time.time()) + 0.5)
    b = flume_case.produce(events(100, seed=3))
    windows_a, windows_b = set(flume_case.expected_by_window(a)), set(flume_case.expected_by_window(b))
    assert not windows_a & windows_b
    code, out, result = flume_case.run("--until", now_iso())
    assert code == 0, out
    assert_exactly(flume_case, flume_case.expected_by_window(a + b))


def test_poison_records_do_not_stop_the_agent_and_are_accounted_for(flume_case):
    poison = [b"not json", b"\xff\xfe\x00 binary, not UTF-8", None, b'{"note":\r\n"multi-line"}',
              b"[1, 2]", b'{"transaction_id": 42}']
    good = events(100, seed=4)
    produced = flume_case.produce(good[:50] + poison + good[50:])
    code, out, result = flume_case.run("--until", now_iso())
    assert code == 0, out
    assert result["status"] == "ok"
    expected = flume_case.expected_by_window(produced)
    assert_exactly(flume_case, expected)   # poison kept verbatim, one line each (CR/LF removed)
    counts = [count_window(flume_case.settings, window_of(flume_case, d)) for d in expected]
    assert sum(c.events for c in counts) == 100
    assert sum(c.invalid for c in counts) == len(poison)
    lines = [line for d in expected for line in flume_case.hdfs_lines()[d]]
    assert b'{"note":"multi-line"}' in lines and b"" in lines and b"\xff\xfe\x00 binary, not UTF-8" in lines


def test_sigterm_to_the_runner_stops_the_agent_cleanly(flume_case):
    """What Airflow does when it kills the task (timeout, mark failed): the agent still closes its files."""
    produced = flume_case.produce(events(200, seed=6))
    runner = flume_case.start("--run-seconds", "240")
    try:
        assert runner.ready.wait(180), runner.output
        deadline = time.monotonic() + 120
        while "written=200" not in runner.output and '"written": 200' not in runner.output:
            assert time.monotonic() < deadline and runner.proc.poll() is None, runner.output
            time.sleep(0.5)
        runner.proc.send_signal(signal.SIGTERM)
    finally:
        code, result = runner.wait()
    assert code == 1 and result["status"] == "failed" and "interrupted" in runner.output
    assert result["open_files"] == [] and not result["recovered"]
    assert "agent stopped, exit code 143" in runner.output
    with pytest.raises(ProcessLookupError):
        os.kill(runner.agent_pid, 0)
    assert_exactly(flume_case, flume_case.expected_by_window(produced))

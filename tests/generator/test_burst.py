"""Bursts against the real broker: exact counts, schema-valid records, held rate, reproducible
content, and the CLI contract (summary, BURST_RESULT line, exit code)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from generator.burst import run_burst
from generator.events import CarTransaction, generate
from tests.generator.kafka_tools import end_offsets, new_records, read_range

pytestmark = pytest.mark.integration


def cli_env(settings, **extra: str) -> dict[str, str]:
    return {**os.environ, **settings.as_env(), **extra}


def burst_result(stdout: str) -> dict:
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("BURST_RESULT "), f"last line is not BURST_RESULT: {last!r}"
    return json.loads(last.removeprefix("BURST_RESULT "))


def without_time(event: dict) -> dict:
    return {k: v for k, v in event.items() if k != "event_time"}


def test_burst_of_n_leaves_exactly_n_schema_valid_records(gen_settings, seed):
    topic = gen_settings.topic
    before = end_offsets(gen_settings, topic)
    report = run_burst(rate=3000, duration=1, seed=seed, settings=gen_settings, progress=False)
    after = end_offsets(gen_settings, topic)

    assert report.ok, report.as_dict()
    assert (report.requested, report.produced, report.acknowledged, report.failed) == (3000, 3000, 3000, 0)
    assert new_records(before, after) == 3000  # end offsets ...
    records = read_range(gen_settings, topic, before, after)
    assert len(records) == 3000  # ... and a consumer agree
    events = []
    for msg in records:
        event = CarTransaction.model_validate_json(msg.value(), strict=True).model_dump()
        assert msg.key().decode() == event["transaction_id"]
        events.append(event)
    # Same seed -> same events: the topic holds exactly what the seed generates (the clock aside).
    expected = generate(seed, 3000, events[0]["event_time"])
    assert sorted(map(str, map(without_time, events))) == sorted(map(str, map(without_time, expected)))


def test_rate_is_held_2000_per_s_for_10_s(gen_settings):
    topic = gen_settings.topic
    before = end_offsets(gen_settings, topic)
    report = run_burst(rate=2000, duration=10, settings=gen_settings, progress=False)
    after = end_offsets(gen_settings, topic)

    assert report.ok, report.as_dict()
    assert new_records(before, after) == report.acknowledged
    assert abs(report.acknowledged - 20_000) <= 400, report.as_dict()
    assert abs(report.achieved_rate - 2000) <= 40, report.as_dict()
    # The broker's own clock (LogAppendTime) agrees: the records span ~10 s at ~2000/s.
    stamps = sorted(msg.timestamp()[1] for msg in read_range(gen_settings, topic, before, after))
    span = (stamps[-1] - stamps[0]) / 1000
    broker_rate = (len(stamps) - 1) / span
    assert abs(broker_rate - 2000) <= 40, f"broker saw {broker_rate:.1f}/s over {span:.3f}s"


def test_cli_burst_prints_summary_and_result_line(gen_settings, seed):
    topic = gen_settings.topic
    before = end_offsets(gen_settings, topic)
    out = subprocess.run([sys.executable, "-m", "generator", "burst", "--rate", "400", "--duration", "1",
                          "--seed", str(seed)], capture_output=True, text=True, timeout=120,
                         env=cli_env(gen_settings))
    after = end_offsets(gen_settings, topic)
    assert out.returncode == 0, out.stdout + out.stderr
    result = burst_result(out.stdout)
    assert (result["produced"], result["acknowledged"], result["failed"], result["ok"]) == (400, 400, 0, True)
    assert result["seed"] == seed and result["topic"] == topic
    assert any("acknowledged" in line for line in out.stdout.splitlines()[:-1])  # the human summary precedes it
    assert new_records(before, after) == 400
    ids = {msg.key().decode() for msg in read_range(gen_settings, topic, before, after)}
    assert ids == {e["transaction_id"] for e in generate(seed, 400, "2026-01-01T00:00:00.000Z")}


def test_cli_burst_fails_loudly_when_no_broker_answers(gen_settings):
    """Nothing listens on the bootstrap port: the CLI must not report success, and says why."""
    import socket

    with socket.socket() as s:  # a port that is free now, so nothing answers on it
        s.bind((gen_settings.bind_host, 0))
        port = s.getsockname()[1]
    env = cli_env(gen_settings, CARPIPE_KAFKA_BOOTSTRAP=f"{gen_settings.bind_host}:{port}",
                  CARPIPE_PRODUCER_DELIVERY_TIMEOUT_MS="3000")
    out = subprocess.run([sys.executable, "-m", "generator", "burst", "--rate", "50", "--duration", "0.2",
                          "--quiet"], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode != 0
    result = burst_result(out.stdout)
    assert result["ok"] is False
    assert (result["requested"], result["acknowledged"], result["failed"]) == (10, 0, 10)
    assert result["error"], "the result says why nothing was acknowledged"
    assert "10 event(s) NOT acknowledged" in out.stdout


def test_sigterm_ends_a_burst_at_once_with_an_honest_report(gen_settings):
    """An Airflow task's burst stops within a tick of SIGTERM (make down waits for it otherwise), waits
    for what it produced, counts the rest as failed, and still runs the handler it displaced."""
    displaced = []

    def airflows_handler(sig, frame):
        displaced.append(sig)

    previous = signal.signal(signal.SIGTERM, airflows_handler)
    try:
        topic = gen_settings.topic
        before = end_offsets(gen_settings, topic)
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
        started = time.monotonic()
        report = run_burst(rate=1000, duration=60, settings=gen_settings, progress=False,
                           stop_signal=signal.SIGTERM)
        took = time.monotonic() - started
        after = end_offsets(gen_settings, topic)
        assert signal.getsignal(signal.SIGTERM) is airflows_handler and displaced == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert took < 10, f"the burst ran {took:.1f}s after SIGTERM at 1s"
    assert 0 < report.produced < report.requested == 60_000
    assert report.acknowledged == report.produced == new_records(before, after)
    assert report.failed == report.requested - report.acknowledged and not report.ok
    assert report.error == f"stopped after {report.produced} of 60000 events: SIGTERM received"


def test_sigterm_ends_the_wait_for_a_bursts_start(gen_settings):
    topic = gen_settings.topic
    before = end_offsets(gen_settings, topic)
    start_at = datetime.now(timezone.utc) + timedelta(minutes=10)
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    started = time.monotonic()
    report = run_burst(rate=100, duration=10, settings=gen_settings, progress=False,
                       stop_signal=signal.SIGTERM, start_at=start_at)
    took = time.monotonic() - started

    assert took < 10, f"the burst waited {took:.1f}s after SIGTERM at 1s"
    assert (report.produced, report.failed) == (0, 1000)
    assert new_records(before, end_offsets(gen_settings, topic)) == 0
    assert report.error == "stopped after 0 of 1000 events: SIGTERM received"
    assert report.started_at < start_at  # what the burst DAG tells a stop in the wait by

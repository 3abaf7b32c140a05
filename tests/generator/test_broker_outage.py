"""The broker stops mid-burst and comes back: no silent gap, no duplicate.

Two CLI bursts run through the same outage. One may wait out the outage (delivery timeout of
minutes): it must finish with every event acknowledged and each in the topic exactly once
(idempotent producer). The other gives each record only 3 s: it must fail loudly, exit non-zero and
report the exact number of events not acknowledged. Only the kafka program is stopped, briefly
(other developers share the broker), and the test waits until Kafka is healthy again.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from generator.events import generate
from tests.generator.kafka_tools import end_offsets, new_records, read_range
from tests.generator.test_burst import burst_result, cli_env

pytestmark = [pytest.mark.integration, pytest.mark.disruptive]  # stops and starts Kafka

RATE, SECONDS = 1000, 12
STOP_AFTER = 3.0     # seconds into the bursts


def supervisorctl(settings, action: str, program: str = "kafka") -> subprocess.Popen:
    """Start ``supervisorctl <action> <program>`` (it returns only once the program is settled, e.g. up
    for startsecs: the caller decides how long to wait for it)."""
    return subprocess.Popen([str(Path(sys.executable).parent / "supervisorctl"),
                             "-c", str(settings.state_dir / "conf" / "supervisord.conf"), action, program],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def program_pid(settings, program: str) -> int:
    out, _ = supervisorctl(settings, "pid", program).communicate(timeout=30)
    assert out.strip().isdigit() and int(out) > 0, f"{program} is not running: {out}"
    return int(out)


def finished(ctl: subprocess.Popen) -> None:
    out, _ = ctl.communicate(timeout=90)
    assert ctl.returncode == 0, f"{ctl.args[-2:]}: {out}"


def kafka_healthy(settings) -> bool:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    try:
        return bool(AdminClient({"bootstrap.servers": settings.kafka_bootstrap}).list_topics(timeout=2).brokers)
    except KafkaException:
        return False


def wait_healthy(settings, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not kafka_healthy(settings):
        assert time.monotonic() < deadline, "Kafka did not come back"
        time.sleep(0.5)


def test_broker_restart_mid_burst_no_gap_no_duplicate(gen_settings, settings):
    patient_seed, impatient_seed = 1_000_000 + int(time.time()), 2_000_000 + int(time.time())
    before = end_offsets(gen_settings, gen_settings.topic)
    cmd = [sys.executable, "-m", "generator", "burst", "--rate", str(RATE), "--duration", str(SECONDS), "--quiet"]
    patient = subprocess.Popen([*cmd, "--seed", str(patient_seed)], env=cli_env(gen_settings),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    impatient = subprocess.Popen([*cmd, "--seed", str(impatient_seed)],
                                 env=cli_env(gen_settings, CARPIPE_PRODUCER_DELIVERY_TIMEOUT_MS="3000"),
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        time.sleep(STOP_AFTER)
        stopped_at = time.monotonic()
        finished(supervisorctl(settings, "stop"))
        down_at = time.monotonic()
        # While Kafka is down the live service must say so. Then restart at once: stopping and
        # starting keep Kafka away far longer than the impatient burst's 3 s already.
        health = requests.get(f"{settings.generator_url}/healthz", timeout=10)
    finally:
        start = supervisorctl(settings, "start")
        started_at = time.monotonic()
        wait_healthy(settings)
        healthy_at = time.monotonic()
        finished(start)
    timings = (f"outage {healthy_at - stopped_at:.1f}s: stopping {down_at - stopped_at:.1f}s, "
               f"down {started_at - down_at:.1f}s, starting {healthy_at - started_at:.1f}s")
    assert health.status_code == 503, health.text
    patient_out, _ = patient.communicate(timeout=300)
    impatient_out, _ = impatient.communicate(timeout=300)
    after = end_offsets(gen_settings, gen_settings.topic)

    requested = RATE * SECONDS
    ok = burst_result(patient_out)
    assert patient.returncode == 0, patient_out
    assert (ok["requested"], ok["produced"], ok["acknowledged"], ok["failed"]) == (requested,) * 3 + (0,), ok

    bad = burst_result(impatient_out)
    assert impatient.returncode == 1, impatient_out
    assert bad["ok"] is False and bad["failed"] > 0
    assert bad["failed"] == bad["requested"] - bad["acknowledged"]  # the exact unacknowledged count
    assert f"{bad['failed']} event(s) NOT acknowledged" in impatient_out
    assert sum(bad["errors"].values()) == bad["produced"] - bad["acknowledged"]

    keys = Counter(m.key().decode() for m in read_range(gen_settings, gen_settings.topic, before, after))
    patient_ids = {e["transaction_id"] for e in generate(patient_seed, requested, "2026-01-01T00:00:00.000Z")}
    impatient_ids = {e["transaction_id"] for e in generate(impatient_seed, requested, "2026-01-01T00:00:00.000Z")}
    assert all(keys[i] == 1 for i in patient_ids), "a patient event is missing or duplicated"
    assert set(keys) <= patient_ids | impatient_ids
    landed = sum(keys[i] for i in impatient_ids)
    assert max(keys[i] for i in impatient_ids if keys[i]) == 1  # never twice, even when it timed out
    # An event whose acknowledgement timed out may still have been written: never fewer than acknowledged.
    assert bad["acknowledged"] <= landed <= bad["produced"]
    assert new_records(before, after) == requested + landed
    print(f"{timings}; impatient burst: {bad['acknowledged']} acknowledged, {bad['failed']} not, {landed} landed")

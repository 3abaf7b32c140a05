"""Node failures on the cluster profile (`make up PROFILE=cluster`): one node of an engine is killed
with SIGKILL while it works; nothing acknowledged is lost, nothing is counted twice.

Run only on the cluster profile (the ``profiles`` marker): on the embedded one there is no second node
to fail over to. supervisord restarts a killed node (``autorestart=unexpected``), as a
cluster's own supervisor would; the test waits until it is back in sync before it ends.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from carpipe.influx import client_from_settings
from carpipe.kafka_clients import librdkafka
from carpipe.topic import ensure_topic
from generator.burst import Burst
from generator.events import generate
from stack import health
from tests.flume.conftest import flume_case  # noqa: F401 - the fixture long_windows builds on
from tests.flume.test_exactly_once import long_windows, restart_mid_burst  # noqa: F401
from tests.generator.kafka_tools import end_offsets, new_records, read_range
from tests.generator.test_broker_outage import program_pid
from tests.generator.test_burst import burst_result, cli_env
from tests.spark.jobrun import create_scratch, drop_scratch, run_job, scratch_settings, window_of

pytestmark = [pytest.mark.integration, pytest.mark.disruptive, pytest.mark.profiles("cluster"),
              pytest.mark.timeout(600)]

RATE, SECONDS = 5000, 20
KILL_AFTER = 6.0  # seconds into the burst
JOB_EVENTS = 300_000
KILL_INTO_JOB = 15.0  # seconds after the job's executors are up


def replicas_in_sync(settings, topic: str) -> dict[int, tuple[int, int]]:
    """Per partition: (replicas, in-sync replicas)."""
    from confluent_kafka.admin import AdminClient

    md = AdminClient({**librdkafka(settings), "log_level": 0}).list_topics(topic, timeout=10)
    return {p: (len(pm.replicas), len(pm.isrs)) for p, pm in md.topics[topic].partitions.items()}


@pytest.fixture
def private_topic(stack_up):
    """A fresh topic with the pipeline topic's settings (replication 3, min ISR 2), deleted afterwards."""
    from confluent_kafka.admin import AdminClient

    s = stack_up.model_copy(update={"topic": f"{stack_up.topic}.test-node-failure-{secrets.token_hex(4)}"})
    ensure_topic(s)
    yield s
    admin = AdminClient(librdkafka(s))  # kept alive until the result
    admin.delete_topics([s.topic])[s.topic].result(30)


def test_kill_9_of_a_partition_leader_mid_burst_every_event_acknowledged_once(private_topic):
    s = private_topic
    assert set(replicas_in_sync(s, s.topic).values()) == {(s.topic_replication_factor,) * 2}
    from confluent_kafka.admin import AdminClient

    leader = AdminClient(librdkafka(s)).list_topics(s.topic, timeout=10).topics[s.topic].partitions[0].leader
    victim = f"kafka-{leader}"  # node.id i is program kafka-i (stack/services.py)
    seed = secrets.randbits(48)
    before = end_offsets(s, s.topic)
    burst = subprocess.Popen([sys.executable, "-m", "generator", "burst", "--rate", str(RATE),
                              "--duration", str(SECONDS), "--seed", str(seed), "--quiet"],
                             env=cli_env(s), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(KILL_AFTER)
    os.kill(program_pid(s, victim), signal.SIGKILL)
    killed = time.monotonic()
    out, _ = burst.communicate(timeout=300)
    burst_done = time.monotonic() - killed

    requested = RATE * SECONDS
    result = burst_result(out)
    assert burst.returncode == 0, out
    assert (result["produced"], result["acknowledged"], result["failed"]) == (requested, requested, 0), result
    after = end_offsets(s, s.topic)
    keys = Counter(m.key().decode() for m in read_range(s, s.topic, before, after))
    ids = {e["transaction_id"] for e in generate(seed, requested, "2026-01-01T00:00:00.000Z")}
    assert set(keys) == ids and set(keys.values()) == {1}, "an event is missing or in the topic twice"
    assert new_records(before, after) == requested

    # The killed broker comes back (supervisord) and catches up: every partition fully in sync again.
    deadline = time.monotonic() + 180
    while set(replicas_in_sync(s, s.topic).values()) != {(s.topic_replication_factor,) * 2}:
        assert time.monotonic() < deadline, f"{victim} did not rejoin the ISR: {replicas_in_sync(s, s.topic)}"
        time.sleep(2)
    print(f"killed {victim} (leader of partition 0) {KILL_AFTER}s into a {SECONDS}s burst at {RATE}/s; "
          f"burst done {burst_done:.1f}s later with {requested} acknowledged once each; back in sync "
          f"{time.monotonic() - killed:.1f}s after the kill")


def test_kill_9_of_a_spark_worker_mid_job_the_job_succeeds_with_exact_counts(stack_up):
    import threading

    s = scratch_settings(stack_up, "node-failure-spark")
    create_scratch(s)
    try:
        report = Burst(JOB_EVENTS, None, seed=secrets.randbits(48), settings=s).run()
        assert report.acknowledged == JOB_EVENTS, report.as_dict()
        window = window_of(int(report.started_at.timestamp() * 1000), int(report.ended_at.timestamp() * 1000) + 1)
        runs = []
        job = threading.Thread(target=lambda: runs.append(run_job(s, window, "kafka", timeout=480)))
        job.start()
        deadline = time.monotonic() + 120
        while not any(a["name"] == "kafka_to_influx" for a in health.spark_master_state(s)["activeapps"]):
            assert time.monotonic() < deadline and job.is_alive(), "the job never registered with the master"
            time.sleep(1)
        time.sleep(KILL_INTO_JOB)
        assert job.is_alive(), "the job ended before the kill: make JOB_EVENTS larger"
        os.kill(program_pid(s, "spark-worker-1"), signal.SIGKILL)
        killed = time.monotonic()
        job.join()
        run = runs[0]
        assert run.returncode == 0, run.failure or run.stderr[-3000:]
        result = run.result
        assert (result["read"], result["written"], result["dead_lettered"]) == (JOB_EVENTS, JOB_EVENTS, 0), result
        rows = client_from_settings(s, database=s.influx_db).rows(
            f'SELECT count("transaction_id") AS n FROM "{s.raw_measurement}"')
        assert rows and int(rows[0]["n"]) == JOB_EVENTS
        print(f"killed spark-worker-1 {KILL_INTO_JOB}s into the job's run; the job ended "
              f"{time.monotonic() - killed:.1f}s later: {JOB_EVENTS} read, written and counted in InfluxDB")
    finally:
        drop_scratch(s)
    deadline = time.monotonic() + 120
    while sum(w["state"] == "ALIVE" for w in health.spark_master_state(s)["workers"]) < s.spark_workers:
        assert time.monotonic() < deadline, "the killed worker did not come back"
        time.sleep(2)


def test_kill_9_of_a_datanode_while_flume_writes_every_offset_once(long_windows):
    """The block pipeline loses a node mid-write: the sink goes on with the other two (best-effort
    replacement); the run succeeds, and HDFS holds every offset once."""
    s = long_windows.settings
    restart_mid_burst(long_windows, "hdfs-datanode-1",
                      lambda: all(health.check(f"hdfs-datanode-{i + 1}", s)[0] for i in range(s.hdfs_datanodes)),
                      seed=31, kill=True, ride_out=True)


def test_kill_9_of_a_partition_leader_while_flume_writes_the_run_succeeds_every_offset_once(long_windows):
    """The agent's source and the runner's lag probes lose a partition's leader mid-burst: they follow
    the new leader (the probes ask again through the failover, carpipe.kafka_offsets.through_failover);
    the run succeeds and HDFS holds every offset once."""
    from confluent_kafka.admin import AdminClient

    s = long_windows.settings
    leader = AdminClient(librdkafka(s)).list_topics(s.topic, timeout=10).topics[s.topic].partitions[0].leader
    in_sync = {(s.topic_replication_factor,) * 2}
    restart_mid_burst(long_windows, f"kafka-{leader}", lambda: set(replicas_in_sync(s, s.topic).values()) == in_sync,
                      seed=32, kill=True, ride_out=True)

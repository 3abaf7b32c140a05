"""Integration: Kafka -> Flume -> HDFS writes every offset exactly once through crashes and service
restarts, on the real stack, through ``python -m flume.runner`` as the DAG calls it.

Each scenario produces at a steady pace while a fault hits the running agent, then one more run
catches up; HDFS must then hold each produced record exactly once, at its offset, in its window
(``FlumeCase.assert_each_offset_once``), and the reconciliation's count must see 0 duplicates.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import datetime

import pytest
from confluent_kafka.admin import AdminClient

from carpipe.hdfs_counts import count_window
from carpipe.offset_files import parse
from carpipe.webhdfs import IN_USE_SUFFIX, files_since, webhdfs
from carpipe.windows import UTC
from tests.flume.conftest import delete_group
from tests.flume.test_runner import events, now_iso, window_of
from tests.generator.test_broker_outage import finished, kafka_healthy, program_pid, supervisorctl

pytestmark = pytest.mark.integration

EPOCH = datetime(1970, 1, 2, tzinfo=UTC)


class PacedProducer(threading.Thread):
    """Produces ``n`` records in ``chunks`` chunks, one per second: a burst the faults land in."""

    def __init__(self, case, n: int, seed: int, chunks: int = 30):
        super().__init__(daemon=True)
        self.case, self.values, self.chunks = case, events(n, seed), chunks
        self.error: BaseException | None = None

    def run(self) -> None:
        size = -(-len(self.values) // self.chunks)
        try:
            for i in range(0, len(self.values), size):
                self.case.produce(self.values[i:i + size])
                time.sleep(1)
        except BaseException as exc:  # surfaced by finish()
            self.error = exc

    def finish(self, timeout: float = 300) -> None:
        self.join(timeout)
        assert not self.is_alive(), "producer did not finish"
        assert self.error is None, self.error


def open_file_with_data(case) -> bool:
    return any(f.is_open and f.length > 0 for f in files_since(webhdfs(case.settings),
                                                              case.settings.hdfs_base_path, EPOCH))


def wait_until(condition, timeout: float, what: str, runner=None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {timeout:.0f}s" + (
            "\n" + runner.output[-5000:] if runner else "")
        time.sleep(0.2)


def catch_up_and_check(case) -> None:
    code, out, result = case.run("--until", now_iso())
    assert code == 0 and result["status"] == "ok", out[-5000:]
    per_dir = case.assert_each_offset_once()
    for d, lines in per_dir.items():
        c = count_window(case.settings, window_of(case, d))
        assert (c.lines, c.duplicates, c.open_files) == (lines, 0, []), d


@pytest.fixture
def long_windows(flume_case):
    """One window holds the whole scenario (faults several times in one window)."""
    flume_case.settings = flume_case.settings.model_copy(update={"window_seconds": 600})
    return flume_case


def test_repeated_sigkill_mid_burst_writes_every_offset_once(long_windows):
    case = long_windows
    producer = PacedProducer(case, 30_000, seed=11, chunks=40)
    producer.start()
    recovered = 0
    for kill in range(3):
        runner = case.start("--run-seconds", "240")
        try:
            assert runner.ready.wait(180), runner.output
            # Kill while this agent has a file open with data (an uncommitted tail, a live lease).
            wait_until(lambda: open_file_with_data(case), 120, "an open file with data", runner)
            os.kill(runner.agent_pid, signal.SIGKILL)
        finally:
            code, result = runner.wait()
        assert code == 1 and result["status"] == "failed", runner.output[-3000:]
        assert result["open_files"] == []  # committed by the runner after the agent died
        recovered += len(result["recovered"])
        assert all(r["committed"] is None or parse(r["committed"]).end is not None for r in result["recovered"])
    producer.finish()
    assert recovered >= 3, "each kill left an open file the runner committed"
    catch_up_and_check(case)


def test_a_kill_between_close_and_rename_is_committed_once(flume_case):
    """The on-disk state such a kill leaves: a file closed but still named open; and the consumer group
    gone too, so Kafka would deliver everything again. HDFS alone decides what is written."""
    case = flume_case
    case.produce(events(500, seed=12))
    code, out, _ = case.run("--until", now_iso())
    assert code == 0, out
    client = webhdfs(case.settings)
    victim = max(files_since(client, case.settings.hdfs_base_path, EPOCH), key=lambda f: f.length)
    named = parse(victim.path)
    reopened = f"{victim.path.rsplit('/', 1)[0]}/{named.topic}+{named.partition}+{named.start}.jsonl{IN_USE_SUFFIX}"
    client.rename(victim.path, reopened)
    delete_group(AdminClient({"bootstrap.servers": case.settings.kafka_bootstrap}), case.settings.flume_consumer_group)

    case.produce(events(200, seed=13))
    code, out, result = case.run("--until", now_iso())
    assert code == 0, out
    assert [r["committed"] for r in result["recovered"]] == [victim.path]
    assert "dropped" in out  # the re-delivered records were seen and not written again
    case.assert_each_offset_once()


def restart_mid_burst(case, program: str, healthy, seed: int, kill: bool = False, ride_out: bool = False) -> None:
    """``program`` restarted (or with ``kill``, SIGKILLed and so restarted by supervisord) while the
    agent writes a burst; then every offset in HDFS once. ``ride_out``: the run itself must succeed (a
    node of a multi-node engine lost: the others take over)."""
    producer = PacedProducer(case, 20_000, seed=seed, chunks=30)
    runner = case.start("--run-seconds", "90")
    try:
        assert runner.ready.wait(180), runner.output
        producer.start()
        wait_until(lambda: open_file_with_data(case), 120, "an open file with data", runner)
        if kill:
            os.kill(program_pid(case.settings, program), signal.SIGKILL)
        else:
            finished(supervisorctl(case.settings, "restart", program))
        wait_until(healthy, 180, f"{program} healthy again")
        producer.finish()
    finally:
        code, _ = runner.wait(600)
    # The agent rides the outage out (0) or gives up and the next run continues (1, 3): never a copy.
    assert code in ((0,) if ride_out else (0, 1, 3)), runner.output[-5000:]
    catch_up_and_check(case)


def hdfs_writable(case) -> bool:
    """A write and a delete go through (the NameNode is out of safe mode, a DataNode takes blocks)."""
    probe = f"{case.settings.hdfs_base_path}-probe"
    try:
        client = webhdfs(case.settings)
        client.write(probe, b"x", overwrite=True)
        client.delete(probe)
        return True
    except Exception:
        return False


@pytest.mark.disruptive  # restarts the DataNode
def test_datanode_restart_mid_burst(long_windows):
    restart_mid_burst(long_windows, "hdfs-datanode", lambda: hdfs_writable(long_windows), seed=21)


@pytest.mark.disruptive  # restarts the NameNode
def test_namenode_restart_mid_burst(long_windows):
    restart_mid_burst(long_windows, "hdfs-namenode", lambda: hdfs_writable(long_windows), seed=22)


@pytest.mark.disruptive  # restarts Kafka
def test_kafka_restart_mid_burst(long_windows):
    restart_mid_burst(long_windows, "kafka", lambda: kafka_healthy(long_windows.settings), seed=23)

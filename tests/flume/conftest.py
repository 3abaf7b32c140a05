"""Per-test isolation for the Flume integration tests: a fresh topic, consumer group, HDFS base path and
file-channel directory each, short windows, and helpers to produce records (keeping each record's
broker-assigned timestamp) and to run ``python -m flume.runner`` as the DAG does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Producer
from confluent_kafka.admin import AdminClient

from carpipe import offset_files
from carpipe.config import REPO_ROOT, Settings
from carpipe.topic import ensure_topic
from carpipe.windows import UTC, Window
from flume import agent_conf
from carpipe.webhdfs import list_files, read_lines, webhdfs, window_dirs

WINDOW_SECONDS = 10
RUNNER_TIMEOUT = 300


@dataclass
class Record:
    value: bytes | None
    timestamp_ms: int
    partition: int = -1
    offset: int = -1


@dataclass
class FlumeCase:
    settings: Settings
    produced: list[Record] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **self.settings.as_env(), "PYTHONUNBUFFERED": "1"}

    def runner_command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "flume.runner", *args]

    def run(self, *args: str, timeout: float = RUNNER_TIMEOUT) -> tuple[int, str, dict]:
        out = subprocess.run(self.runner_command(*args), env=self.env, cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=timeout)
        print(out.stdout[-20000:], out.stderr[-5000:])
        return out.returncode, out.stdout, result_of(out.stdout, out.returncode)

    def start(self, *args: str) -> "RunnerProcess":
        return RunnerProcess(self, args)

    def produce(self, values: list[bytes | None]) -> list[Record]:
        """Produce with keys (like the generator); returns each record with its LogAppendTime stamp."""
        records: list[Record] = []
        errors: list = []

        def delivered(err, msg):
            if err is not None:
                errors.append(err)
                return
            ts_type, ts = msg.timestamp()
            assert ts_type == TIMESTAMP_LOG_APPEND_TIME, "topic must stamp records at append"
            records.append(Record(msg.value(), ts, msg.partition(), msg.offset()))

        p = Producer({"bootstrap.servers": self.settings.kafka_bootstrap, "linger.ms": 5,
                      "enable.idempotence": True})
        for i, v in enumerate(values):
            while True:
                try:
                    p.produce(self.settings.topic, v, key=str(i).encode(), on_delivery=delivered)
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
        assert p.flush(60) == 0, "records left unacknowledged"
        assert not errors, errors
        self.produced += records
        return records

    def expected_by_window(self, records: list[Record] | None = None) -> dict[str, list[bytes]]:
        """Window dir -> the lines Flume must write there (a null value becomes an empty line)."""
        out: dict[str, list[bytes]] = defaultdict(list)
        for r in self.produced if records is None else records:
            out[self.window_dir(r)].append(oneline(r.value or b""))
        return dict(out)

    def hdfs_lines(self) -> dict[str, list[bytes]]:
        """Window dir -> the lines of its closed files; asserts no file is open."""
        client = webhdfs(self.settings)
        out: dict[str, list[bytes]] = {}
        for d in window_dirs(client, self.settings.hdfs_base_path, datetime(1970, 1, 2, tzinfo=UTC)):
            files = list_files(client, d)
            assert not [f.path for f in files if f.is_open], f"open files in {d}"
            out[d] = [line for f in files for line in read_lines(client, f.path)]
        return out


    def assert_each_offset_once(self) -> dict[str, int]:
        """Exactly once, by offsets: every committed file's name states the partition and offsets its lines
        hold, each line is the record produced at that offset, and together the files hold every record
        produced exactly once, each in its window. Returns lines per window dir."""
        client = webhdfs(self.settings)
        by_offset = {(r.partition, r.offset): r for r in self.produced}
        seen: Counter = Counter()
        per_dir: dict[str, int] = {}
        for d in window_dirs(client, self.settings.hdfs_base_path, datetime(1970, 1, 2, tzinfo=UTC)):
            for f in list_files(client, d):
                named = offset_files.parse(f.path)
                assert named is not None and named.end is not None, f"not a committed offset file: {f.path}"
                lines = list(read_lines(client, f.path))
                assert len(lines) == named.end - named.start + 1, f.path
                for offset, line in zip(range(named.start, named.end + 1), lines):
                    r = by_offset[(named.partition, offset)]
                    assert line == oneline(r.value or b""), f"{f.path}: offset {offset}"
                    assert self.window_dir(r) == d, f"{f.path}: offset {offset} belongs in another window"
                    seen[(named.partition, offset)] += 1
                per_dir[d] = per_dir.get(d, 0) + len(lines)
        twice = [k for k, n in seen.items() if n > 1]
        missing = by_offset.keys() - seen.keys()
        assert not twice and not missing, f"{len(twice)} offset(s) written twice, {len(missing)} missing"
        return per_dir

    def window_dir(self, r: Record) -> str:
        w = Window.containing(datetime.fromtimestamp(r.timestamp_ms / 1000, UTC), self.settings.window_seconds)
        return w.hdfs_dir(self.settings.hdfs_base_path)


class RunnerProcess:
    """``python -m flume.runner`` in the background, its output collected line by line."""

    def __init__(self, case: FlumeCase, args: tuple[str, ...]):
        self.proc = subprocess.Popen(case.runner_command(*args), env=case.env, cwd=REPO_ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.agent_pid: int | None = None
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            if m := re.search(r"agent pid=(\d+)", line):
                self.agent_pid = int(m.group(1))
            if "agent ready" in line:
                self.ready.set()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait(self, timeout: float = RUNNER_TIMEOUT) -> tuple[int, dict]:
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._reader.join(10)
            print(self.output[-20000:])
        return code, result_of(self.output, code)


def oneline(value: bytes) -> bytes:
    return value.replace(b"\r", b"").replace(b"\n", b"")


def result_of(stdout: str, code: int) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("FLUME_RESULT ")]
    assert lines, f"runner printed no FLUME_RESULT line (exit code {code}); its last lines:\n{stdout[-3000:]}"
    return json.loads(lines[-1].removeprefix("FLUME_RESULT "))


def delete_group(admin, group: str) -> None:
    """Delete the consumer group; one that never committed an offset does not exist, which is fine."""
    from confluent_kafka import KafkaError, KafkaException

    try:
        [f.result(30) for f in admin.delete_consumer_groups([group], request_timeout=30).values()]
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
            raise


@pytest.fixture
def flume_case(stack_up: Settings) -> Iterator[FlumeCase]:
    tag = f"flume-test-{uuid.uuid4().hex[:10]}"
    s = stack_up.model_copy(update={
        "topic": tag, "flume_consumer_group": tag, "hdfs_base_path": f"/carpipe-tests/{tag}",
        "window_seconds": WINDOW_SECONDS, "burst_seconds": WINDOW_SECONDS, "grace_seconds": 90})
    ensure_topic(s)
    case = FlumeCase(s)
    yield case
    # The group goes with its topic (Kafka drops a deleted topic's committed offsets): not deleted here,
    # as librdkafka's group admin requests can abort the process when a broker just failed over.
    admin = AdminClient({"bootstrap.servers": s.kafka_bootstrap})
    steps = [lambda: [f.result(30) for f in admin.delete_topics([tag], request_timeout=30).values()],
             lambda: webhdfs(s).delete(s.hdfs_base_path, recursive=True),
             lambda: shutil.rmtree(agent_conf.state_dir(s), ignore_errors=True)]
    errors = []
    for step in steps:  # every step, even if one fails (e.g. Kafka restarting)
        try:
            step()
        except Exception as exc:
            errors.append(exc)
    assert not errors, f"cleanup of {tag} failed: {errors}"

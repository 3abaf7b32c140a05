"""Running the window job as the DAG does (spark-submit with the connector jars and application_args),
and the per-test-session scratch space it runs in: its own topic, HDFS paths and InfluxDB database."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from confluent_kafka import Producer

from carpipe.config import REPO_ROOT, Settings
from carpipe.influx import client_from_settings
from carpipe.spark import submit_command, submit_env
from carpipe.topic import ensure_topic
from carpipe.windows import UTC, Window
from spark_apps.kafka_to_influx import RESULT_PREFIX, application_args

APP = REPO_ROOT / "spark_apps" / "kafka_to_influx.py"


@dataclass
class JobRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def result(self) -> dict | None:
        lines = [line for line in self.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        return json.loads(lines[-1][len(RESULT_PREFIX):]) if lines else None

    @property
    def failure(self) -> str:
        # spark-submit's PythonRunner merges the driver's stderr into its stdout.
        lines = [line for line in (self.stdout + self.stderr).splitlines() if line.startswith("kafka_to_influx failed:")]
        return lines[-1] if lines else ""


def run_job(s: Settings, window: Window, source: str = "kafka", *extra: str,
            conf: dict[str, str] | None = None, timeout: float = 600) -> JobRun:
    cmd = submit_command(s, str(APP), *application_args(s, window, source), *extra, conf=conf)
    started = time.monotonic()
    out = subprocess.run(cmd, env=submit_env(s), cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
    run = JobRun(out.returncode, out.stdout, out.stderr, time.monotonic() - started)
    log = Path(tempfile.mkdtemp(prefix="kafka_to_influx-run-")) / "spark-submit.log"
    log.write_text(f"$ {' '.join(cmd)}\n--- stdout\n{out.stdout}\n--- stderr\n{out.stderr}")
    print(f"spark-submit exited {run.returncode} after {run.seconds:.1f}s (log {log}); result {run.result}; "
          f"{run.failure}")
    return run


def scratch_settings(base: Settings, label: str) -> Settings:
    """Settings whose topic, HDFS paths and InfluxDB database belong to one test session only."""
    run = f"{label}-{uuid.uuid4().hex[:8]}"
    return base.model_copy(update={
        "topic": f"carpipe-{run}", "influx_db": f"carpipe_{run}".replace("-", "_"),
        "hdfs_base_path": f"/tmp/carpipe-{run}/Cars", "hdfs_dead_letter_path": f"/tmp/carpipe-{run}/dead-letter"})


def create_scratch(s: Settings) -> None:
    ensure_topic(s)  # LogAppendTime: the broker stamps the records, as on the real topic
    client_from_settings(s).create_database()


def drop_scratch(s: Settings) -> None:
    from confluent_kafka.admin import AdminClient
    from hdfs import InsecureClient

    client_from_settings(s).query(f'DROP DATABASE "{s.influx_db}"', database=None)
    admin = AdminClient({"bootstrap.servers": s.kafka_bootstrap})
    admin.delete_topics([s.topic])[s.topic].result(30)
    InsecureClient(s.webhdfs_url).delete(s.hdfs_base_path.rsplit("/", 1)[0], recursive=True)


def produce(s: Settings, values: list[str | bytes], config: dict | None = None) -> list[int]:
    """Produce (keyless), return each record's broker timestamp (LogAppendTime), in input order."""
    stamps: dict[int, int] = {}
    errors: list = []

    def delivered(i):
        def cb(err, msg):
            if err is not None:
                errors.append(err)
            else:
                stamps[i] = msg.timestamp()[1]
        return cb

    p = Producer({"bootstrap.servers": s.kafka_bootstrap, "enable.idempotence": True, "linger.ms": 20,
                  **(config or {})})
    for i, v in enumerate(values):
        while True:
            try:
                p.produce(s.topic, v if isinstance(v, bytes) else v.encode(), on_delivery=delivered(i))
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    remaining = p.flush(60)
    assert remaining == 0 and not errors, f"{remaining} undelivered, errors {errors[:3]}"
    return [stamps[i] for i in range(len(values))]


def window_of(start_ms: int, end_ms: int) -> Window:
    return Window(datetime.fromtimestamp(start_ms / 1000, UTC), datetime.fromtimestamp(end_ms / 1000, UTC))

"""The one config layer: every host, port, path, name and credential of the platform.

Values come from environment variables prefixed ``CARPIPE_`` (e.g. ``CARPIPE_KAFKA_BOOTSTRAP``);
the defaults point at the embedded stack that ``make up`` starts on loopback. DAGs read the
endpoints through Airflow connections, which ``make up`` creates from these same settings, so a
user moving to real clusters edits the connections (or these variables) and no code.

Secrets (``SECRET_FIELDS``) are also read from files, one per setting, in ``CARPIPE_SECRETS_DIR`` (default
``<state dir>/secrets``, mode 0700, files 0600, written by ``make up`` from the environment it was given), so
the services get them without a secret in any rendered config or process environment; ``as_env`` leaves
them out.

``python -m carpipe.config`` prints the resolved settings as ``CARPIPE_*=value`` lines for shell use,
secrets as a comment saying whether they are set.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from carpipe.windows import check_length

REPO_ROOT = Path(__file__).resolve().parents[1]
SECRETS_DIR = Path(os.environ.get("CARPIPE_SECRETS_DIR")
                   or Path(os.environ.get("CARPIPE_STATE_DIR", REPO_ROOT / ".state")) / "secrets")
SECRET_FIELDS = ("influx_password",)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARPIPE_", extra="ignore",
                                      secrets_dir=SECRETS_DIR if SECRETS_DIR.is_dir() else None)

    # -- the embedded stack: where it keeps state and which loopback ports it binds --
    state_dir: Path = REPO_ROOT / ".state"
    bind_host: str = "127.0.0.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    hdfs_rpc_port: int = 9000
    hdfs_http_port: int = 9870
    datanode_port: int = 9866
    datanode_http_port: int = 9864
    datanode_ipc_port: int = 9867
    influx_port: int = 8086
    airflow_port: int = 8080
    generator_port: int = 5000
    supervisor_port: int = 9001

    # -- client endpoints (default to the embedded services; point them at real clusters) --
    kafka_bootstrap: str = ""
    hdfs_url: str = ""
    webhdfs_url: str = ""
    influx_url: str = ""
    airflow_url: str = ""
    generator_url: str = ""
    spark_master: str = "local[2]"
    # Hadoop client configuration (core-site.xml, hdfs-site.xml) for the JVM programs that talk to HDFS
    # (Flume's sink, lease recovery): $HADOOP_CONF_DIR when set, else the embedded stack's.
    hadoop_conf_dir: Path | None = None

    # -- names --
    topic: str = "car-transactions-logs"
    topic_partitions: int = 3
    topic_retention_ms: int = 7 * 24 * 3600 * 1000
    # One broker in the embedded stack; on a cluster e.g. 3 and 2 (with the producers' acks=all, a write
    # is then on two brokers before it is acknowledged).
    topic_replication_factor: int = 1
    topic_min_insync_replicas: int = 1
    hdfs_base_path: str = "/Cars"
    hdfs_dead_letter_path: str = "/Cars-dead-letter"
    influx_db: str = "ETL_Project"
    influx_retention: str = "30d"
    raw_measurement: str = "car_transaction_data"
    audit_measurement: str = "pipeline_audit"
    burst_measurement: str = "generator_burst"  # one point per burst, written by the burst DAG
    flume_consumer_group: str = "flume-hdfs"

    # -- credentials (empty for the embedded stack; never committed) --
    influx_user: str = ""
    influx_password: str = Field(default="", repr=False)
    airflow_user: str = "admin"

    # -- cadence: window length, burst length inside it, grace after a window closes --
    window_seconds: int = 15 * 60
    burst_seconds: int = 5 * 60
    grace_seconds: int = 2 * 60
    burst_rate: int = 20

    # -- generator: how long a produced record may wait for the broker's acknowledgement --
    producer_delivery_timeout_ms: int = 120_000
    # ... and how many accepted transaction ids POST /api/logs remembers to answer 409 on a conflict
    generator_id_horizon: int = 100_000

    @model_validator(mode="after")
    def _default_endpoints(self) -> "Settings":
        h = self.bind_host
        defaults = {
            "kafka_bootstrap": f"{h}:{self.kafka_port}",
            "hdfs_url": f"hdfs://{h}:{self.hdfs_rpc_port}",
            "webhdfs_url": f"http://{h}:{self.hdfs_http_port}",
            "influx_url": f"http://{h}:{self.influx_port}",
            "airflow_url": f"http://{h}:{self.airflow_port}",
            "generator_url": f"http://{h}:{self.generator_port}",
        }
        for name, value in defaults.items():
            if not getattr(self, name):
                setattr(self, name, value)
        if self.hadoop_conf_dir is None:
            self.hadoop_conf_dir = Path(os.environ.get("HADOOP_CONF_DIR") or self.state_dir / "conf" / "hadoop")
        check_length(self.window_seconds)
        if self.burst_seconds > self.window_seconds:
            raise ValueError("burst_seconds must not exceed window_seconds")
        return self

    @property
    def jars_dir(self) -> Path:
        return self.state_dir / "jars"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    def as_env(self) -> dict[str, str]:
        """Every setting but the secrets as the CARPIPE_* variable that would reproduce it."""
        return {env_name(k): str(v) for k, v in self.model_dump().items() if k not in SECRET_FIELDS}


def env_name(field: str) -> str:
    return f"CARPIPE_{field.upper()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


if __name__ == "__main__":
    s = get_settings()
    for key, value in s.as_env().items():
        print(f"{key}={value}")
    for name in SECRET_FIELDS:
        print(f"# {env_name(name)} is {'set' if getattr(s, name) else 'not set'} (secret, not shown)")

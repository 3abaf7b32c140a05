"""The one config layer: every host, port, path, name and credential of the platform.

Values come from environment variables prefixed ``CARPIPE_`` (e.g. ``CARPIPE_KAFKA_BOOTSTRAP``);
the defaults point at the embedded stack that ``make up`` starts on loopback. DAGs read the
endpoints through Airflow connections, which ``make up`` creates from these same settings, so a
user moving to real clusters edits the connections (or these variables) and no code.

Secrets (``SECRET_FIELDS``) are also read from files, one per setting, in ``CARPIPE_SECRETS_DIR`` (default
``<state dir>/secrets``, mode 0700, files 0600, written by ``make up`` from the environment it was given), so
the services get them without a secret in any rendered config or process environment; ``as_env`` leaves
them out.

**Profiles** (``CARPIPE_PROFILE``, ``make up PROFILE=cluster``): the shape of the stack ``make up`` runs on
this machine, and so the defaults that follow from it. ``embedded`` (default) runs one node of each
engine; ``cluster`` runs real multi-node engines (Kafka brokers, HDFS DataNodes, a Spark standalone
master and workers), with replication to match, in its own state dir. ``PROFILES`` is the one place
where they differ; an explicit ``CARPIPE_*`` setting still wins over its profile.

``python -m carpipe.config`` prints the resolved settings as ``CARPIPE_*=value`` lines for shell use,
secrets as a comment saying whether they are set.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from carpipe.windows import check_length

REPO_ROOT = Path(__file__).resolve().parents[1]
# What stack/install.sh installs (JVM jars, stamps) lives here, shared by the profiles.
INSTALL_DIR = Path(os.environ.get("CARPIPE_STATE_DIR") or REPO_ROOT / ".state")

# Per profile, the settings whose defaults differ from the embedded one-node stack.
PROFILES: dict[str, dict[str, Any]] = {
    "embedded": {},
    "cluster": {
        "state_dir": INSTALL_DIR / "cluster",
        "kafka_brokers": 3, "topic_replication_factor": 3, "topic_min_insync_replicas": 2,
        "hdfs_datanodes": 3, "hdfs_replication": 3,
        "spark_workers": 2, "spark_shuffle_partitions": 2,  # one per worker core
        "airflow_executor": "CeleryExecutor", "celery_workers": 2,
    },
}
PROFILE = os.environ.get("CARPIPE_PROFILE") or "embedded"
if PROFILE not in PROFILES:
    raise SystemExit(f"CARPIPE_PROFILE={PROFILE!r}: not one of {', '.join(PROFILES)}")
SECRETS_DIR = Path(os.environ.get("CARPIPE_SECRETS_DIR")
                   or Path(os.environ.get("CARPIPE_STATE_DIR") or PROFILES[PROFILE].get("state_dir", INSTALL_DIR))
                   / "secrets")
SECRET_FIELDS = ("influx_password", "generator_token", "kafka_sasl_password", "redis_password")
# Node i (from 0) of a multi-node engine listens on each of its base ports plus i times this.
NODE_PORT_STEP = {"kafka": 2, "datanode": 100, "spark_worker": 1}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARPIPE_", extra="ignore",
                                      secrets_dir=SECRETS_DIR if SECRETS_DIR.is_dir() else None)

    # -- the embedded stack: its profile, where it keeps state and which loopback ports it binds --
    profile: Literal["embedded", "cluster"] = "embedded"
    state_dir: Path = INSTALL_DIR
    # The JVM jars stack/install.sh resolved (a setting, so every process of a profile finds them).
    jars_dir: Path = INSTALL_DIR / "jars"
    bind_host: str = "127.0.0.1"
    # Nodes per engine (the profile's). Node i's ports: the base ports + i x NODE_PORT_STEP.
    kafka_brokers: int = Field(default=1, ge=1)
    hdfs_datanodes: int = Field(default=1, ge=1)
    spark_workers: int = Field(default=0, ge=0)  # 0: the job runs in local mode, no Spark servers
    celery_workers: int = Field(default=0, ge=0)  # with airflow_executor CeleryExecutor
    hdfs_replication: int = Field(default=1, ge=1)
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
    postgres_port: int = 5432  # Airflow's metadata DB
    spark_master_port: int = 7077
    spark_master_ui_port: int = 8081
    spark_worker_port: int = 7078
    spark_worker_ui_port: int = 8091
    redis_port: int = 6379  # the Celery broker (cluster profile)
    supervisor_port: int = 9001

    # -- client endpoints (default to the embedded services; point them at real clusters) --
    kafka_bootstrap: str = ""
    hdfs_url: str = ""
    webhdfs_url: str = ""
    influx_url: str = ""
    airflow_url: str = ""
    generator_url: str = ""
    spark_master: str = ""  # default: the profile's standalone master, local[2] without one
    # The address of this host where its client-mode Spark drivers listen and executors reach them
    # (SPARK_LOCAL_IP of the Airflow processes; on several worker hosts, each sets its own).
    spark_driver_host: str = ""
    # The window job's resources (spark-submit). In local mode the driver's heap holds the whole job
    # (the executors are its threads); shuffle partitions 0 = one per core the master offers.
    spark_driver_memory: str = Field(default="2g", pattern=r"^[0-9]+[kmgt]?$")
    spark_executor_memory: str = Field(default="2g", pattern=r"^[0-9]+[kmgt]?$")
    spark_shuffle_partitions: int = Field(default=0, ge=0)
    # Hadoop client configuration (core-site.xml, hdfs-site.xml) for the JVM programs that talk to HDFS
    # (Flume's sink, lease recovery): $HADOOP_CONF_DIR when set, else the embedded stack's.
    hadoop_conf_dir: Path | None = None

    # -- Kafka client security (carpipe.kafka_clients; PLAINTEXT for the embedded broker) --
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = ""
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = Field(default="", repr=False)
    kafka_ssl_ca_location: str = ""

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

    # -- credentials (the password is generated by the first `make up`; never committed) --
    influx_user: str = "carpipe"
    influx_password: str = Field(default="", repr=False)
    airflow_user: str = "admin"
    redis_password: str = Field(default="", repr=False)  # the Celery broker's (generated by `make up`)

    # -- Airflow's executor; the queue of the Flume task: the one worker serving it owns the agent's
    # file channel and turn lock, which live on its local disk --
    airflow_executor: Literal["LocalExecutor", "CeleryExecutor"] = "LocalExecutor"
    flume_queue: str = "flume"
    # How long a running task may go without a heartbeat before the scheduler fails it, and so retries
    # it: the time to notice a task whose worker died (Airflow's default, 300 s, is one third of a window).
    airflow_task_heartbeat_timeout: int = Field(default=90, ge=30)

    # -- cadence: window length, burst length inside it, grace after a window closes --
    window_seconds: int = 15 * 60
    burst_seconds: int = 5 * 60
    grace_seconds: int = 2 * 60
    burst_rate: int = 20

    # -- generator: how long a produced record may wait for the broker's acknowledgement --
    producer_delivery_timeout_ms: int = 120_000
    # ... and how many accepted transaction ids POST /api/logs remembers to answer 409 on a conflict
    generator_id_horizon: int = 100_000
    # Bearer token of the generator's write endpoints (generated by `make up`, kept in the secrets dir),
    # and what one client may ask of it: events per burst (the target window: 20k/s for 300 s) and
    # bursts running at once.
    generator_token: str = Field(default="", repr=False)
    generator_max_burst_events: int = 6_000_000
    generator_max_active_bursts: int = 2

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        profile = data.get("profile") or "embedded"
        return {**PROFILES.get(profile, {}), **data}

    @model_validator(mode="after")
    def _default_endpoints(self) -> "Settings":
        h = self.bind_host
        defaults = {
            "kafka_bootstrap": ",".join(f"{h}:{port}" for port, _ in self.kafka_node_ports()),
            "spark_master": f"spark://{h}:{self.spark_master_port}" if self.spark_workers else "local[2]",
            "hdfs_url": f"hdfs://{h}:{self.hdfs_rpc_port}",
            "webhdfs_url": f"http://{h}:{self.hdfs_http_port}",
            "influx_url": f"http://{h}:{self.influx_port}",
            "airflow_url": f"http://{h}:{self.airflow_port}",
            "generator_url": f"http://{h}:{self.generator_port}",
            "spark_driver_host": h,
        }
        for name, value in defaults.items():
            if not getattr(self, name):
                setattr(self, name, value)
        if self.hadoop_conf_dir is None:
            self.hadoop_conf_dir = Path(os.environ.get("HADOOP_CONF_DIR") or self.state_dir / "conf" / "hadoop")
        check_length(self.window_seconds)
        if self.burst_seconds > self.window_seconds:
            raise ValueError("burst_seconds must not exceed window_seconds")
        if (self.airflow_executor == "CeleryExecutor") != (self.celery_workers > 0):
            raise ValueError("CeleryExecutor needs celery_workers > 0, and celery workers need the CeleryExecutor")
        if self.topic_min_insync_replicas > self.topic_replication_factor:
            raise ValueError("topic_min_insync_replicas must not exceed topic_replication_factor")
        return self

    def _node_ports(self, engine: str, bases: tuple[int, ...], count: int) -> list[tuple[int, ...]]:
        step = NODE_PORT_STEP[engine]
        return [tuple(base + i * step for base in bases) for i in range(count)]

    def kafka_node_ports(self) -> list[tuple[int, int]]:
        """(broker, controller) port of each Kafka node of the embedded stack."""
        return self._node_ports("kafka", (self.kafka_port, self.kafka_controller_port), self.kafka_brokers)

    def datanode_node_ports(self) -> list[tuple[int, int, int]]:
        """(data transfer, HTTP, IPC) port of each HDFS DataNode of the embedded stack."""
        return self._node_ports("datanode", (self.datanode_port, self.datanode_http_port, self.datanode_ipc_port),
                                self.hdfs_datanodes)

    def spark_worker_node_ports(self) -> list[tuple[int, int]]:
        """(RPC, web UI) port of each Spark standalone worker of the embedded stack."""
        return self._node_ports("spark_worker", (self.spark_worker_port, self.spark_worker_ui_port),
                                self.spark_workers)

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

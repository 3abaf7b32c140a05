"""What the embedded stack runs: one supervisord program per service, with its config files.

Everything is rendered from the config layer (carpipe.config) into the state dir, so ports and
paths follow CARPIPE_* overrides. Classpaths come from the jars stack/install.sh resolved.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from carpipe.config import REPO_ROOT, SECRET_FIELDS, SECRETS_DIR, Settings, env_name
from carpipe.jvm import LOG4J2_CONSOLE, hadoop_java, java, java_home, log4j1_console
from carpipe.spark import driver_env
from stack.postgres import PGPASS, Postgres, server_user
from stack.broker import BROKER_URL_FILE, Redis

# The Airflow UI/API users' passwords (Airflow's simple auth manager), created by stack.ctl before
# Airflow starts so Airflow never generates one into a world-readable file and its log.
AIRFLOW_PASSWORDS = SECRETS_DIR / "airflow_passwords.json"


def write_private(path: Path, text: str, owner: int | None = None) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600, in an 0700 directory when it creates
    one), from the first byte on: the stack's rendered configs and connections may carry credentials.
    ``owner``: a uid to hand the file to (a root writer preparing another user's secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    if owner is not None:
        os.fchown(fd, owner, owner)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def store_secrets(s: Settings, directory: Path = SECRETS_DIR) -> list[Path]:
    """The secrets the stack was started with, one 0600 file each in ``directory`` (carpipe.config's
    SECRETS_DIR), where every service's Settings reads them (never through supervisord.conf or a
    process environment)."""
    written = []
    for name in SECRET_FIELDS:
        if value := getattr(s, name):
            path = directory / env_name(name).lower()
            write_private(path, value)
            written.append(path)
    return written


def venv_bin() -> Path:
    return Path(sys.executable).parent


def node_names(base: str, count: int, numbered: bool = False) -> list[str]:
    """Program names of an engine's nodes: ``base`` for a single node (unless ``numbered``), else
    ``base-1`` ... ``base-N`` (stack.health.probe_for reads them back)."""
    return [base] if count == 1 and not numbered else [f"{base}-{i + 1}" for i in range(count)]


def celery_hostname(worker: str) -> str:
    """A Celery worker's node name: the program's name at this machine's host name."""
    return f"{worker}@{socket.gethostname()}"


def spark_home() -> Path:
    """The pyspark wheel: Spark's jars and launch scripts (spark-submit, spark-class)."""
    return Path(importlib.util.find_spec("pyspark").origin).parent


def hadoop_site(props: dict[str, str]) -> str:
    rows = "".join(
        f"  <property><name>{k}</name><value>{v}</value></property>\n" for k, v in props.items()
    )
    return f'<?xml version="1.0"?>\n<configuration>\n{rows}</configuration>\n'


def properties(props: dict[str, object]) -> str:
    return "".join(f"{k}={v}\n" for k, v in props.items())


# InfluxDB's storage settings ([data]); `BENCH=influx` measures them against the alternatives.
INFLUX_DATA: dict[str, str | int | bool] = {
    "index-version": "tsi1",
}


def influxdb_conf(bind_host: str, http_port: int, rpc_port: int, home: Path,
                  data: dict[str, str | int | bool]) -> str:
    """influxd's config: HTTP (auth on) and the backup RPC on ``bind_host``, storage under ``home``."""
    def toml(v: str | int | bool) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v) if isinstance(v, int) else f'"{v}"'

    tuning = "".join(f"  {k} = {toml(v)}\n" for k, v in data.items())
    return f"""\
reporting-disabled = true
bind-address = "{bind_host}:{rpc_port}"

[meta]
  dir = "{home}/meta"

[data]
  dir = "{home}/data"
  wal-dir = "{home}/wal"
  query-log-enabled = false
{tuning}
[http]
  enabled = true
  bind-address = "{bind_host}:{http_port}"
  log-enabled = false
  max-body-size = 0
  # Every request logs in; the admin is created by stack.ctl at the first start (stack/influx_admin.py).
  auth-enabled = true

[monitor]
  store-enabled = false
"""


@dataclass
class Program:
    """One supervised process: its command line, environment and the files it needs."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    files: dict[Path, str] = field(default_factory=dict)
    priority: int = 100
    stopwaitsecs: int = 30
    # A JVM that crashes on start takes seconds to do so: only a process that survived this long
    # counts as started, so a crash loop ends in FATAL (and a clear `make up` error) quickly.
    startsecs: int = 10
    # False: stack.ctl starts it once what it needs is bootstrapped (Airflow: a migrated metadata DB).
    autostart: bool = True
    user: str | None = None  # the OS user it runs as (supervisord runs as whoever ran `make up`)
    stopsignal: str = "TERM"
    ports: tuple[int, ...] = ()  # the TCP ports it listens on, on the bind host


class Stack:
    def __init__(self, settings: Settings):
        self.s = settings
        self.state = settings.state_dir
        self.conf = self.state / "conf"

    # -- Kafka (KRaft, every node broker and controller) ----------------------------------------
    def kafka_names(self) -> list[str]:
        return node_names("kafka", self.s.kafka_brokers)

    def kafka_props(self, name: str) -> Path:
        return self.conf / name / "server.properties"

    def kafka_data(self, name: str) -> Path:
        return self.state / name / "data"

    def kafka(self, index: int) -> Program:
        s, h = self.s, self.s.bind_host
        name = self.kafka_names()[index]
        port, controller_port = s.kafka_node_ports()[index]
        voters = ",".join(f"{i + 1}@{h}:{c}" for i, (_, c) in enumerate(s.kafka_node_ports()))
        rf, isr = s.topic_replication_factor, s.topic_min_insync_replicas
        props = {
            "process.roles": "broker,controller",
            "node.id": index + 1,
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{h}:{port},CONTROLLER://{h}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{h}:{port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": self.kafka_data(name),
            "num.partitions": s.topic_partitions,
            # Kafka's internal topics replicated like ours (consumer offsets: Flume's resume point).
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": isr,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": isr,
            "min.insync.replicas": isr,
            "default.replication.factor": rf,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "false",
            "log.retention.hours": 168,
        }
        log4j = self.conf / name / "log4j2.properties"
        return Program(
            name,
            java(self.s, "kafka", "kafka.Kafka", str(self.kafka_props(name)), heap="768m",
                      opts=[f"-Dlog4j2.configurationFile={log4j}",
                            f"-Dkafka.logs.dir={s.logs_dir}"]),
            files={self.kafka_props(name): properties(props),
                   log4j: LOG4J2_CONSOLE.replace("{level}", "info")
                   + "logger.kafka.name = kafka\nlogger.kafka.level = warn\n"
                     "logger.state.name = state.change.logger\nlogger.state.level = warn\n"},
            priority=10, ports=(port, controller_port),
        )

    def kafka_format_command(self, name: str) -> list[str]:
        # One cluster id for every node: they form one cluster.
        return java(self.s, "kafka", "kafka.tools.StorageTool", "format", "--ignore-formatted",
                         "-t", "carpipe-embedded-kraft", "-c", str(self.kafka_props(name)), heap="256m")

    # -- HDFS -------------------------------------------------------------------------------
    @property
    def hadoop_conf(self) -> Path:
        """The embedded HDFS's own configuration (its servers'; clients use settings.hadoop_conf_dir)."""
        return self.conf / "hadoop"

    @property
    def namenode_dir(self) -> Path:
        return self.state / "hdfs" / "name"

    def hadoop_files(self) -> dict[Path, str]:
        s, h = self.s, self.s.bind_host
        core = {"fs.defaultFS": s.hdfs_url, "hadoop.tmp.dir": self.state / "hdfs" / "tmp"}
        hdfs = {
            "dfs.replication": s.hdfs_replication,
            "dfs.namenode.name.dir": self.namenode_dir,
            "dfs.datanode.data.dir": self.state / "hdfs" / "data",
            "dfs.namenode.rpc-address": f"{h}:{s.hdfs_rpc_port}",
            "dfs.namenode.http-address": f"{h}:{s.hdfs_http_port}",
            "dfs.datanode.address": f"{h}:{s.datanode_port}",
            "dfs.datanode.http.address": f"{h}:{s.datanode_http_port}",
            "dfs.datanode.ipc.address": f"{h}:{s.datanode_ipc_port}",
            "dfs.webhdfs.enabled": "true",
            "dfs.permissions.enabled": "false",
            "dfs.namenode.safemode.extension": 0,
            "dfs.namenode.safemode.min.datanodes": 0,
            "dfs.namenode.heartbeat.recheck-interval": 15000,
        }
        if s.hdfs_datanodes == 1:
            # A single DataNode: never try to replace it in a write pipeline.
            hdfs["dfs.client.block.write.replace-datanode-on-failure.enable"] = "false"
        else:
            # A write pipeline that loses a DataNode asks for a replacement, and goes on with the
            # ones left when the cluster has none to spare (3 nodes, replication 3).
            hdfs["dfs.client.block.write.replace-datanode-on-failure.best-effort"] = "true"
        files = self.hadoop_conf_files(self.hadoop_conf, core, hdfs)
        if s.hdfs_datanodes > 1:
            for i in range(s.hdfs_datanodes):
                files |= self.hadoop_conf_files(self.datanode_conf(i), core, {**hdfs, **self.datanode_site(i)})
        return files

    @staticmethod
    def hadoop_conf_files(conf: Path, core: dict[str, object], hdfs: dict[str, object]) -> dict[Path, str]:
        return {
            conf / "core-site.xml": hadoop_site({k: str(v) for k, v in core.items()}),
            conf / "hdfs-site.xml": hadoop_site({k: str(v) for k, v in hdfs.items()}),
            conf / "log4j.properties": log4j1_console(("org.apache.hadoop.hdfs.StateChange", "BlockStateChange")),
            conf / "log4j2.properties": LOG4J2_CONSOLE.replace("{level}", "info"),
        }

    def hdfs_java(self, main: str, *args: str, heap: str = "512m", conf: Path | None = None) -> list[str]:
        return hadoop_java(self.s, main, *args, conf=conf or self.hadoop_conf, heap=heap, opts=["-Dproc_hdfs"])

    def namenode(self) -> Program:
        return Program("hdfs-namenode",
                       self.hdfs_java("org.apache.hadoop.hdfs.server.namenode.NameNode"),
                       files=self.hadoop_files(), priority=10,
                       ports=(self.s.hdfs_rpc_port, self.s.hdfs_http_port))

    def datanode_names(self) -> list[str]:
        return node_names("hdfs-datanode", self.s.hdfs_datanodes)

    def datanode_conf(self, index: int) -> Path:
        """Node ``index``'s configuration dir: the stack's, or with several DataNodes one of its own
        (its data dir and ports)."""
        return self.hadoop_conf if self.s.hdfs_datanodes == 1 else self.conf / self.datanode_names()[index]

    def datanode_site(self, index: int) -> dict[str, object]:
        h = self.s.bind_host
        data, http, ipc = self.s.datanode_node_ports()[index]
        return {"dfs.datanode.data.dir": self.state / self.datanode_names()[index] / "data",
                "dfs.datanode.address": f"{h}:{data}", "dfs.datanode.http.address": f"{h}:{http}",
                "dfs.datanode.ipc.address": f"{h}:{ipc}"}

    def datanode(self, index: int) -> Program:
        return Program(self.datanode_names()[index],
                       self.hdfs_java("org.apache.hadoop.hdfs.server.datanode.DataNode",
                                      conf=self.datanode_conf(index)),
                       files=self.hadoop_files(), priority=20, ports=self.s.datanode_node_ports()[index])

    def namenode_format_command(self) -> list[str]:
        return self.hdfs_java("org.apache.hadoop.hdfs.server.namenode.NameNode",
                              "-format", "-nonInteractive", heap="256m")

    # -- InfluxDB 1.x (Debian's influxd) ----------------------------------------------------
    def influxdb(self) -> Program:
        s = self.s
        conf = self.conf / "influxdb.conf"
        text = influxdb_conf(s.bind_host, s.influx_port, s.influx_port + 2, self.state / "influxdb", INFLUX_DATA)
        influxd = shutil.which("influxd") or "/usr/bin/influxd"
        return Program("influxdb", [influxd, "-config", str(conf)], files={conf: text},
                       priority=10, ports=(s.influx_port, s.influx_port + 2))

    # -- PostgreSQL (Debian's server): Airflow's metadata DB ------------------------------------
    @property
    def postgres(self) -> Postgres:
        return Postgres(self.s)

    def postgres_program(self) -> Program:
        # TERM is PostgreSQL's "smart" shutdown, which waits for every client to leave; INT ("fast")
        # rolls their transactions back and stops cleanly.
        return Program("postgres", self.postgres.command(), priority=5, startsecs=3,
                       user=server_user(), stopsignal="INT", ports=(self.s.postgres_port,))

    # -- Airflow 3: separate supervised processes --------------------------------------------
    def airflow_env(self) -> dict[str, str]:
        s = self.s
        home = s.airflow_home
        return {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),  # the project has no Airflow plugin
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": s.airflow_executor,
            # 2 cores: a handful of workers, not the default 32 (~5 GiB RSS).
            "AIRFLOW__CORE__PARALLELISM": "6",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(s.airflow_task_heartbeat_timeout),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{s.airflow_user}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(AIRFLOW_PASSWORDS),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{s.airflow_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.sql_alchemy_conn(),
            "PGPASSFILE": str(PGPASS),  # the metadata DB's password: libpq and asyncpg read it here
            "AIRFLOW__API__HOST": s.bind_host,
            "AIRFLOW__API__PORT": str(s.airflow_port),
            "AIRFLOW__API__BASE_URL": s.airflow_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "20",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "PATH": os.pathsep.join([str(venv_bin()), str(java_home() / "bin"),
                                     os.environ.get("PATH", "/usr/bin:/bin")]),
            "JAVA_HOME": str(java_home()),
            # SparkSubmitOperator runs the venv's spark-submit: the pyspark wheel is SPARK_HOME.
            "SPARK_HOME": str(spark_home()),
            "PYSPARK_PYTHON": sys.executable,
            **driver_env(s),
            **s.as_env(),
            **self.celery_env(),
        }

    def celery_env(self) -> dict[str, str]:
        if not self.s.celery_workers:
            return {}
        # The broker URL (with the password) from its 0600 file; results in the metadata DB (the
        # provider's default, db+ the SQLAlchemy URL, password from PGPASSFILE).
        return {"AIRFLOW__CELERY__BROKER_URL_CMD": f"cat {BROKER_URL_FILE}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "3",
                "AIRFLOW__CELERY__WORKER_ENABLE_REMOTE_CONTROL": "True"}

    def airflow(self, component: str, *args: str, name: str | None = None, stopwaitsecs: int = 60,
                ports: tuple[int, ...] = ()) -> Program:
        return Program(name or f"airflow-{component}", [str(venv_bin() / "airflow"), component, *args],
                       env=self.airflow_env(), priority=50, stopwaitsecs=stopwaitsecs, autostart=False,
                       ports=ports)

    # -- Celery (the cluster profile's executor): Redis as broker, N workers -------------------
    @property
    def redis(self) -> Redis:
        return Redis(self.s)

    def redis_program(self) -> Program:
        return Program("redis", self.redis.command(), files={self.redis.conf: self.redis.conf_text()},
                       priority=5, startsecs=3, ports=(self.s.redis_port,))

    def celery_worker_names(self) -> list[str]:
        return node_names("airflow-celery-worker", self.s.celery_workers, numbered=True)

    def celery_worker(self, index: int) -> Program:
        name = self.celery_worker_names()[index]
        # Worker 1 alone serves the Flume queue: the agent's file channel and turn lock are on its disk.
        queues = "default," + self.s.flume_queue if index == 0 else "default"
        # No log server (it would bind every interface): on one machine the api-server reads task
        # logs from the shared log folder.
        return self.airflow("celery", "worker", "--queues", queues, "--celery-hostname",
                            celery_hostname(name), "--skip-serve-logs", name=name)

    # -- Spark standalone (the profile's master and workers, from the pyspark wheel) ------------
    def spark_env(self) -> dict[str, str]:
        # SPARK_LOCAL_IP: every listener of the master, workers and executors (web UIs included,
        # which would otherwise bind every interface) on the bind host.
        return {"SPARK_HOME": str(spark_home()), "JAVA_HOME": str(java_home()),
                "SPARK_LOCAL_IP": self.s.bind_host, "SPARK_LOG_DIR": str(self.s.logs_dir),
                "PYSPARK_PYTHON": sys.executable, "SPARK_NO_DAEMONIZE": "1"}

    def spark_master(self) -> Program:
        s = self.s
        return Program("spark-master",
                       [str(spark_home() / "bin" / "spark-class"), "org.apache.spark.deploy.master.Master",
                        "--host", s.bind_host, "--port", str(s.spark_master_port),
                        "--webui-port", str(s.spark_master_ui_port)],
                       # No REST submission server: it would take jobs from anyone on the host.
                       env={**self.spark_env(), "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false"},
                       priority=30, ports=(s.spark_master_port, s.spark_master_ui_port))

    def spark_worker(self, index: int) -> Program:
        s = self.s
        port, ui = s.spark_worker_node_ports()[index]
        name = node_names("spark-worker", s.spark_workers, numbered=True)[index]
        # One core each: two workers are two executors, the job's parallelism on 2 cores; the memory
        # is what one executor asks for (spark.executor.memory).
        return Program(name,
                       [str(spark_home() / "bin" / "spark-class"), "org.apache.spark.deploy.worker.Worker",
                        "--host", s.bind_host, "--port", str(port), "--webui-port", str(ui),
                        "--cores", "1", "--memory", s.spark_executor_memory,
                        "--work-dir", str(self.state / name), f"spark://{s.bind_host}:{s.spark_master_port}"],
                       env=self.spark_env(), priority=40, ports=(port, ui))

    # -- generator ------------------------------------------------------------------------
    def generator(self) -> Program:
        s = self.s
        return Program(
            "generator",
            [str(venv_bin() / "gunicorn"), "--bind", f"{s.bind_host}:{s.generator_port}",
             "--workers", "1", "--threads", "16", "--timeout", "0",
             "generator.app:create_app()"],
            env=s.as_env(),
            priority=60, ports=(s.generator_port,),
        )

    def programs(self) -> list[Program]:
        s = self.s
        spark = [self.spark_master(), *map(self.spark_worker, range(s.spark_workers))] if s.spark_workers else []
        celery = [self.redis_program()] if s.celery_workers else []
        return [
            self.postgres_program(), *celery, *map(self.kafka, range(s.kafka_brokers)), self.namenode(),
            *map(self.datanode, range(s.hdfs_datanodes)), self.influxdb(), *spark,
            # Airflow's log servers bind every interface; with one machine the api-server reads
            # task logs from the shared log folder, so they are not started at all.
            self.airflow("api-server", ports=(s.airflow_port,)), self.airflow("scheduler", "--skip-serve-logs"),
            self.airflow("dag-processor"),
            # The triggerer holds no work of its own (deferred tasks' triggers are in the metadata DB and
            # resume at its next start), and at times lets a SIGTERM wait out the whole stop timeout.
            self.airflow("triggerer", "--skip-serve-logs", stopwaitsecs=15),
            *map(self.celery_worker, range(s.celery_workers)),
            self.generator(),
        ]

    # -- supervisord ----------------------------------------------------------------------
    @property
    def supervisor_conf(self) -> Path:
        return self.conf / "supervisord.conf"

    @property
    def supervisor_url(self) -> str:
        return f"unix://{self.state / 'supervisor.sock'}"

    def supervisor_text(self, programs: list[Program]) -> str:
        s = self.s
        out = [
            "[supervisord]",
            f"logfile={s.logs_dir / 'supervisord.log'}",
            f"pidfile={self.state / 'supervisord.pid'}",
            f"directory={self.state}",
            "childlogdir=" + str(s.logs_dir),
            "",
            "[unix_http_server]",
            f"file={self.state / 'supervisor.sock'}",
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl={self.supervisor_url}",
            "",
        ]
        for p in programs:
            env = ",".join(f'{k}="{v}"' for k, v in p.env.items())
            out += [
                f"[program:{p.name}]",
                "command=" + " ".join(_quote(a) for a in p.command),
                f"directory={self.state}",
                f"priority={p.priority}",
                f"autostart={str(p.autostart).lower()}",
                "autorestart=unexpected",
                f"startsecs={p.startsecs}",
                "startretries=2",
                # Process-group stop: Airflow's task workers and their children go too.
                "stopasgroup=true",
                "killasgroup=true",
                f"stopwaitsecs={p.stopwaitsecs}",
                f"stopsignal={p.stopsignal}",
                "redirect_stderr=true",
                f"stdout_logfile={s.logs_dir / (p.name + '.log')}",
                "stdout_logfile_maxbytes=50MB",
                "stdout_logfile_backups=2",
            ]
            if env:
                out.append(f"environment={env}")
            if p.user:
                out.append(f"user={p.user}")
            out.append("")
        return "\n".join(out)

    def render(self) -> list[Program]:
        programs = self.programs()
        files: dict[Path, str] = {}
        for p in programs:
            files.update(p.files)
        files[self.supervisor_conf] = self.supervisor_text(programs)
        for path, text in files.items():
            if not path.exists() or path.read_text() != text or path.stat().st_mode & 0o077:
                write_private(path, text)
        self.s.logs_dir.mkdir(parents=True, exist_ok=True)
        return programs


def _quote(arg: str) -> str:
    # supervisord splits command= with shlex; % must be doubled for its expansion.
    arg = arg.replace("%", "%%")
    return f'"{arg}"' if any(c in arg for c in " *") else arg

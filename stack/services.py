"""What the embedded stack runs: one supervisord program per service, with its config files.

Everything is rendered from the config layer (carpipe.config) into the state dir, so ports and
paths follow CARPIPE_* overrides. Classpaths come from the jars stack/install.sh resolved.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from carpipe.config import REPO_ROOT, SECRET_FIELDS, SECRETS_DIR, Settings, env_name
from carpipe.jvm import LOG4J2_CONSOLE, hadoop_java, java, java_home, log4j1_console
from stack.postgres import PGPASS, Postgres, server_user

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


class Stack:
    def __init__(self, settings: Settings):
        self.s = settings
        self.state = settings.state_dir
        self.conf = self.state / "conf"

    # -- Kafka (KRaft combined mode) --------------------------------------------------------
    @property
    def kafka_props(self) -> Path:
        return self.conf / "kafka" / "server.properties"

    @property
    def kafka_data(self) -> Path:
        return self.state / "kafka" / "data"

    def kafka(self) -> Program:
        s = self.s
        props = {
            "process.roles": "broker,controller",
            "node.id": 1,
            "controller.quorum.voters": f"1@{s.bind_host}:{s.kafka_controller_port}",
            "listeners": f"PLAINTEXT://{s.bind_host}:{s.kafka_port},"
                         f"CONTROLLER://{s.bind_host}:{s.kafka_controller_port}",
            "advertised.listeners": f"PLAINTEXT://{s.bind_host}:{s.kafka_port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": self.kafka_data,
            "num.partitions": s.topic_partitions,
            "offsets.topic.replication.factor": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "min.insync.replicas": 1,
            "default.replication.factor": 1,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "false",
            "log.retention.hours": 168,
        }
        log4j = self.conf / "kafka" / "log4j2.properties"
        return Program(
            "kafka",
            java(self.s, "kafka", "kafka.Kafka", str(self.kafka_props), heap="768m",
                      opts=[f"-Dlog4j2.configurationFile={log4j}",
                            f"-Dkafka.logs.dir={s.logs_dir}"]),
            files={self.kafka_props: properties(props),
                   log4j: LOG4J2_CONSOLE.replace("{level}", "info")
                   + "logger.kafka.name = kafka\nlogger.kafka.level = warn\n"
                     "logger.state.name = state.change.logger\nlogger.state.level = warn\n"},
            priority=10,
        )

    def kafka_format_command(self) -> list[str]:
        return java(self.s, "kafka", "kafka.tools.StorageTool", "format", "--ignore-formatted",
                         "-t", "carpipe-embedded-kraft", "-c", str(self.kafka_props), heap="256m")

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
            "dfs.replication": 1,
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
            # A single DataNode: never try to replace it in a write pipeline.
            "dfs.client.block.write.replace-datanode-on-failure.enable": "false",
            "dfs.namenode.heartbeat.recheck-interval": 15000,
        }
        return {
            self.hadoop_conf / "core-site.xml": hadoop_site({k: str(v) for k, v in core.items()}),
            self.hadoop_conf / "hdfs-site.xml": hadoop_site({k: str(v) for k, v in hdfs.items()}),
            self.hadoop_conf / "log4j.properties": log4j1_console(
                ("org.apache.hadoop.hdfs.StateChange", "BlockStateChange")),
            self.hadoop_conf / "log4j2.properties": LOG4J2_CONSOLE.replace("{level}", "info"),
        }

    def hdfs_java(self, main: str, *args: str, heap: str = "512m") -> list[str]:
        return hadoop_java(self.s, main, *args, conf=self.hadoop_conf, heap=heap, opts=["-Dproc_hdfs"])

    def namenode(self) -> Program:
        return Program("hdfs-namenode",
                       self.hdfs_java("org.apache.hadoop.hdfs.server.namenode.NameNode"),
                       files=self.hadoop_files(), priority=10)

    def datanode(self) -> Program:
        return Program("hdfs-datanode",
                       self.hdfs_java("org.apache.hadoop.hdfs.server.datanode.DataNode"),
                       files=self.hadoop_files(), priority=20)

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
                       priority=10)

    # -- PostgreSQL (Debian's server): Airflow's metadata DB ------------------------------------
    @property
    def postgres(self) -> Postgres:
        return Postgres(self.s)

    def postgres_program(self) -> Program:
        # TERM is PostgreSQL's "smart" shutdown, which waits for every client to leave; INT ("fast")
        # rolls their transactions back and stops cleanly.
        return Program("postgres", self.postgres.command(), priority=5, startsecs=3,
                       user=server_user(), stopsignal="INT")

    # -- Airflow 3: separate supervised processes --------------------------------------------
    def airflow_env(self) -> dict[str, str]:
        s = self.s
        home = s.airflow_home
        return {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),  # the project has no Airflow plugin
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # 2 cores: a handful of workers, not the default 32 (~5 GiB RSS).
            "AIRFLOW__CORE__PARALLELISM": "6",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
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
            "SPARK_HOME": str(Path(importlib.util.find_spec("pyspark").origin).parent),
            "PYSPARK_PYTHON": sys.executable,
            **s.as_env(),
        }

    def airflow(self, component: str, *args: str) -> Program:
        return Program(f"airflow-{component}", [str(venv_bin() / "airflow"), component, *args],
                       env=self.airflow_env(), priority=50, stopwaitsecs=60, autostart=False)

    # -- generator ------------------------------------------------------------------------
    def generator(self) -> Program:
        s = self.s
        return Program(
            "generator",
            [str(venv_bin() / "gunicorn"), "--bind", f"{s.bind_host}:{s.generator_port}",
             "--workers", "1", "--threads", "16", "--timeout", "0",
             "generator.app:create_app()"],
            env=s.as_env(),
            priority=60,
        )

    def programs(self) -> list[Program]:
        return [
            self.postgres_program(), self.kafka(), self.namenode(), self.datanode(), self.influxdb(),
            # Airflow's log servers bind every interface; with one machine the api-server reads
            # task logs from the shared log folder, so they are not started at all.
            self.airflow("api-server"), self.airflow("scheduler", "--skip-serve-logs"),
            self.airflow("dag-processor"), self.airflow("triggerer", "--skip-serve-logs"),
            self.generator(),
        ]

    # -- supervisord ----------------------------------------------------------------------
    @property
    def supervisor_conf(self) -> Path:
        return self.conf / "supervisord.conf"

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
            f"serverurl=unix://{self.state / 'supervisor.sock'}",
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

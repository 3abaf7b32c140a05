"""Health of each embedded service, judged by a real request in its own protocol."""

from __future__ import annotations

from typing import Callable

import requests

from carpipe.config import Settings
from carpipe.influx import client_from_settings
from stack.postgres import DB_NAME, DB_USER, PGPASS, Postgres


def _kafka(s: Settings) -> str:
    from confluent_kafka.admin import AdminClient

    # log_level 0: while the broker starts, librdkafka would log every refused connection; the
    # probe's own exception already says what is wrong.
    md = AdminClient({"bootstrap.servers": s.kafka_bootstrap, "log_level": 0}).list_topics(timeout=3)
    return f"{len(md.brokers)} broker(s), {len(md.topics)} topic(s)"


def _namenode(s: Settings) -> str:
    r = requests.get(f"{s.webhdfs_url}/webhdfs/v1/?op=GETFILESTATUS", timeout=3)
    r.raise_for_status()
    safemode = _nn_jmx(s, "Hadoop:service=NameNode,name=NameNodeInfo")["Safemode"]
    if safemode:
        raise RuntimeError(f"in safe mode: {safemode}")
    return "WebHDFS answers, out of safe mode"


def _nn_jmx(s: Settings, bean: str) -> dict:
    r = requests.get(f"{s.webhdfs_url}/jmx", params={"qry": bean}, timeout=3)
    r.raise_for_status()
    return r.json()["beans"][0]


def _datanode(s: Settings) -> str:
    live = _nn_jmx(s, "Hadoop:service=NameNode,name=FSNamesystemState")["NumLiveDataNodes"]
    if live < 1:
        raise RuntimeError("no live DataNode registered with the NameNode")
    return f"{live} live DataNode(s)"


def _influx_ping(s: Settings) -> str:
    r = requests.get(f"{s.influx_url}/ping", timeout=3)
    r.raise_for_status()
    return f"version {r.headers.get('X-Influxdb-Version', '?')}"


def _influx(s: Settings) -> str:
    version = _influx_ping(s)
    client_from_settings(s, retries=0).query("SHOW DATABASES", database=None)
    return f"{version}, {s.influx_user!r} logs in"


def _postgres(s: Settings) -> str:
    import psycopg2

    con = psycopg2.connect(host=s.bind_host, port=s.postgres_port, user=DB_USER, dbname=DB_NAME,
                           passfile=str(PGPASS), connect_timeout=3)
    try:
        with con.cursor() as cur:
            cur.execute("SHOW server_version")
            return f"PostgreSQL {cur.fetchone()[0]}, {DB_USER!r} logs in"
    finally:
        con.close()


def _airflow_component(component: str) -> Callable[[Settings], str]:
    def check(s: Settings) -> str:
        r = requests.get(f"{s.airflow_url}/api/v2/monitor/health", timeout=5)
        r.raise_for_status()
        body = r.json()
        if body["metadatabase"]["status"] != "healthy":
            raise RuntimeError("metadatabase unhealthy")
        if component == "api_server":
            return "REST API and metadata DB answer"
        state = body.get(component) or {}
        if state.get("status") != "healthy":
            raise RuntimeError(f"{component} heartbeat: {state}")
        return f"heartbeat {state.get('latest_' + component + '_heartbeat', '')[:19]}"
    return check


def _generator(s: Settings) -> str:
    r = requests.get(f"{s.generator_url}/healthz", timeout=5)
    if r.status_code != 200:
        raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
    return "healthz ok"


CHECKS: dict[str, Callable[[Settings], str]] = {
    "postgres": _postgres,
    "kafka": _kafka,
    "hdfs-namenode": _namenode,
    "hdfs-datanode": _datanode,
    "influxdb": _influx,
    "airflow-api-server": _airflow_component("api_server"),
    "airflow-scheduler": _airflow_component("scheduler"),
    "airflow-dag-processor": _airflow_component("dag_processor"),
    "airflow-triggerer": _airflow_component("triggerer"),
    "generator": _generator,
}


# Servers answering before their first login exists (stack.ctl bootstraps it then).
REACHABLE: dict[str, Callable[[Settings], str]] = {
    "postgres": lambda s: Postgres(s).ready(),
    "influxdb": _influx_ping,
}


def _run(probe: Callable[[Settings], str], s: Settings) -> tuple[bool, str]:
    try:
        return True, probe(s)
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy", with its reason
        return False, f"{type(exc).__name__}: {str(exc)[:160]}"


def check(name: str, s: Settings) -> tuple[bool, str]:
    return _run(CHECKS[name], s)


def reachable(name: str, s: Settings) -> tuple[bool, str]:
    return _run(REACHABLE[name], s)

"""Health of each embedded service, judged by a real request in its own protocol."""

from __future__ import annotations

import json
from typing import Callable

import requests

from carpipe.config import Settings
from carpipe.influx import client_from_settings
from carpipe.kafka_clients import librdkafka
from stack.postgres import DB_NAME, DB_USER, PGPASS, Postgres


def _kafka_node(index: int) -> Callable[[Settings], str]:
    def check(s: Settings) -> str:
        from confluent_kafka.admin import AdminClient

        # Only this node as bootstrap: it answers itself. log_level 0: while the broker starts,
        # librdkafka would log every refused connection; the probe's own exception says what is wrong.
        port = s.kafka_node_ports()[index][0]
        md = AdminClient({**librdkafka(s), "bootstrap.servers": f"{s.bind_host}:{port}",
                          "log_level": 0}).list_topics(timeout=3)
        if len(md.brokers) < s.kafka_brokers:
            raise RuntimeError(f"{len(md.brokers)} of {s.kafka_brokers} brokers registered")
        return f"node {index + 1}: {len(md.brokers)} broker(s), {len(md.topics)} topic(s)"
    return check


def _namenode(s: Settings) -> str:
    r = requests.get(f"{s.webhdfs_url}/webhdfs/v1/?op=GETFILESTATUS", timeout=3)
    r.raise_for_status()
    safemode = _nn_jmx(s, "Hadoop:service=NameNode,name=NameNodeInfo")["Safemode"]
    if safemode:
        raise RuntimeError(f"in safe mode: {safemode}")
    return "WebHDFS answers, out of safe mode"


def _get_json(url: str, **params: str):
    r = requests.get(url, params=params, timeout=3)
    r.raise_for_status()
    return r.json()


def _nn_jmx(s: Settings, bean: str) -> dict:
    return _get_json(f"{s.webhdfs_url}/jmx", qry=bean)["beans"][0]


def _datanode(index: int) -> Callable[[Settings], str]:
    def check(s: Settings) -> str:
        live = json.loads(_nn_jmx(s, "Hadoop:service=NameNode,name=NameNodeInfo")["LiveNodes"])
        address = f"{s.bind_host}:{s.datanode_node_ports()[index][0]}"
        if address not in {node.get("xferaddr") for node in live.values()}:
            raise RuntimeError(f"DataNode {address} not live at the NameNode ({len(live)} live)")
        return f"{address} live, {len(live)} live DataNode(s)"
    return check


def spark_master_state(s: Settings) -> dict:
    """The standalone master's state: its workers and applications (its web UI's JSON)."""
    return _get_json(f"http://{s.bind_host}:{s.spark_master_ui_port}/json/")


def _spark_master(s: Settings) -> str:
    state = spark_master_state(s)
    if state.get("status") != "ALIVE":
        raise RuntimeError(f"master status {state.get('status')}")
    alive = [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]
    return f"{state['url']}, {len(alive)} worker(s) alive"


def _spark_worker(index: int) -> Callable[[Settings], str]:
    def check(s: Settings) -> str:
        port = s.spark_worker_node_ports()[index][0]
        worker = [w for w in spark_master_state(s).get("workers", [])
                  if w.get("port") == port and w.get("state") == "ALIVE"]
        if not worker:
            raise RuntimeError(f"no ALIVE worker on port {port} registered with the master")
        return f"registered, {worker[0]['cores']} core(s), {worker[0]['memory']} MB"
    return check


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


def _redis(s: Settings) -> str:
    import redis

    client = redis.Redis(host=s.bind_host, port=s.redis_port, password=s.redis_password, socket_timeout=3)
    client.ping()
    return f"Redis {client.info('server')['redis_version']}, logs in"


def _celery_worker(index: int) -> Callable[[Settings], str]:
    def check(s: Settings) -> str:
        from celery import Celery

        from stack.broker import BROKER_URL_FILE
        from stack.services import Stack, celery_hostname

        node = celery_hostname(Stack(s).celery_worker_names()[index])
        app = Celery(broker=BROKER_URL_FILE.read_text())
        try:
            replies = app.control.ping(destination=[node], timeout=2)
        finally:
            app.close()
        if not replies:
            raise RuntimeError(f"{node} does not answer a Celery ping")
        return f"{node} answers"
    return check


def _generator(s: Settings) -> str:
    r = requests.get(f"{s.generator_url}/healthz", timeout=5)
    if r.status_code != 200:
        raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
    return "healthz ok"


CHECKS: dict[str, Callable[[Settings], str]] = {
    "postgres": _postgres,
    "hdfs-namenode": _namenode,
    "influxdb": _influx,
    "spark-master": _spark_master,
    "redis": _redis,
    "airflow-api-server": _airflow_component("api_server"),
    "airflow-scheduler": _airflow_component("scheduler"),
    "airflow-dag-processor": _airflow_component("dag_processor"),
    "airflow-triggerer": _airflow_component("triggerer"),
    "generator": _generator,
}
# The engines of several nodes: ``name`` alone (one node) or ``name-1`` ... ``name-N``.
NODE_CHECKS: dict[str, Callable[[int], Callable[[Settings], str]]] = {
    "kafka": _kafka_node, "hdfs-datanode": _datanode, "spark-worker": _spark_worker,
    "airflow-celery-worker": _celery_worker,
}


def probe_for(name: str) -> Callable[[Settings], str]:
    if name in CHECKS:
        return CHECKS[name]
    base, _, number = name.rpartition("-")
    if base in NODE_CHECKS and number.isdigit():
        return NODE_CHECKS[base](int(number) - 1)
    return NODE_CHECKS[name](0)


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
    return _run(probe_for(name), s)


def reachable(name: str, s: Settings) -> tuple[bool, str]:
    return _run(REACHABLE[name], s)

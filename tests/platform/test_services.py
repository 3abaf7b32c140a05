"""The embedded platform is real: each service is exercised through its own protocol."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from carpipe.influx import client_from_settings
from carpipe.spark import connector_jars, submit_command, submit_env

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent


def produce(settings, topic: str, values: list[str]) -> None:
    from confluent_kafka import Producer

    acked: list[str] = []
    p = Producer({"bootstrap.servers": settings.kafka_bootstrap, "acks": "all"})
    for v in values:
        p.produce(topic, v.encode(), on_delivery=lambda err, msg: acked.append(msg.value().decode())
                  if err is None else None)
    assert p.flush(30) == 0
    assert sorted(acked) == sorted(values)


def new_topic(settings, name: str) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    admin.create_topics([NewTopic(name, 1, settings.topic_replication_factor)])[name].result(30)
    return name


def consume_all(settings, topic: str, expected: int, timeout: float = 30) -> list[str]:
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"probe-{uuid.uuid4()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        m = c.poll(1)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
    c.close()
    return got


def webhdfs(settings, op: str, path: str, method: str = "GET", data: bytes | None = None, **params):
    params = {"op": op, "user.name": "root", **params}
    url = f"{settings.webhdfs_url}/webhdfs/v1{path}"
    r = requests.request(method, url, params=params, allow_redirects=False, timeout=30)
    if r.status_code == 307:  # the NameNode redirects data operations to a DataNode
        r = requests.request(method, r.headers["Location"], data=data, timeout=30)
    r.raise_for_status()
    return r


def test_kafka_produce_then_consume(stack_up):
    topic = new_topic(stack_up, f"platform-probe-{uuid.uuid4().hex[:8]}")
    values = [f"record-{i}" for i in range(5)]
    produce(stack_up, topic, values)
    assert sorted(consume_all(stack_up, topic, len(values))) == values


def test_webhdfs_write_and_read_back(stack_up):
    path = f"/tmp/platform-probe/{uuid.uuid4().hex}.txt"
    webhdfs(stack_up, "CREATE", path, method="PUT", data=b"hello hdfs\n", overwrite="true")
    assert webhdfs(stack_up, "OPEN", path).content == b"hello hdfs\n"
    status = webhdfs(stack_up, "GETFILESTATUS", path).json()["FileStatus"]
    assert status["length"] == len(b"hello hdfs\n")


def test_influx_write_and_count_back(stack_up):
    influx = client_from_settings(stack_up)
    influx.create_database()
    run = uuid.uuid4().hex[:8]
    base_ns = time.time_ns() - 3600 * 10**9  # inside the retention policy
    lines = [f"platform_probe,run={run} value={i}i {base_ns + i}" for i in range(250)]
    assert influx.write(lines, batch_size=100) == 250
    rows = influx.rows(f"SELECT count(value), sum(value) FROM platform_probe WHERE run = '{run}'")
    assert (rows[0]["count"], rows[0]["sum"]) == (250, sum(range(250)))


def test_influx_refuses_writes_and_queries_without_its_login(stack_up):
    """Auth is on: a write with no or a wrong login gets 401 and stores nothing; the stack's login works."""
    influx = client_from_settings(stack_up)
    run = uuid.uuid4().hex[:8]
    line = f"platform_auth,run={run} value=1i {time.time_ns() - 3600 * 10**9}"
    write = f"{stack_up.influx_url}/write"
    for auth in (None, (stack_up.influx_user, "not-the-password"), ("nobody", stack_up.influx_password)):
        r = requests.post(write, params={"db": stack_up.influx_db}, data=line, auth=auth, timeout=10)
        assert r.status_code == 401, (auth and auth[0], r.status_code, r.text)
    r = requests.get(f"{stack_up.influx_url}/query", params={"q": "SHOW DATABASES"}, timeout=10)
    assert r.status_code == 401, r.text
    assert influx.rows(f"SELECT count(value) FROM platform_auth WHERE run = '{run}'") == []
    assert influx.write([line]) == 1
    assert influx.rows(f"SELECT count(value) FROM platform_auth WHERE run = '{run}'")[0]["count"] == 1


def test_spark_submit_reads_kafka_and_hdfs_with_connector_jars(stack_up):
    topic = new_topic(stack_up, f"platform-spark-{uuid.uuid4().hex[:8]}")
    produce(stack_up, topic, ["a", "b", "c"])
    path = f"/tmp/platform-probe/{uuid.uuid4().hex}.txt"
    webhdfs(stack_up, "CREATE", path, method="PUT", data=b"x\ny\n", overwrite="true")
    cmd = submit_command(stack_up, str(HERE / "spark_probe.py"), stack_up.kafka_bootstrap, topic,
                         f"{stack_up.hdfs_url}{path}")
    # The connector comes from the jars the install resolved (no --packages download at submit time).
    jars = cmd[cmd.index("--jars") + 1].split(",")
    assert jars == connector_jars(stack_up) and all(Path(j).is_file() for j in jars), jars
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=submit_env(stack_up))
    assert out.returncode == 0, out.stderr[-3000:]
    probe = json.loads(next(l for l in out.stdout.splitlines() if l.startswith("PROBE "))[6:])
    # The driver listens at this host's address (SPARK_LOCAL_IP, carpipe.spark.driver_env), nowhere else.
    assert probe == {"kafka_values": ["a", "b", "c"], "hdfs_lines": ["x", "y"],
                     "driver": [stack_up.spark_driver_host] * 2}


def airflow_token(settings) -> str:
    from stack.services import AIRFLOW_PASSWORDS

    password = json.loads(AIRFLOW_PASSWORDS.read_text())[settings.airflow_user]
    r = requests.post(f"{settings.airflow_url}/auth/token",
                      json={"username": settings.airflow_user, "password": password}, timeout=30)
    r.raise_for_status()
    return r.json()["access_token"]


def test_airflow_health_and_dag_list_through_rest_api(stack_up):
    health = requests.get(f"{stack_up.airflow_url}/api/v2/monitor/health", timeout=30).json()
    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[component]["status"] == "healthy", health
    headers = {"Authorization": f"Bearer {airflow_token(stack_up)}"}
    r = requests.get(f"{stack_up.airflow_url}/api/v2/dags", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    dag_ids = {d["dag_id"] for d in r.json()["dags"]}
    assert {"platform_setup", "car_transactions_burst", "car_transactions_to_influx",
            "reconcile_hdfs_influx"} <= dag_ids
    unauthenticated = requests.get(f"{stack_up.airflow_url}/api/v2/dags", timeout=30)
    assert unauthenticated.status_code in (401, 403)


def test_airflow_keeps_its_metadata_in_the_stacks_postgresql_behind_a_password(stack_up):
    """Airflow's metadata DB is the embedded PostgreSQL: reached on the bind host with the password from
    the 0600 password file (in no URL or environment), refused without it, socket for the server's user only."""
    import psycopg2

    from stack.postgres import DB_NAME, DB_USER, PGPASS, Postgres
    from stack.services import Stack
    from tests.dags.airflow_api import airflow_cli

    url = airflow_cli("config", "get-value", "database", "sql_alchemy_conn").strip()
    assert url == f"postgresql+psycopg2://{DB_USER}@{stack_up.bind_host}:{stack_up.postgres_port}/{DB_NAME}"
    password = PGPASS.read_text().strip().rsplit(":", 1)[1]
    assert oct(PGPASS.stat().st_mode & 0o777) == "0o600" and len(password) >= 32
    assert all(password not in v for v in Stack(stack_up).airflow_env().values())
    connect = dict(host=stack_up.bind_host, port=stack_up.postgres_port, user=DB_USER, dbname=DB_NAME,
                   connect_timeout=5)
    with pytest.raises(psycopg2.OperationalError, match="password"):
        psycopg2.connect(**connect, passfile="/dev/null", password="not-the-password")
    con = psycopg2.connect(**connect, passfile=str(PGPASS))
    try:
        with con.cursor() as cur:
            cur.execute("SELECT dag_id FROM dag")
            assert {"platform_setup", "car_transactions_burst"} <= {r[0] for r in cur.fetchall()}
    finally:
        con.close()
    assert oct(Postgres(stack_up).run.stat().st_mode & 0o777) == "0o700"


def test_the_topic_gets_its_replication_and_configs_from_settings(stack_up):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, ConfigResource

    from carpipe.topic import ensure_topic

    s = stack_up.model_copy(update={"topic": f"platform-topic-{uuid.uuid4().hex[:8]}",
                                    "topic_retention_ms": 3_600_000})
    admin = AdminClient({"bootstrap.servers": s.kafka_bootstrap})
    try:
        assert ensure_topic(s) is True and ensure_topic(s) is False  # idempotent
        [configs] = [f.result(30) for f in admin.describe_configs([ConfigResource("topic", s.topic)]).values()]
        assert {k: configs[k].value for k in ("message.timestamp.type", "retention.ms", "min.insync.replicas")} == {
            "message.timestamp.type": "LogAppendTime", "retention.ms": "3600000",
            "min.insync.replicas": str(s.topic_min_insync_replicas)}
        md = admin.list_topics(s.topic, timeout=10).topics[s.topic]
        assert {len(p.replicas) for p in md.partitions.values()} == {s.topic_replication_factor}
        # More replicas than the stack has brokers: a clear refusal, not a silent smaller copy.
        wide = s.model_copy(update={"topic": s.topic + "-wide", "topic_replication_factor": s.kafka_brokers + 1})
        with pytest.raises(KafkaException, match="(?i)replication"):
            ensure_topic(wide)
    finally:
        admin.delete_topics([s.topic])[s.topic].result(30)


def test_every_stack_listener_is_on_the_bind_host(stack_up):
    """`ss -ltnp` in code: every TCP listener of supervisord's process tree (services, their JVMs,
    Airflow's workers) binds the bind host, none every interface."""
    import psutil

    from stack.services import Stack

    root = psutil.Process(int((Stack(stack_up).state / "supervisord.pid").read_text()))
    ours = {root.pid, *(p.pid for p in root.children(recursive=True))}
    listeners = {(c.laddr.ip, c.laddr.port, c.pid) for c in psutil.net_connections(kind="tcp")
                 if c.status == psutil.CONN_LISTEN and c.pid in ours}
    declared = {port for p in Stack(stack_up).programs() for port in p.ports}  # what `make up` checks is free
    assert declared <= {port for _, port, _ in listeners}, sorted(declared - {port for _, port, _ in listeners})
    allowed = {stack_up.bind_host, f"::ffff:{stack_up.bind_host}"}
    assert sorted((ip, port, psutil.Process(pid).name()) for ip, port, pid in listeners if ip not in allowed) == []

"""The two profiles of `make up` (hermetic): what the cluster profile renders, and that the embedded one
stays one node of each engine."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from carpipe.config import INSTALL_DIR, Settings
from stack import health
from stack.services import Stack


def props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def site(text: str) -> dict[str, str]:
    return {p.findtext("name"): p.findtext("value") for p in ET.fromstring(text).iter("property")}


@pytest.fixture
def cluster(tmp_path) -> Settings:
    return Settings(profile="cluster", state_dir=tmp_path)


def test_embedded_is_one_node_of_each_engine_in_local_spark(tmp_path):
    s = Settings(profile="embedded", state_dir=tmp_path)
    assert (s.profile, s.kafka_bootstrap, s.spark_master) == ("embedded", "127.0.0.1:9092", "local[2]")
    assert (s.topic_replication_factor, s.topic_min_insync_replicas, s.hdfs_replication) == (1, 1, 1)
    names = [p.name for p in Stack(s).programs()]
    assert [n for n in names if n.startswith(("kafka", "hdfs", "spark"))] == ["kafka", "hdfs-namenode", "hdfs-datanode"]
    assert site(Stack(s).hadoop_files()[tmp_path / "conf" / "hadoop" / "hdfs-site.xml"])[
        "dfs.client.block.write.replace-datanode-on-failure.enable"] == "false"


def test_cluster_profile_defaults_follow_from_its_nodes():
    s = Settings(profile="cluster")
    assert s.state_dir == INSTALL_DIR / "cluster"
    assert s.kafka_bootstrap == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert s.spark_master == "spark://127.0.0.1:7077"
    assert (s.topic_replication_factor, s.topic_min_insync_replicas, s.hdfs_replication) == (3, 2, 3)
    assert s.jars_dir == Settings().jars_dir == INSTALL_DIR / "jars"  # the jars are installed once for both
    # ... and the stack's processes, whose CARPIPE_STATE_DIR is the profile's, are told where
    assert s.as_env()["CARPIPE_JARS_DIR"] == str(INSTALL_DIR / "jars")
    # an explicit setting still wins over the profile
    assert Settings(profile="cluster", topic_min_insync_replicas=3).topic_min_insync_replicas == 3
    with pytest.raises(ValueError, match="min_insync"):
        Settings(profile="embedded", topic_min_insync_replicas=2)


def test_cluster_kafka_is_three_voters_replicating_everything(cluster):
    stack = Stack(cluster)
    brokers = [stack.kafka(i) for i in range(3)]
    assert [b.name for b in brokers] == ["kafka-1", "kafka-2", "kafka-3"]
    configs = [props(b.files[stack.kafka_props(b.name)]) for b in brokers]
    assert {c["controller.quorum.voters"] for c in configs} == {
        "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"}
    assert [c["node.id"] for c in configs] == ["1", "2", "3"]
    assert [c["advertised.listeners"] for c in configs] == [f"PLAINTEXT://127.0.0.1:{p}" for p in (9092, 9094, 9096)]
    assert len({c["log.dirs"] for c in configs}) == 3
    for c in configs:
        assert c["offsets.topic.replication.factor"] == c["default.replication.factor"] == "3"
        assert c["min.insync.replicas"] == c["transaction.state.log.min.isr"] == "2"


def test_cluster_hdfs_is_three_datanodes_of_their_own_replicating_three_times(cluster):
    stack = Stack(cluster)
    files = stack.hadoop_files()
    nodes = [site(files[stack.datanode_conf(i) / "hdfs-site.xml"]) for i in range(3)]
    assert len({n["dfs.datanode.data.dir"] for n in nodes}) == 3
    assert [n["dfs.datanode.address"] for n in nodes] == [f"127.0.0.1:{p}" for p in (9866, 9966, 10066)]
    clients = site(files[stack.hadoop_conf / "hdfs-site.xml"])  # what Flume's sink and lease recovery read
    assert clients["dfs.replication"] == "3"
    assert clients["dfs.client.block.write.replace-datanode-on-failure.best-effort"] == "true"
    for i in range(3):
        cmd = stack.datanode(i).command
        assert cmd[cmd.index("-cp") + 1].split(":")[0] == str(stack.datanode_conf(i))


def test_cluster_spark_is_a_standalone_master_and_two_one_core_workers_on_the_bind_host(cluster):
    stack = Stack(cluster)
    master, *workers = [p for p in stack.programs() if p.name.startswith("spark-")]
    assert master.command[1:] == ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                  "--port", "7077", "--webui-port", "8081"]
    assert "-Dspark.master.rest.enabled=false" in master.env["SPARK_MASTER_OPTS"]  # no unauthenticated submissions
    assert [w.name for w in workers] == ["spark-worker-1", "spark-worker-2"]
    for w in workers:
        assert w.command[-1] == "spark://127.0.0.1:7077"
        assert w.command[w.command.index("--cores") + 1] == "1"
        assert w.env["SPARK_LOCAL_IP"] == "127.0.0.1"  # the web UIs bind every interface otherwise


def test_no_two_listeners_of_a_profile_share_a_port(cluster, tmp_path):
    for s, count in ((cluster, 29), (Settings(profile="embedded", state_dir=tmp_path), 12)):
        ports = [port for p in Stack(s).programs() for port in p.ports]
        assert (len(ports), len(set(ports))) == (count, count), sorted(ports)


def test_make_up_names_each_port_another_process_holds(tmp_path):
    """Another checkout's stack on the same ports: `make up` says which port, whose, and who holds it,
    instead of starting services that crash-loop or answer as the other stack."""
    import os
    import socket

    from stack.ctl import taken_ports

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        programs = Stack(Settings(profile="embedded", state_dir=tmp_path, postgres_port=port)).programs()
        taken = [t for t in taken_ports("127.0.0.1", programs) if t.startswith(f"127.0.0.1:{port} ")]
        assert len(taken) == 1 and taken[0].startswith(f"127.0.0.1:{port} (postgres) by pid {os.getpid()}: "), taken
    assert not [t for t in taken_ports("127.0.0.1", programs) if t.startswith(f"127.0.0.1:{port} ")]


def test_every_program_of_both_profiles_has_a_health_probe(cluster, tmp_path):
    for s in (cluster, Settings(profile="embedded", state_dir=tmp_path)):
        for p in Stack(s).programs():
            assert callable(health.probe_for(p.name)), p.name


def test_cluster_airflow_is_celery_with_two_workers_and_one_serving_the_flume_queue(cluster):
    stack = Stack(cluster)
    workers = [p for p in stack.programs() if p.name.startswith("airflow-celery-worker")]
    assert [w.name for w in workers] == ["airflow-celery-worker-1", "airflow-celery-worker-2"]
    queues = [w.command[w.command.index("--queues") + 1].split(",") for w in workers]
    assert queues == [["default", cluster.flume_queue], ["default"]]
    assert all("--skip-serve-logs" in w.command for w in workers)  # a log server binds every interface
    env = workers[0].env
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL_CMD"].startswith("cat ")  # the URL's password stays in its file
    assert not any(cluster.redis_password and cluster.redis_password in v for v in env.values())
    redis = next(p for p in stack.programs() if p.name == "redis")
    conf = redis.files[stack.redis.conf]
    assert "bind 127.0.0.1\n" in conf and "protected-mode yes" in conf and "requirepass" not in conf


def test_redis_password_lives_in_the_acl_and_url_files_only(cluster):
    files = Stack(cluster).redis.secret_files("s3cr3t-_x")
    assert sorted(p.name for p in files) == ["celery_broker_url", "redis.acl"]
    assert all("s3cr3t-_x" in text for text in files.values())
    assert "s3cr3t-_x" not in Stack(cluster).redis.conf_text()


def test_make_down_stops_the_kafka_quorum_together_once_what_uses_it_has_stopped(cluster):
    """supervisord would stop the three voters one by one, the last one then waiting for a quorum that
    is gone; `make down` stops first what supervisord stops before them, in its order, then the three."""
    from stack.ctl import stopped_before

    programs = Stack(cluster).programs()
    first = stopped_before(programs, "kafka-1")
    assert first == ["generator", "airflow-celery-worker-2", "airflow-celery-worker-1", "airflow-triggerer",
                     "airflow-dag-processor", "airflow-scheduler", "airflow-api-server",
                     "spark-worker-2", "spark-worker-1", "spark-master",
                     "hdfs-datanode-3", "hdfs-datanode-2", "hdfs-datanode-1"]
    assert {p.priority for p in programs if p.name.startswith("kafka-")} == {10}  # equals, so stopped together

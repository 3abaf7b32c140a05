"""Client configuration toward real clusters (hermetic): Hadoop clients follow $HADOOP_CONF_DIR, the
embedded HDFS keeps its own configuration."""

from __future__ import annotations

from carpipe.config import Settings
from carpipe.jvm import hadoop_java
from stack.services import Stack


def classpath(cmd: list[str]) -> list[str]:
    return cmd[cmd.index("-cp") + 1].split(":")


def test_hadoop_clients_use_hadoop_conf_dir_when_set(tmp_path, monkeypatch):
    cluster = tmp_path / "cluster-conf"
    monkeypatch.setenv("HADOOP_CONF_DIR", str(cluster))
    s = Settings(state_dir=tmp_path / "state")
    assert s.hadoop_conf_dir == cluster
    assert classpath(hadoop_java(s, "Main"))[0] == str(cluster)
    # the embedded NameNode is still started on the stack's own files, never on the cluster's
    namenode = Stack(s).namenode()
    assert classpath(namenode.command)[0] == str(tmp_path / "state" / "conf" / "hadoop")
    assert all(str(cluster) not in str(p) for p in namenode.files)


def test_without_hadoop_conf_dir_clients_use_the_embedded_configuration(tmp_path, monkeypatch):
    monkeypatch.delenv("HADOOP_CONF_DIR", raising=False)
    s = Settings(state_dir=tmp_path)
    assert s.hadoop_conf_dir == Stack(s).hadoop_conf == tmp_path / "conf" / "hadoop"


def test_every_kafka_client_takes_its_security_from_the_one_connection(monkeypatch):
    """One kafka_default connection with SASL_SSL extras: the producer, the topic admin and offset
    probes (librdkafka), Flume's Kafka source and the Spark job's reader (Java) all carry it."""
    from airflow.sdk import BaseHook, Connection

    from carpipe.connections import airflow_connections, with_connections
    from carpipe.kafka_clients import java, librdkafka
    from carpipe.windows import UTC, Window
    from flume.agent_conf import SOURCE, agent_properties
    from generator.producer import producer_config
    from spark_apps.kafka_to_influx import application_args, parse_args

    from datetime import datetime

    cluster = Settings(kafka_bootstrap="b1.example:9094", kafka_security_protocol="SASL_SSL",
                       kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="pipeline",
                       kafka_sasl_password='pa"ss', kafka_ssl_ca_location="/etc/kafka/ca.pem")
    conns = airflow_connections(cluster)
    monkeypatch.setattr(BaseHook, "get_connection", lambda conn_id: Connection(conn_id=conn_id, **conns[conn_id]))
    s = with_connections(Settings())
    rd = {"bootstrap.servers": "b1.example:9094", "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
          "sasl.username": "pipeline", "sasl.password": 'pa"ss', "ssl.ca.location": "/etc/kafka/ca.pem"}
    assert librdkafka(s) == rd
    assert producer_config(s).items() >= rd.items()
    jv = java(s)
    assert jv == {"bootstrap.servers": "b1.example:9094", "security.protocol": "SASL_SSL",
                  "sasl.mechanism": "SCRAM-SHA-512",
                  "sasl.jaas.config": 'org.apache.kafka.common.security.scram.ScramLoginModule required '
                                      'username="pipeline" password="pa\\"ss";',
                  "ssl.truststore.type": "PEM", "ssl.truststore.location": "/etc/kafka/ca.pem"}
    props = agent_properties(s, "file")
    src = f"carpipe.sources.{SOURCE}"
    assert {k: props[f"{src}.kafka.consumer.{k}"] for k in jv if k != "bootstrap.servers"} == \
        {k: v for k, v in jv.items() if k != "bootstrap.servers"}
    # the Spark job: the non-secret part as arguments, the password from its own environment
    w = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 15, tzinfo=UTC))
    args = application_args(s, w)
    assert 'pa"ss' not in " ".join(args)
    monkeypatch.setenv("CARPIPE_KAFKA_SASL_PASSWORD", 'pa"ss')
    assert java(parse_args(args).kafka) == jv

"""The overrides file that changes the config layer for the DAGs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from carpipe.dag_settings import parse_overrides, settings_for


def test_an_empty_file_means_no_overrides():
    assert parse_overrides(None) == {} and parse_overrides("") == {}


def test_overrides_apply_on_top_of_the_config_layer():
    overrides = parse_overrides(json.dumps({"window_seconds": 60, "burst_seconds": 15, "topic": "scratch"}))
    s = settings_for(overrides)
    assert (s.window_seconds, s.burst_seconds, s.topic) == (60, 15, "scratch")
    assert s.influx_db == settings_for({}).influx_db


def test_expired_overrides_are_ignored():
    now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    raw = {"window_seconds": 60, "burst_seconds": 10, "expires_at": "2026-01-01T11:59:00Z"}
    assert parse_overrides(raw, now=now) == {}
    live = parse_overrides({**raw, "expires_at": (now + timedelta(minutes=5)).isoformat()}, now=now)
    assert live == {"window_seconds": 60, "burst_seconds": 10}


@pytest.mark.parametrize("raw, match", [
    ('{"window_secs": 60}', "unknown settings"),
    ('{"window_seconds": 70}', "window length"),
    ('{"window_seconds": 60, "burst_seconds": 90}', "burst_seconds"),
    ('[1, 2]', "JSON object"),
])
def test_bad_overrides_are_clear_errors(raw, match):
    with pytest.raises(ValueError, match=match):
        parse_overrides(raw)


def test_connections_carry_every_endpoint_and_credential_both_ways(monkeypatch):
    """What `make up` imports as connections is what tasks read back: for cluster endpoints too."""
    from airflow.sdk import BaseHook, Connection

    from carpipe.config import Settings
    from carpipe.connections import airflow_connections, with_connections

    cluster = Settings(kafka_bootstrap="k1.example:9093,k2.example:9093", influx_url="https://influx.example:8087",
                       influx_user="writer", influx_password="s3cret", webhdfs_url="http://nn.example:9871",
                       spark_master="spark://sm.example:7077")
    conns = airflow_connections(cluster)
    monkeypatch.setattr(BaseHook, "get_connection", lambda conn_id: Connection(conn_id=conn_id, **conns[conn_id]))
    got = with_connections(Settings())
    fields = ("kafka_bootstrap", "influx_url", "influx_user", "influx_password", "webhdfs_url",
              "spark_master")
    assert {f: getattr(got, f) for f in fields} == {f: getattr(cluster, f) for f in fields}


def test_the_spark_driver_listens_at_the_address_of_the_host_that_submits():
    """No connection or run hands a driver address from one host to another: spark-submit's conf leaves
    it to the submitting host's SPARK_LOCAL_IP, which the stack gives every Airflow process from that
    host's own spark_driver_host (the bind host by default)."""
    from carpipe.config import Settings
    from carpipe.connections import SPARK_CONN, airflow_connections
    from carpipe.spark import driver_env, spark_conf, submit_env
    from stack.services import Stack

    edge = Settings(bind_host="10.0.0.5")
    assert driver_env(edge) == {"SPARK_LOCAL_IP": "10.0.0.5", "SPARK_LOCAL_HOSTNAME": "10.0.0.5"}
    assert driver_env(Settings(bind_host="10.0.0.5", spark_driver_host="edge1.example")) == {
        "SPARK_LOCAL_IP": "edge1.example", "SPARK_LOCAL_HOSTNAME": "edge1.example"}
    assert not {k for k in spark_conf(edge) if k.startswith("spark.driver.") and "memory" not in k}
    assert "10.0.0.5" not in airflow_connections(edge)[SPARK_CONN]["extra"]
    for var in ("SPARK_LOCAL_IP", "SPARK_LOCAL_HOSTNAME"):
        assert Stack(edge).airflow_env()[var] == submit_env(edge)[var] == "10.0.0.5"


def test_the_spark_jobs_memory_and_parallelism_come_from_settings():
    """What a window needs is configuration (CARPIPE_SPARK_*, or the DAG overrides file), not code."""
    import pydantic

    from carpipe.config import Settings
    from carpipe.spark import spark_conf

    conf = spark_conf(Settings(spark_driver_memory="6g", spark_executor_memory="3g", spark_shuffle_partitions=8))
    assert (conf["spark.driver.memory"], conf["spark.executor.memory"], conf["spark.sql.shuffle.partitions"]) == (
        "6g", "3g", "8")
    assert "spark.sql.shuffle.partitions" not in spark_conf(Settings())  # the job then takes one per core
    with pytest.raises(pydantic.ValidationError):
        Settings(spark_driver_memory="lots")

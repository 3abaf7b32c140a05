"""A local SparkSession for the transform unit tests (one per test session: the JVM starts once) and
event fixtures built from the contract."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    from spark_apps.transforms import SPARK_CONF

    builder = (SparkSession.builder.master("local[1]").appName("carpipe-spark-unit")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "1")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1"))
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def rules():
    from spark_apps.event_rules import load_rules
    from spark_apps.kafka_to_influx import DEFAULT_SCHEMA

    return load_rules(DEFAULT_SCHEMA)


def tid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def event(n: int = 1, **changes) -> dict:
    """A valid event (transaction_id from ``n``); ``changes`` override fields, None removes one."""
    e = {"schema_version": 1, "event_time": "2026-01-01T12:00:01.234Z", "transaction_id": tid(n),
         "buyer_id": "00000000-0000-4000-8000-00000000b0b0", "buyer_name": "Ann Lee",
         "car_brand": "Toyota", "car_model": "Corolla", "year": 2020, "color": "red",
         "country": "Germany", "branch": "Berlin", "transaction_price": 25000.5}
    e.update(changes)
    return {k: v for k, v in e.items() if v is not None}


def line(n: int = 1, **changes) -> str:
    return json.dumps(event(n, **changes))

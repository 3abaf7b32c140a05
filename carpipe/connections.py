"""The Airflow connections the DAGs use, both ways: built from the config layer (``make up`` imports
them), and read back into Settings by tasks. Users moving to real clusters repoint a connection, not code.
"""

from __future__ import annotations

import json
from typing import Any

from carpipe.config import Settings
from carpipe.kafka_clients import librdkafka

KAFKA_CONN = "kafka_default"
SPARK_CONN = "spark_default"
WEBHDFS_CONN = "webhdfs_default"
INFLUX_CONN = "influxdb_default"
CONNECTIONS = (KAFKA_CONN, SPARK_CONN, WEBHDFS_CONN, INFLUX_CONN)


# The kafka_default connection's extras (librdkafka properties, as the Airflow Kafka provider reads
# them) that tasks take over, and the setting each becomes.
KAFKA_EXTRAS = {"bootstrap.servers": "kafka_bootstrap", "security.protocol": "kafka_security_protocol",
                "sasl.mechanism": "kafka_sasl_mechanism", "sasl.username": "kafka_sasl_username",
                "sasl.password": "kafka_sasl_password", "ssl.ca.location": "kafka_ssl_ca_location"}


def airflow_connections(s: Settings) -> dict[str, dict]:
    """The connections DAGs use, built from the config layer (users repoint these at clusters)."""
    webhdfs = s.webhdfs_url.split("://", 1)[-1]
    influx_scheme, influx_rest = s.influx_url.split("://", 1)
    influx_host, _, influx_port = influx_rest.partition(":")
    return {
        KAFKA_CONN: {"conn_type": "kafka",
                          "extra": json.dumps(librdkafka(s))},
        SPARK_CONN: {"conn_type": "spark", "host": s.spark_master,
                          "extra": json.dumps({"spark-binary": "spark-submit", "deploy-mode": "client"})},
        WEBHDFS_CONN: {"conn_type": "webhdfs", "host": webhdfs.split(":")[0],
                            "port": int(webhdfs.split(":")[1]), "login": "root"},
        INFLUX_CONN: {"conn_type": "influxdb", "host": influx_host,
                             "port": int(influx_port or 8086), "schema": influx_scheme,
                             "login": s.influx_user, "password": s.influx_password,
                             "extra": json.dumps({"database": s.influx_db})},
    }


def with_connections(s: Settings) -> Settings:
    """For tasks: the endpoints of the Airflow connections replace the configured ones."""
    from airflow.sdk import BaseHook

    kafka = BaseHook.get_connection(KAFKA_CONN)
    influx = BaseHook.get_connection(INFLUX_CONN)
    webhdfs = BaseHook.get_connection(WEBHDFS_CONN)
    spark = BaseHook.get_connection(SPARK_CONN)
    update: dict[str, Any] = {
        "spark_master": spark.host or s.spark_master,
        "influx_url": f"{influx.schema or 'http'}://{influx.host}:{influx.port or 8086}",
        "influx_user": influx.login or "",
        "influx_password": influx.password or "",
        "webhdfs_url": f"http://{webhdfs.host}:{webhdfs.port}",
    }
    extra = kafka.extra_dejson
    update |= {field: extra[key] for key, field in KAFKA_EXTRAS.items() if key in extra}
    return s.model_copy(update=update)

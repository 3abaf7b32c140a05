"""
### platform_setup

Creates what the pipeline writes to, idempotently: safe to trigger from the UI at any time.

| task | creates | through |
|---|---|---|
| `connections_defined` | nothing: waits until `make up` has created the connections below | |
| `kafka_topic` | topic `settings.topic`: partitions, retention, `message.timestamp.type=LogAppendTime` (existing topics get their configs brought back to these) | connection `kafka_default` (the Kafka provider's connection type) |
| `hdfs_directories` | `settings.hdfs_base_path` (Flume) and `settings.hdfs_dead_letter_path` (Spark's dead letters) | connection `webhdfs_default` (`WebHDFSHook`) |
| `influx_database` | database `settings.influx_db` and its default retention policy `settings.influx_retention` | connection `influxdb_default` (v1 HTTP API) |

Runs once by itself (`@once`) when the DAG first appears after `make up`; names come from the config
layer (`CARPIPE_*`, or the overrides file `<state_dir>/dag-overrides.json`, see `carpipe.dag_settings`).
"""

from __future__ import annotations

from airflow.sdk import dag, task

from carpipe.dag_defaults import DEFAULT_ARGS, START_DATE


@dag(
    dag_id="platform_setup",
    schedule="@once",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["carpipe", "setup"],
    doc_md=__doc__,
)
def platform_setup():
    @task.sensor(poke_interval=15, timeout=15 * 60, mode="reschedule")
    def connections_defined() -> bool:
        """`make up` creates the connections once the services are healthy, which can be after the
        scheduler has started this @once run: wait for them rather than fail."""
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException

        from carpipe.connections import CONNECTIONS

        missing = []
        for conn_id in CONNECTIONS:
            try:
                BaseHook.get_connection(conn_id)
            except AirflowNotFoundException:
                missing.append(conn_id)
        if missing:
            print("waiting for connections:", ", ".join(missing))
        return not missing

    @task
    def resolve_settings() -> dict:
        """Freeze this run's settings overrides (the overrides file may change while it runs)."""
        from carpipe.dag_settings import current_overrides

        return current_overrides()

    @task
    def kafka_topic(overrides: dict) -> dict:
        from airflow.sdk import BaseHook

        from carpipe.connections import KAFKA_CONN
        from carpipe.dag_settings import task_settings
        from carpipe.topic import ensure_topic, topic_config

        s = task_settings(overrides)
        # The Kafka provider's KafkaAdminClientHook.create_topic() cannot set topic configs, and
        # LogAppendTime is what makes window membership a broker fact: so carpipe.topic creates the
        # topic, with the client config (bootstrap, security) of the provider's connection.
        created = ensure_topic(s, admin_config=BaseHook.get_connection(KAFKA_CONN).extra_dejson)
        print(f"topic {s.topic}: {'created' if created else 'already there, configs ensured'} "
              f"({s.topic_partitions} partitions, {topic_config(s)})")
        return {"topic": s.topic, "created": created}

    @task
    def hdfs_directories(overrides: dict) -> list[str]:
        from airflow.providers.apache.hdfs.hooks.webhdfs import WebHDFSHook

        from carpipe.connections import WEBHDFS_CONN
        from carpipe.dag_settings import settings_for

        s = settings_for(overrides)
        client = WebHDFSHook(webhdfs_conn_id=WEBHDFS_CONN).get_conn()
        paths = [s.hdfs_base_path, s.hdfs_dead_letter_path]
        for path in paths:
            client.makedirs(path)  # mkdir -p: a no-op when it exists
            print(f"hdfs {path}: {client.status(path)['type'].lower()} present")
        return paths

    @task
    def influx_database(overrides: dict) -> str:
        from carpipe.dag_settings import task_settings
        from carpipe.influx import client_from_settings

        s = task_settings(overrides)
        influx = client_from_settings(s)
        influx.create_database(s.influx_retention)
        print(f"influxdb {s.influx_db}: present, default retention {s.influx_retention}")
        return s.influx_db

    overrides = resolve_settings()
    connections_defined() >> overrides
    kafka_topic(overrides)
    hdfs_directories(overrides)
    influx_database(overrides)


platform_setup()

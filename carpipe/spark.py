"""How Spark jobs are submitted: the connector jars (resolved at install, never --packages), where the
client-mode driver listens, the job's resources.

What is a path or an address of the submitting host (the jars, the interpreter, the driver's address)
is worked out on that host when it submits, never handed over from another one: under Celery, the task
that plans a window and the one that submits it may run on different workers."""

from __future__ import annotations

import sys
from pathlib import Path

from carpipe.config import Settings, get_settings


def connector_jars(s: Settings) -> list[str]:
    jars = sorted(str(p) for p in (s.jars_dir / "spark-kafka").glob("*.jar"))
    if not jars:
        raise FileNotFoundError(f"no Spark Kafka connector jars in {s.jars_dir / 'spark-kafka'}: run `make install`")
    return jars


def local_connector_jars() -> str:
    """``--jars`` for a submission from this host: its own install's connector jars (the Spark DAG's
    macro, rendered by the worker that submits)."""
    return ",".join(connector_jars(get_settings()))


def driver_env(s: Settings) -> dict[str, str]:
    """Where a client-mode driver started on this host listens (SPARK_LOCAL_IP) and the address it tells
    the executors (SPARK_LOCAL_HOSTNAME: spark.driver.host and so spark.driver.bindAddress default to
    it, else to the canonical name of the IP, "localhost" for loopback), both Spark's own per-host
    variables, from this host's ``spark_driver_host``. Every Airflow worker gets its own (stack.services)."""
    return {"SPARK_LOCAL_IP": s.spark_driver_host, "SPARK_LOCAL_HOSTNAME": s.spark_driver_host}


def spark_submit_binary() -> str:
    """The venv's spark-submit (the pyspark wheel ships it next to the interpreter)."""
    return str(Path(sys.executable).parent / "spark-submit")


def submit_env(s: Settings) -> dict[str, str]:
    """Environment for spark-submit: the pyspark wheel as SPARK_HOME and this interpreter for the
    Python workers (spark-submit otherwise looks for a `python3` on PATH that may lack pyspark)."""
    import os

    import pyspark

    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "SPARK_HOME": str(Path(pyspark.__file__).parent),
            "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
            "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]), **driver_env(s)}


def spark_conf(s: Settings) -> dict[str, str]:
    """Spark settings every submission uses (SparkSubmitOperator's ``conf`` too): the same wherever it
    is submitted from (the driver's address is the submitting host's, driver_env)."""
    conf = {"spark.ui.enabled": "false",
            "spark.driver.memory": s.spark_driver_memory, "spark.executor.memory": s.spark_executor_memory}
    if s.spark_shuffle_partitions:
        conf["spark.sql.shuffle.partitions"] = str(s.spark_shuffle_partitions)
    return conf


def submit_command(s: Settings, app: str, *args: str, conf: dict[str, str] | None = None) -> list[str]:
    cmd = [spark_submit_binary(), "--master", s.spark_master, "--jars", ",".join(connector_jars(s))]
    for k, v in {**spark_conf(s), **(conf or {})}.items():
        cmd += ["--conf", f"{k}={v}"]
    return [*cmd, app, *args]

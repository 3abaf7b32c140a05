"""How Spark jobs are submitted: the connector jars (resolved at install, never --packages)."""

from __future__ import annotations

import sys
from pathlib import Path

from carpipe.config import Settings


def connector_jars(s: Settings) -> list[str]:
    jars = sorted(str(p) for p in (s.jars_dir / "spark-kafka").glob("*.jar"))
    if not jars:
        raise FileNotFoundError(f"no Spark Kafka connector jars in {s.jars_dir / 'spark-kafka'}: run `make install`")
    return jars


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
            "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])}


def spark_conf(s: Settings) -> dict[str, str]:
    """Spark settings every submission uses (SparkSubmitOperator's ``conf`` too)."""
    # The driver listens where the spark_default connection says executors reach it (the bind host by
    # default), not on every interface of the machine.
    conf = {"spark.ui.enabled": "false", "spark.driver.host": s.spark_driver_host,
            "spark.driver.bindAddress": s.spark_driver_host,
            "spark.driver.memory": s.spark_driver_memory, "spark.executor.memory": s.spark_executor_memory}
    if s.spark_shuffle_partitions:
        conf["spark.sql.shuffle.partitions"] = str(s.spark_shuffle_partitions)
    return conf


def submit_command(s: Settings, app: str, *args: str, conf: dict[str, str] | None = None) -> list[str]:
    cmd = [spark_submit_binary(), "--master", s.spark_master, "--jars", ",".join(connector_jars(s))]
    for k, v in {**spark_conf(s), **(conf or {})}.items():
        cmd += ["--conf", f"{k}={v}"]
    return [*cmd, app, *args]

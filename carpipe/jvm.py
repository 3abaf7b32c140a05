"""How the platform launches a JVM program: which Java, the module openings Hadoop needs on Java 17,
console logging, classpaths from the jars stack/install.sh resolved. The embedded servers (stack/)
and the legs' client programs (Flume agents, lease recovery) are launched the same way.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from carpipe.config import Settings

# Java 17 module openings Hadoop's own launch scripts pass (HADOOP_OPTS in hadoop-env.sh).
HADOOP_JAVA_OPTS = [
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/java.util.zip=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.cs=ALL-UNNAMED",
    "--add-opens=java.base/sun.security.action=ALL-UNNAMED",
    "--add-opens=java.base/sun.util.calendar=ALL-UNNAMED",
    "--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
]

LOG4J2_CONSOLE = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{ISO8601} %-5p [%t] %c{1}: %m%n
rootLogger.level = {level}
rootLogger.appenderRef.stdout.ref = STDOUT
"""

def log4j1_console(quiet: tuple[str, ...]) -> str:
    """A log4j 1.2 properties file (Hadoop and Flume log through reload4j): INFO to stdout, where
    supervisord or the Airflow task log picks it up; the ``quiet`` loggers at WARN."""
    return "".join([
        "log4j.rootLogger=INFO, console\n",
        "log4j.appender.console=org.apache.log4j.ConsoleAppender\n",
        "log4j.appender.console.target=System.out\n",
        "log4j.appender.console.layout=org.apache.log4j.PatternLayout\n",
        "log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1}: %m%n\n",
        *(f"log4j.logger.{name}=WARN\n" for name in quiet),
    ])


def java_home() -> Path:
    """Java 17: Kafka 4 and Hadoop 3.5 servers are built and tested on it."""
    for candidate in (os.environ.get("CARPIPE_JAVA_HOME"), "/usr/lib/jvm/java-17-openjdk-amd64"):
        if candidate and (Path(candidate) / "bin" / "java").exists():
            return Path(candidate)
    java = shutil.which("java")
    if not java:
        raise SystemExit("no Java found: run `make install` (installs openjdk-17-jdk-headless)")
    return Path(java).resolve().parents[1]


def java(s: Settings, jars: str, main: str, *args: str, heap: str, opts: list[str] | None = None,
         classpath: list[str | Path] = ()) -> list[str]:
    """``java`` running ``main`` with ``classpath`` ahead of the ``jars`` set under ``s.jars_dir``."""
    cp = [*map(str, classpath), str(s.jars_dir / jars / "*")]
    return [str(java_home() / "bin" / "java"), f"-Xmx{heap}", "-XX:+UseG1GC",
            *(opts or []), "-cp", ":".join(cp), main, *args]


def hadoop_java(s: Settings, main: str, *args: str, conf: Path | None = None, heap: str = "512m",
                opts: list[str] = ()) -> list[str]:
    """A program on Hadoop's jars and a Hadoop configuration directory (default: the clients',
    ``s.hadoop_conf_dir``)."""
    conf = conf or s.hadoop_conf_dir
    return java(s, "hadoop", main, *args, heap=heap, classpath=[conf],
                opts=[*HADOOP_JAVA_OPTS, "-Dhadoop.root.logger=INFO,console",
                      f"-Dlog4j2.configurationFile={conf / 'log4j2.properties'}",
                      f"-Dhadoop.log.dir={s.logs_dir}", *opts])

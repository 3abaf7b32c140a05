"""One Flume agent JVM: built from the project's jars and rendered config, its log relayed to stdout,
its counters read from Flume's JSON metrics endpoint, stopped cleanly with SIGTERM."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import requests

from carpipe.config import Settings
from carpipe.jvm import HADOOP_JAVA_OPTS, java_home, log4j1_console
from flume import agent_conf, extensions
from flume.agent_conf import AGENT, CHANNEL, SINK, SOURCE, Channel, channel_names, sink_names

# 512 MiB holds a full memory channel (200k events); the file channel keeps events on disk.
JVM_OPTS = ["-Xmx512m", "-XX:+UseG1GC"]
MAIN = "org.apache.flume.node.Application"


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """Linux: the JVM gets SIGTERM (a clean Flume stop) if the process that started it dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class AgentError(RuntimeError):
    pass


class FlumeAgent:
    def __init__(self, settings: Settings, channel: Channel = "file", log_prefix: str = "flume | ",
                 partitions: int | None = None, resume: dict[int, int] | None = None):
        """``partitions``/``resume``: see agent_conf.agent_properties."""
        self.s = settings
        self.channel = channel
        self.lanes = partitions or settings.topic_partitions
        self.resume = resume or {}
        self.log_prefix = log_prefix
        self.dir = agent_conf.state_dir(settings)
        self.conf_file = self.dir / f"agent-{channel}.properties"
        self.log4j_file = self.dir / "log4j.properties"
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self._relay: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def command(self) -> list[str]:
        jars = self.s.jars_dir / "flume"
        if not any(jars.glob("flume-ng-node-*.jar")):
            raise AgentError(f"no Flume jars in {jars}: run `make install`")
        # The Hadoop client configuration (settings.hadoop_conf_dir) goes first on the classpath.
        classpath = [str(self.s.hadoop_conf_dir), str(extensions.classes_dir(self.s)), str(jars / "*")]
        return [
            str(java_home() / "bin" / "java"), *JVM_OPTS, *HADOOP_JAVA_OPTS,
            f"-Dlog4j.configuration=file:{self.log4j_file}",
            # Flume's JSON counters, on a free port of the bind host per run.
            f"-Dflume.monitoring.type={extensions.METRICS_SERVER}", f"-Dflume.monitoring.host={self.s.bind_host}",
            f"-Dflume.monitoring.port={self.port}",
            "-cp", ":".join(classpath), MAIN,
            "-n", AGENT, "-f", str(self.conf_file), "--no-reload-conf",
        ]

    def properties(self) -> dict[str, object]:
        return agent_conf.agent_properties(self.s, self.channel, self.lanes, self.resume)

    def sink_names(self) -> list[str]:
        return sink_names(self.lanes)

    def start(self) -> "FlumeAgent":
        self.dir.mkdir(parents=True, exist_ok=True)
        # Owner-only: with a secured cluster the properties hold the Kafka client's credentials.
        fd = os.open(self.conf_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(agent_conf.render(self.properties()))
        self.log4j_file.write_text(log4j1_console(agent_conf.QUIET_LOGGERS))
        self.port = _free_port(self.s.bind_host)
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        self._relay = threading.Thread(target=self._relay_log, name="flume-log", daemon=True)
        self._relay.start()
        return self

    def _relay_log(self) -> None:
        assert self.proc and self.proc.stdout
        for raw in self.proc.stdout:
            sys.stdout.write(self.log_prefix + raw.decode("utf-8", "replace"))
            sys.stdout.flush()

    @property
    def pid(self) -> int:
        assert self.proc, "agent not started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float) -> dict[str, dict[str, float]]:
        """Until the metrics show the source, channel and sink all started (a component with a bad
        config is silently left out by Flume, so its absence is a failure, not a warning)."""
        deadline = time.monotonic() + timeout
        wanted = {f"SOURCE.{SOURCE}", *(f"CHANNEL.{n}" for n in channel_names(self.lanes)),
                  *(f"SINK.{n}" for n in self.sink_names())}
        last: dict = {}
        while time.monotonic() < deadline:
            if not self.alive():
                raise AgentError(f"agent exited with code {self.proc.returncode} during start-up")
            last = self.metrics()
            if wanted <= last.keys() and all(last[k].get("StartTime", 0) > 0 for k in wanted):
                return last
            time.sleep(1)
        raise AgentError(f"agent not ready after {timeout:.0f}s; components up: {sorted(last)}")

    def metrics(self) -> dict[str, dict[str, float]]:
        """Flume's counters, e.g. ``m["CHANNEL.channel-0"]["ChannelSize"]``; {} while not serving."""
        try:
            raw = requests.get(f"http://{self.s.bind_host}:{self.port}/metrics", timeout=5).json()
        except (requests.RequestException, ValueError):
            return {}
        return {comp: {k: _number(v) for k, v in vals.items()} for comp, vals in raw.items()}

    def stop(self, timeout: float = 120) -> int:
        """SIGTERM: Flume stops the source, then the sink (closing and renaming every open file), then
        the channel. SIGKILL only if that takes longer than ``timeout`` (then files may stay open)."""
        if not self.proc:
            raise AgentError("agent not started")
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
                raise AgentError(f"agent did not stop within {timeout:.0f}s after SIGTERM; killed")
        self._join_relay()
        return self.proc.returncode

    def _join_relay(self) -> None:
        if self._relay:
            self._relay.join(10)


def _number(value: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def lanes(metrics: dict, kind: str) -> list[dict[str, float]]:
    """The counters of each of our sinks (kind SINK) or channels (CHANNEL), lane by lane."""
    prefix = f"{kind}.{SINK if kind == 'SINK' else CHANNEL}-"
    return [metrics[k] for k in sorted((k for k in metrics if k.startswith(prefix)),
                                       key=lambda k: int(k.removeprefix(prefix)))]


def component(metrics: dict, kind: str) -> dict[str, float]:
    """The counters of our SOURCE, or of all our SINKs / CHANNELs summed."""
    if kind == "SOURCE":
        return metrics.get(f"SOURCE.{SOURCE}", {})
    total: dict[str, float] = {}
    for counters in lanes(metrics, kind):
        for k, v in counters.items():
            total[k] = total.get(k, 0.0) + v
    return total

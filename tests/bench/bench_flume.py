"""Benchmark: Kafka -> Flume -> HDFS, file channel (ours) vs memory channel (the seed's), same run.

1. Drain throughput: a topic pre-filled with PREFILL events; a fresh agent per case reads it all and
   writes it to HDFS; events/s from the first event accepted to the last written, and the agent's CPU
   time per event over that span (comparable across machine loads, unlike events/s). Baselines: a plain
   confluent-kafka consumer reading the same records (the ceiling for any Kafka reader here), and the
   at-least-once WindowSink this exactly-once one replaced (two sinks on one file channel, compiled
   from git at PREVIOUS_SINK_REV).
2. Lag behind a generator burst at BURST_RATE events/s for BURST_SECONDS (``generator.burst``):
   the agent runs first and is warmed up with WARMUP events (in production it runs a whole window);
   the backlog (records not yet committed by the group + events in the channel)
   is sampled during the burst; reported as its maximum (events and seconds of input) and the time the
   agent needs after the burst ends until everything is written.

Run: ``BENCH=flume .venv/bin/python -m tests.bench`` (needs the stack up). Everything it creates
(topics, groups, HDFS paths, channel dirs) is removed at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, ConsumerGroupState
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.table import Table

from carpipe.config import REPO_ROOT, Settings, get_settings
from carpipe.jvm import java_home
from carpipe.topic import ensure_topic
from flume import agent_conf, extensions
from flume.agent import FlumeAgent, component
from carpipe.webhdfs import webhdfs
from carpipe.kafka_offsets import GroupLag
from generator.burst import Burst, run_burst

PREFILL = 200_000
BURST_RATE = 20_000
BURST_SECONDS = 60  # long enough that a rate the agent cannot sustain shows as a growing backlog
WARMUP = 100_000
# A sink slower than the input falls behind in proportion to the burst's length: one that keeps up has
# written everything within a quarter of it after the burst ends.
KEPT_UP_S = BURST_SECONDS / 4
TIMEOUT = 600


def case_settings(base: Settings, tag: str, topic: str, channel: str) -> Settings:
    return base.model_copy(update={"topic": topic, "flume_consumer_group": f"{tag}-{channel}-{topic[-5:]}",
                                   "hdfs_base_path": f"/carpipe-bench/{tag}/{topic[-5:]}-{channel}"})


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): the agent's cost, whatever the load."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def written(agent: FlumeAgent) -> int:
    return int(component(agent.metrics(), "SINK").get("EventDrainSuccessCount", 0))


# The last commit with the at-least-once WindowSink: two sinks on one channel, files named by a counter.
PREVIOUS_SINK_REV = "082e8d5"
PREVIOUS_SINK = "carpipe.flume.previous.WindowSink"


def previous_sink_classes(s: Settings) -> Path:
    """That sink, compiled from git (the product keeps no copy) into its own package."""
    target = s.state_dir / "flume" / f"bench-previous-{PREVIOUS_SINK_REV}"
    if (target / "carpipe" / "flume" / "previous" / "WindowSink.class").exists():
        return target
    show = subprocess.run(["git", "show", f"{PREVIOUS_SINK_REV}:flume/WindowSink.java"], cwd=REPO_ROOT,
                          capture_output=True, text=True)
    if show.returncode != 0:
        raise RuntimeError(f"the baseline sink needs the git history ({PREVIOUS_SINK_REV}): {show.stderr.strip()}")
    src = target / "src" / "WindowSink.java"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(show.stdout.replace("package carpipe.flume;",
                                       "package carpipe.flume.previous;\n\nimport carpipe.flume.WindowInterceptor;"))
    out = subprocess.run([str(java_home() / "bin" / "javac"), "-nowarn", "--release", "17", "-d", str(target), "-cp",
                          f"{extensions.classes_dir(s)}:{s.jars_dir / 'flume' / '*'}", str(src)],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"javac on the baseline sink failed:\n{out.stderr[-3000:]}")
    return target


class PreviousSinkAgent(FlumeAgent):
    """The agent as configured before exactly-once: one channel drained by two at-least-once sinks."""

    SINKS = 2

    def __init__(self, settings: Settings, channel: str, log_prefix: str):
        super().__init__(settings, channel, log_prefix, partitions=1)

    def sink_names(self) -> list[str]:
        return [f"{agent_conf.SINK}-{i}" for i in range(self.SINKS)]

    def command(self) -> list[str]:
        cmd = super().command()
        cp = cmd.index("-cp") + 1
        cmd[cp] = f"{previous_sink_classes(self.s)}:{cmd[cp]}"
        return cmd

    def properties(self) -> dict[str, object]:
        props = super().properties()
        lane = f"{agent_conf.AGENT}.sinks.{agent_conf.sink_names(1)[0]}"
        template = {k.removeprefix(lane): v for k, v in props.items() if k.startswith(lane + ".")}
        for key in [k for k in props if k.startswith(f"{agent_conf.AGENT}.sinks")]:
            del props[key]
        props[f"{agent_conf.AGENT}.sinks"] = " ".join(self.sink_names())
        for i, name in enumerate(self.sink_names()):
            sink = f"{agent_conf.AGENT}.sinks.{name}"
            props |= {f"{sink}{k}": v for k, v in template.items()}
            props |= {f"{sink}.type": PREVIOUS_SINK, f"{sink}.filePrefix": f"{self.s.topic}-{i}"}
        return props


# column -> (channel, agent): ours (exactly-once, a lane per partition) with either channel, and the
# at-least-once sinks of before on the file channel.
CASES = {"memory channel, exactly-once": ("memory", FlumeAgent), "file channel, exactly-once (ours)": ("file", FlumeAgent),
         f"file channel, at-least-once x2 ({PREVIOUS_SINK_REV})": ("file", PreviousSinkAgent)}


def new_agent(agent_class, s: Settings, channel: str) -> FlumeAgent:
    if agent_class is FlumeAgent:  # one lane per partition of the bench's topic, as the runner starts it
        with GroupLag(s) as lag:
            return FlumeAgent(s, channel, f"flume[{channel}] | ", partitions=len(lag.partitions))
    return agent_class(s, channel, f"flume[{channel}] | ")


def drain_throughput(s: Settings, channel: str, total: int, agent_class=FlumeAgent) -> dict:
    agent = new_agent(agent_class, s, channel).start()
    try:
        agent.wait_ready(180)
        first = half = None
        deadline = time.monotonic() + TIMEOUT
        while (done := written(agent)) < total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{channel}: only {done}/{total} written in {TIMEOUT}s")
            if first is None and component(agent.metrics(), "SOURCE").get("EventAcceptedCount", 0) > 0:
                first = (time.monotonic(), cpu_seconds(agent.pid), 0)
            if half is None and done >= total // 2:
                half = (time.monotonic(), cpu_seconds(agent.pid), done)
            time.sleep(0.5)
        end = (time.monotonic(), cpu_seconds(agent.pid), total)
    finally:
        agent.stop()
    # Cold: from the first event (JIT still compiling); warm: the second half only.
    cold, warm = ((end[0] - a[0], (end[1] - a[1]) / (total - a[2]) * 1e6, total - a[2]) for a in (first, half))
    return {"events": total, "seconds": cold[0], "rate": total / cold[0], "cpu_us": cold[1],
            "warm_rate": warm[2] / warm[0], "warm_cpu_us": warm[1]}


def kafka_read_baseline(s: Settings, total: int) -> dict:
    c = Consumer({"bootstrap.servers": s.kafka_bootstrap, "group.id": f"bench-baseline-{uuid.uuid4().hex}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([s.topic])
    got, first = 0, None
    deadline = time.monotonic() + TIMEOUT
    try:
        while got < total and time.monotonic() < deadline:
            msgs = c.consume(10_000, 1.0)
            if msgs and first is None:
                first = time.monotonic()
            got += sum(1 for m in msgs if m.error() is None)
        seconds = time.monotonic() - first
    finally:
        c.close()
    return {"events": got, "seconds": seconds, "rate": got / seconds}


def wait_written(agent: FlumeAgent, count: int, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while written(agent) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: {written(agent)}/{count} written after {TIMEOUT}s")
        time.sleep(0.2)


def wait_for_member(s: Settings, timeout: float = 120) -> None:
    """Until the agent's consumer has joined its group (so the burst does not start before it)."""
    admin = AdminClient({"bootstrap.servers": s.kafka_bootstrap})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        group = admin.describe_consumer_groups([s.flume_consumer_group])[s.flume_consumer_group].result(30)
        if group.state == ConsumerGroupState.STABLE and group.members:
            return
        time.sleep(0.5)
    raise RuntimeError(f"consumer group {s.flume_consumer_group} has no member after {timeout:.0f}s")


def lag_behind_burst(s: Settings, channel: str, agent_class=FlumeAgent) -> dict:
    ensure_topic(s)
    agent = new_agent(agent_class, s, channel).start()
    samples: list[int] = []
    stop = threading.Event()

    def sample():
        with GroupLag(s) as lag:  # the sampler's own: it is closed by the thread that uses it
            while not stop.is_set():
                in_channel = int(component(agent.metrics(), "CHANNEL").get("ChannelSize", 0))
                samples.append(lag.remaining(lag.targets()) + in_channel)
                time.sleep(0.5)

    try:
        agent.wait_ready(180)
        wait_for_member(s)
        # A running agent is warm (it runs a whole window): compile the hot paths before the burst.
        warmup = Burst(WARMUP, None, seed=8, settings=s).run(progress=False).acknowledged
        wait_written(agent, warmup, f"{channel}: warm-up")
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        report = run_burst(BURST_RATE, BURST_SECONDS, seed=7, settings=s, progress=False)
        burst_end = time.monotonic()
        wait_written(agent, warmup + report.acknowledged, f"{channel}: burst")
        catch_up = time.monotonic() - burst_end
        stop.set()
        sampler.join(5)
    finally:
        stop.set()
        agent.stop()
    peak = max(samples, default=0)
    return {"produced": report.acknowledged, "producer_rate": report.achieved_rate,
            "max_backlog": peak, "max_lag_s": peak / max(report.achieved_rate, 1), "catch_up_s": catch_up}


def cleanup(base: Settings, tag: str, topics: list[str], settings: list[Settings]) -> None:
    admin = AdminClient({"bootstrap.servers": base.kafka_bootstrap})
    for f in admin.delete_topics(topics, request_timeout=30).values():
        f.result(30)
    groups = [x.flume_consumer_group for x in settings]
    for f in admin.delete_consumer_groups(groups, request_timeout=30).values():
        try:
            f.result(30)
        except Exception:  # a group that never committed does not exist
            pass
    webhdfs(base).delete(f"/carpipe-bench/{tag}", recursive=True)
    for x in settings:
        shutil.rmtree(agent_conf.state_dir(x), ignore_errors=True)


def main() -> None:
    base = get_settings()
    tag = f"flume-bench-{uuid.uuid4().hex[:8]}"
    prefill_topic = f"{tag}-fill"
    used: list[Settings] = []
    topics = [prefill_topic] + [f"{tag}-b{i}" for i in range(len(CASES))]
    console = Console(width=160)
    drains, bursts = {}, {}
    try:
        fill = base.model_copy(update={"topic": prefill_topic})
        ensure_topic(fill)
        console.print(f"pre-filling {prefill_topic} with {PREFILL} events ...")
        fill_report = Burst(PREFILL, None, seed=1, settings=fill).run(progress=False)
        assert fill_report.ok, fill_report.as_dict()
        for i, (label, (channel, agent_class)) in enumerate(CASES.items()):
            console.print(f"drain: {label} ...")
            used.append(case_settings(base, tag, prefill_topic, f"{channel}{i}"))
            drains[label] = drain_throughput(used[-1], channel, PREFILL, agent_class)
        baseline = kafka_read_baseline(fill, PREFILL)
        for i, (label, (channel, agent_class)) in enumerate(CASES.items()):
            console.print(f"burst: {label} ...")
            used.append(case_settings(base, tag, topics[1 + i], f"{channel}{i}"))
            bursts[label] = lag_behind_burst(used[-1], channel, agent_class)
    finally:
        cleanup(base, tag, topics, used)

    t = Table(title=f"Kafka -> Flume -> HDFS ({PREFILL} events drained; burst {BURST_RATE}/s x {BURST_SECONDS}s)")
    t.add_column("measure")
    for label in CASES:
        t.add_column(label, justify="right")
    t.add_column("baseline: confluent-kafka read", justify="right")

    def row(name: str, results: dict, key: str, fmt: str, extra: str = "") -> None:
        t.add_row(name, *(format(results[c][key], fmt) for c in CASES), extra)

    row("drain throughput, events/s", drains, "rate", ",.0f", f"{baseline['rate']:,.0f}")
    row("drain: agent CPU per event, us", drains, "cpu_us", ".0f")
    row("drain, warm JVM (2nd half): events/s", drains, "warm_rate", ",.0f")
    row("drain, warm JVM: agent CPU per event, us", drains, "warm_cpu_us", ".0f")
    row("drain time, s", drains, "seconds", ".1f", f"{baseline['seconds']:.1f}")
    row("burst: producer rate achieved, events/s", bursts, "producer_rate", ",.0f")
    row("burst: events produced", bursts, "produced", ",")
    row("burst: max backlog, events", bursts, "max_backlog", ",")
    row("burst: max backlog, s of input", bursts, "max_lag_s", ".1f")
    row("burst: all written, s after burst end", bursts, "catch_up_s", ".1f")
    t.add_row(f"kept up with {BURST_RATE:,}/s (all written <= {KEPT_UP_S:.0f} s after the end)",
              *("yes" if bursts[c]["catch_up_s"] <= KEPT_UP_S else "no" for c in CASES), "")
    console.print(t)
    console.print(f"load average at the end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min) "
                  f"on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()

"""The Flume agent's configuration, rendered from the config layer (never edited by hand).

Kafka source -> channel -> HDFS sinks, improving on the seed's ``kafkatohdfs.conf``:

- the source uses a stable consumer group (``settings.flume_consumer_group``) and commits offsets only
  after a batch is in the channel, starting from the earliest offset when the group is new, so records
  produced while no agent runs are picked up by the next run;
- the default channel is the durable FILE channel (its directories are keyed by the consumer group, so
  a crash leaves the events it held for the next run of the same group); the seed's MEMORY channel is
  kept as an option for throughput comparisons: what it holds when the agent dies is read from Kafka
  again, because the runner resumes the group from what HDFS holds (flume.recovery);
- the source's interceptor (flume/WindowInterceptor.java) sets each event's ``window`` header from its
  ``timestamp`` header, which Flume 1.11's Kafka source sets to the Kafka record timestamp (the broker's
  LogAppendTime on our topic): the window start in UTC as ``Window.hdfs_dir`` lays it out. It also keeps
  each record on one line, keeps the ``partition`` and ``offset`` headers and drops the others;
- one lane per Kafka partition: the source's multiplexing selector routes each event by its
  ``partition`` header to that lane's channel, drained by that lane's sink alone. One writer per partition
  is what makes the sinks exactly-once (flume/WindowSink.java): each sees its partitions' offsets in
  order and drops what HDFS already holds, from ``resumeOffsets`` (read from HDFS by flume.recovery);
- the sinks are our own: each writes a channel batch into ``<base>/<window>/`` as JSON lines, one write
  and hflush per file and batch, before the batch commits; files are named by topic, partition and
  offset range (carpipe.offset_files), ``*.jsonl.tmp`` while open. Flume's own HDFS sink writes per
  event with a thread hand-off each and names files by a counter (``BENCH=flume make bench`` compares).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from carpipe.config import Settings
from carpipe.kafka_clients import java
from carpipe.offset_files import SUFFIX
from carpipe.webhdfs import IN_USE_SUFFIX
from flume import extensions

Channel = Literal["file", "memory"]
CHANNELS: tuple[Channel, ...] = ("file", "memory")

AGENT = "carpipe"
SOURCE = "kafka-source"
CHANNEL = "channel"
SINK = "hdfs-sink"

# One source batch is one channel transaction per lane and one Kafka offset commit: large enough for 20k
# events/s.
SOURCE_BATCH = 5000
SINK_BATCH = 5000
TRANSACTION_CAPACITY = 10000
ROLL_BYTES = 128 * 1024 * 1024  # one HDFS block


def idle_seconds(window_seconds: int) -> int:
    """Close a bucket this long after its last event: a window's files close soon after it ends."""
    return max(5, min(60, window_seconds // 10))


def state_dir(s: Settings) -> Path:
    """Per consumer group: the file channel's durable state and the runner's lock live here."""
    return s.state_dir / "flume" / s.flume_consumer_group


def channel_names(lanes: int) -> list[str]:
    return [f"{CHANNEL}-{i}" for i in range(lanes)]


def sink_names(lanes: int) -> list[str]:
    return [f"{SINK}-{i}" for i in range(lanes)]


def hdfs_base(s: Settings) -> str:
    """The sinks' base URI: each event goes below it into its ``window`` header's directory."""
    return f"{s.hdfs_url.rstrip('/')}{s.hdfs_base_path.rstrip('/')}"


def agent_properties(s: Settings, channel: Channel = "file", partitions: int | None = None,
                     resume: dict[int, int] | None = None) -> dict[str, object]:
    """``partitions``: the topic's partition count (one lane each; default the configured count);
    ``resume``: per partition, the first offset HDFS does not hold yet (flume.recovery)."""
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {CHANNELS}, not {channel!r}")
    lanes = partitions or s.topic_partitions
    channels, sinks = channel_names(lanes), sink_names(lanes)
    src = f"{AGENT}.sources.{SOURCE}"
    props: dict[str, object] = {
        f"{AGENT}.sources": SOURCE,
        f"{AGENT}.channels": " ".join(channels),
        f"{AGENT}.sinks": " ".join(sinks),

        f"{src}.type": "org.apache.flume.source.kafka.KafkaSource",
        f"{src}.channels": " ".join(channels),
        f"{src}.selector.type": "multiplexing",
        f"{src}.selector.header": "partition",
        **{f"{src}.selector.mapping.{p}": channels[p] for p in range(lanes)},
        # A partition added while the agent runs still has one writer: lane 0's.
        f"{src}.selector.default": channels[0],
        **{f"{src}.kafka.consumer.{k}": v for k, v in java(s).items() if k != "bootstrap.servers"},
        f"{src}.kafka.bootstrap.servers": s.kafka_bootstrap,
        f"{src}.kafka.topics": s.topic,
        f"{src}.kafka.consumer.group.id": s.flume_consumer_group,
        # A new group starts at the beginning, so nothing produced before the first run is skipped.
        f"{src}.kafka.consumer.auto.offset.reset": "earliest",
        f"{src}.batchSize": SOURCE_BATCH,
        f"{src}.batchDurationMillis": 1000,
        f"{src}.migrateZookeeperOffsets": "false",
        f"{src}.setTopicHeader": "false",  # the interceptor keeps only window, partition and offset
        f"{src}.interceptors": "window",
        f"{src}.interceptors.window.type": extensions.INTERCEPTOR_BUILDER,
        f"{src}.interceptors.window.windowSeconds": s.window_seconds,
    }
    resume_text = ",".join(f"{p}:{o}" for p, o in sorted((resume or {}).items()))
    for name, ch_name in zip(sinks, channels):
        sink, ch = f"{AGENT}.sinks.{name}", f"{AGENT}.channels.{ch_name}"
        props |= {
            f"{sink}.type": extensions.SINK,
            f"{sink}.channel": ch_name,
            f"{sink}.path": hdfs_base(s),
            f"{sink}.filePrefix": s.topic,
            f"{sink}.fileSuffix": SUFFIX,
            f"{sink}.inUseSuffix": IN_USE_SUFFIX,
            f"{sink}.batchSize": SINK_BATCH,
            f"{sink}.resumeOffsets": resume_text,
            # A file lives at most one window length; a finished window's files close once idle.
            f"{sink}.rollSeconds": s.window_seconds,
            f"{sink}.idleSeconds": idle_seconds(s.window_seconds),
            f"{sink}.rollBytes": ROLL_BYTES,
            f"{sink}.callTimeoutSeconds": 60,
            # An idle sink looks at the channel this often (Flume's sink runner would back off up to 5 s).
            f"{sink}.pollMillis": 200,
        }
        if channel == "file":
            d = state_dir(s) / ch_name
            props |= {
                f"{ch}.type": "file",
                f"{ch}.checkpointDir": d / "checkpoint",
                f"{ch}.dataDirs": d / "data",
                f"{ch}.capacity": 1_000_000,
                f"{ch}.transactionCapacity": TRANSACTION_CAPACITY,
            }
        else:
            props |= {
                f"{ch}.type": "memory",
                f"{ch}.capacity": 200_000,
                f"{ch}.transactionCapacity": TRANSACTION_CAPACITY,
            }
    return props


def render(props: dict[str, object]) -> str:
    """A Java .properties file (backslashes escaped, so regexes survive Properties.load)."""
    return "".join(f"{k}={str(v).replace(chr(92), chr(92) * 2)}\n" for k, v in props.items())


# What the Flume agent logs at WARN only (its INFO lines repeat per batch or per roll).
QUIET_LOGGERS = ("org.apache.kafka", "org.apache.flume.conf.FlumeConfiguration", "org.apache.hadoop",
                 "org.apache.flume.channel.file", "org.apache.flume.instrumentation", "org.eclipse.jetty")

"""The Flume agent's configuration, rendered from the config layer (never edited by hand).

Kafka source -> channel -> HDFS sinks, improving on the seed's ``kafkatohdfs.conf``:

- the source uses a stable consumer group (``settings.flume_consumer_group``) and commits offsets only
  after a batch is in the channel, starting from the earliest offset when the group is new, so records
  produced while no agent runs are picked up by the next run;
- the default channel is the durable FILE channel (its directories are keyed by the consumer group, so
  a crash leaves the events it held for the next run of the same group); the seed's MEMORY channel is
  kept as an option for throughput comparisons: it loses what it holds when the agent dies or stops;
- the source's interceptor (flume/WindowInterceptor.java) sets each event's ``window`` header from its
  ``timestamp`` header, which Flume 1.11's Kafka source sets to the Kafka record timestamp (the broker's
  LogAppendTime on our topic): the window start in UTC as ``Window.hdfs_dir`` lays it out. It also keeps
  each record on one line and drops the other headers;
- the sinks are our own (flume/WindowSink.java): each writes a channel batch into ``<base>/<window>/`` as
  JSON lines, one write and hflush per window and batch, before the batch commits; files are named
  ``*.jsonl.tmp`` while open and renamed on close. Flume's own HDFS sink does the same per event, with a
  thread hand-off each, and needs four sinks contending on the file channel to keep up
  (``BENCH=flume make bench`` measures both).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from carpipe.config import Settings
from carpipe.kafka_clients import java
from carpipe.webhdfs import IN_USE_SUFFIX
from flume import extensions

Channel = Literal["file", "memory"]
CHANNELS: tuple[Channel, ...] = ("file", "memory")

AGENT = "carpipe"
SOURCE = "kafka-source"
CHANNEL = "channel"
SINK = "hdfs-sink"
# Sinks on the one channel, each writing its own files: one sink's take loop on the file channel moves
# ~15k events/s while Kafka and the generator share the cores; two keep up with a 20k/s burst.
SINKS = 2

FILE_SUFFIX = ".jsonl"
FILE_PREFIX = "transactions"

# One source batch is one channel transaction and one Kafka offset commit: large enough for 20k events/s,
# and the bound on duplicates after a crash (see carpipe.hdfs_counts).
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


def sink_names() -> list[str]:
    return [f"{SINK}-{i}" for i in range(1, SINKS + 1)]


def hdfs_base(s: Settings) -> str:
    """The sinks' base URI: each event goes below it into its ``window`` header's directory."""
    return f"{s.hdfs_url.rstrip('/')}{s.hdfs_base_path.rstrip('/')}"


def agent_properties(s: Settings, channel: Channel = "file") -> dict[str, object]:
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {CHANNELS}, not {channel!r}")
    src, ch = f"{AGENT}.sources.{SOURCE}", f"{AGENT}.channels.{CHANNEL}"
    props: dict[str, object] = {
        f"{AGENT}.sources": SOURCE,
        f"{AGENT}.channels": CHANNEL,
        f"{AGENT}.sinks": " ".join(sink_names()),

        f"{src}.type": "org.apache.flume.source.kafka.KafkaSource",
        f"{src}.channels": CHANNEL,
        **{f"{src}.kafka.consumer.{k}": v for k, v in java(s).items() if k != "bootstrap.servers"},
        f"{src}.kafka.bootstrap.servers": s.kafka_bootstrap,
        f"{src}.kafka.topics": s.topic,
        f"{src}.kafka.consumer.group.id": s.flume_consumer_group,
        # A new group starts at the beginning, so nothing produced before the first run is skipped.
        f"{src}.kafka.consumer.auto.offset.reset": "earliest",
        f"{src}.batchSize": SOURCE_BATCH,
        f"{src}.batchDurationMillis": 1000,
        f"{src}.migrateZookeeperOffsets": "false",
        f"{src}.setTopicHeader": "false",  # the interceptor keeps only the window header anyway
        f"{src}.interceptors": "window",
        f"{src}.interceptors.window.type": extensions.INTERCEPTOR_BUILDER,
        f"{src}.interceptors.window.windowSeconds": s.window_seconds,
    }
    for i, name in enumerate(sink_names(), 1):
        sink = f"{AGENT}.sinks.{name}"
        props |= {
            f"{sink}.type": extensions.SINK,
            f"{sink}.channel": CHANNEL,
            f"{sink}.path": hdfs_base(s),
            f"{sink}.filePrefix": f"{FILE_PREFIX}-{i}",
            f"{sink}.fileSuffix": FILE_SUFFIX,
            f"{sink}.inUseSuffix": IN_USE_SUFFIX,
            f"{sink}.batchSize": SINK_BATCH,
            # A file lives at most one window length; a finished window's files close once idle.
            f"{sink}.rollSeconds": s.window_seconds,
            f"{sink}.idleSeconds": idle_seconds(s.window_seconds),
            f"{sink}.rollBytes": ROLL_BYTES,
            f"{sink}.callTimeoutSeconds": 60,
            # An idle sink looks at the channel this often (Flume's sink runner would back off up to 5 s).
            f"{sink}.pollMillis": 200,
        }
    if channel == "file":
        d = state_dir(s)
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

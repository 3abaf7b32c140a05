"""The Flume agent's configuration, rendered from the config layer (never edited by hand).

Kafka source -> channel -> HDFS sink, improving on the seed's ``kafkatohdfs.conf``:

- the source uses a stable consumer group (``settings.flume_consumer_group``) and commits offsets only
  after a batch is in the channel, starting from the earliest offset when the group is new, so records
  produced while no agent runs are picked up by the next run;
- the default channel is the durable FILE channel (its directories are keyed by the consumer group, so
  a crash leaves the events it held for the next run of the same group); the seed's MEMORY channel is
  kept as an option for throughput comparisons: it loses what it holds when the agent dies or stops;
- the source's interceptor (flume/WindowInterceptor.java) sets each event's ``window`` header from its
  ``timestamp`` header, which Flume 1.11's Kafka source sets to the Kafka record timestamp (the broker's
  LogAppendTime on our topic): the window start in UTC as ``Window.hdfs_dir`` lays it out, so the sink's
  path is ``<base>/%{window}``. It also keeps each record on one line and drops the other headers.
  Flume's own time escapes would do the bucketing too, at 10-30 us more agent CPU per event
  (``BENCH=flume make bench`` measures both).
  Files are JSON lines, named ``*.jsonl.tmp`` while open and renamed on close.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from carpipe.config import Settings
from flume import interceptor

Channel = Literal["file", "memory"]
CHANNELS: tuple[Channel, ...] = ("file", "memory")

AGENT = "carpipe"
SOURCE = "kafka-source"
CHANNEL = "channel"
SINK = "hdfs-sink"
# Parallel sinks on the one channel: Flume's HDFS sink hands every event to a writer thread and waits,
# so a single sink is bound by thread hand-off latency on busy cores. Each sink writes its own files.
SINKS = 4

WINDOW_HEADER = "window"  # set by WindowInterceptor: the window's directory below the base path

IN_USE_SUFFIX = ".tmp"
FILE_SUFFIX = ".jsonl"
FILE_PREFIX = "transactions"

# One source batch is one channel transaction and one Kafka offset commit: large enough for 20k events/s,
# and the bound on duplicates after a crash (see flume.hdfs_counts).
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


def hdfs_path(s: Settings) -> str:
    return f"{s.hdfs_url.rstrip('/')}{s.hdfs_base_path.rstrip('/')}/%{{{WINDOW_HEADER}}}"


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
        f"{src}.interceptors.window.type": interceptor.BUILDER,
        f"{src}.interceptors.window.windowSeconds": s.window_seconds,
    }
    for i, name in enumerate(sink_names(), 1):
        sink = f"{AGENT}.sinks.{name}"
        props |= {
            f"{sink}.type": "hdfs",
            f"{sink}.channel": CHANNEL,
            f"{sink}.hdfs.path": hdfs_path(s),
            f"{sink}.hdfs.filePrefix": f"{FILE_PREFIX}-{i}",
            f"{sink}.hdfs.fileSuffix": FILE_SUFFIX,
            f"{sink}.hdfs.inUseSuffix": IN_USE_SUFFIX,
            f"{sink}.hdfs.fileType": "DataStream",
            f"{sink}.hdfs.writeFormat": "Text",
            f"{sink}.serializer": "text",
            f"{sink}.serializer.appendNewline": "true",
            # The path holds no time escape (the window header carries the bucket): the agent's clock
            # is never read for it.
            f"{sink}.hdfs.useLocalTimeStamp": "false",
            # A file lives at most one window length; a finished window's files close once idle.
            f"{sink}.hdfs.rollInterval": s.window_seconds,
            f"{sink}.hdfs.idleTimeout": idle_seconds(s.window_seconds),
            f"{sink}.hdfs.rollSize": ROLL_BYTES,
            f"{sink}.hdfs.rollCount": 0,
            f"{sink}.hdfs.batchSize": SINK_BATCH,
            f"{sink}.hdfs.callTimeout": 60000,
            f"{sink}.hdfs.retryInterval": 10,
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

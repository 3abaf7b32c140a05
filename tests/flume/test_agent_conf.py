"""Unit tests (no services): the rendered agent configuration and the runner's pure helpers."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from carpipe.config import Settings
from carpipe.windows import UTC
from flume import agent_conf
from carpipe.webhdfs import HdfsFile
from flume.runner import parse_args, written_windows

S = Settings(window_seconds=900, hdfs_base_path="/Cars", topic="t", flume_consumer_group="g")
SINKS = [f"{agent_conf.AGENT}.sinks.{n}" for n in agent_conf.sink_names(S.topic_partitions)]
SINK = SINKS[0]
SRC = f"{agent_conf.AGENT}.sources.{agent_conf.SOURCE}"
CH = f"{agent_conf.AGENT}.channels.{agent_conf.channel_names(1)[0]}"


def test_sinks_are_ours_writing_below_the_base_path():
    props = agent_conf.agent_properties(S.model_copy(update={"hdfs_url": "hdfs://nn.example:8020/"}))
    assert props[f"{SINK}.type"] == "carpipe.flume.WindowSink"
    assert props[f"{SINK}.path"] == "hdfs://nn.example:8020/Cars"
    # The window header carries the bucket: no setting of Flume's HDFS sink (time escapes, local clock).
    assert not any(".hdfs." in k for k in props)


@pytest.mark.parametrize("seconds", [900, 20, 3600])
def test_source_interceptor_buckets_by_the_configured_window(seconds):
    props = agent_conf.agent_properties(S.model_copy(update={"window_seconds": seconds}))
    assert props[f"{SRC}.interceptors"] == "window"
    assert props[f"{SRC}.interceptors.window.type"] == "carpipe.flume.WindowInterceptor$Builder"
    assert props[f"{SRC}.interceptors.window.windowSeconds"] == seconds
    assert props[f"{SINK}.rollSeconds"] == seconds
    assert 5 <= props[f"{SINK}.idleSeconds"] <= 60


def test_one_lane_per_partition_each_partition_routed_to_one_channel_and_sink():
    props = agent_conf.agent_properties(S, partitions=4, resume={0: 10, 3: 7})
    channels, sinks = props[f"{agent_conf.AGENT}.channels"].split(), props[f"{agent_conf.AGENT}.sinks"].split()
    assert (channels, sinks) == (agent_conf.channel_names(4), agent_conf.sink_names(4))
    assert props[f"{SRC}.channels"].split() == channels
    assert (props[f"{SRC}.selector.type"], props[f"{SRC}.selector.header"]) == ("multiplexing", "partition")
    assert [props[f"{SRC}.selector.mapping.{p}"] for p in range(4)] == channels
    assert props[f"{SRC}.selector.default"] == channels[0]
    for sink, channel in zip(sinks, channels):
        k = f"{agent_conf.AGENT}.sinks.{sink}"
        assert props[f"{k}.channel"] == channel and props[f"{k}.filePrefix"] == "t"
        assert props[f"{k}.fileSuffix"] == ".jsonl" and props[f"{k}.resumeOffsets"] == "0:10,3:7"
    assert len({props[f"{agent_conf.AGENT}.channels.{c}.dataDirs"] for c in channels}) == 4
    assert len(agent_conf.agent_properties(S)[f"{agent_conf.AGENT}.sinks"].split()) == S.topic_partitions


def test_source_uses_stable_group_from_earliest():
    props = agent_conf.agent_properties(S)
    assert props[f"{SRC}.kafka.consumer.group.id"] == "g"
    assert props[f"{SRC}.kafka.topics"] == "t"
    assert props[f"{SRC}.kafka.bootstrap.servers"] == S.kafka_bootstrap
    assert props[f"{SRC}.kafka.consumer.auto.offset.reset"] == "earliest"


def test_file_channel_is_default_and_keyed_by_group():
    props = agent_conf.agent_properties(S)
    assert props[f"{CH}.type"] == "file"
    assert props[f"{CH}.checkpointDir"] == S.state_dir / "flume" / "g" / "channel-0" / "checkpoint"
    assert props[f"{CH}.transactionCapacity"] >= props[f"{SRC}.batchSize"]
    assert props[f"{CH}.transactionCapacity"] >= props[f"{SINK}.batchSize"]
    mem = agent_conf.agent_properties(S, "memory")
    assert mem[f"{CH}.type"] == "memory" and f"{CH}.checkpointDir" not in mem


def test_unknown_channel_is_rejected():
    with pytest.raises(ValueError, match="channel"):
        agent_conf.agent_properties(S, "jdbc")


def test_render_escapes_backslashes_for_java_properties():
    assert agent_conf.render({"a.pattern": r"[\r\n]", "b": 1}) == "a.pattern=[\\\\r\\\\n]\nb=1\n"
    text = agent_conf.render(agent_conf.agent_properties(S))
    assert f"{SINK}.inUseSuffix=.tmp\n" in text


def test_written_windows_groups_closed_files_modified_this_run():
    t0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    files = [HdfsFile("/b/2026-03-01/10-00-00/x.jsonl", 10, t0 + timedelta(seconds=5)),
             HdfsFile("/b/2026-03-01/10-00-00/y.jsonl", 5, t0 + timedelta(seconds=6)),
             HdfsFile("/b/2026-03-01/09-45-00/old.jsonl", 7, t0 - timedelta(minutes=10)),
             HdfsFile("/b/2026-03-01/10-00-00/z.jsonl.tmp", 3, t0 + timedelta(seconds=7))]
    assert written_windows(files, t0) == [{"path": "/b/2026-03-01/10-00-00", "files": 2, "bytes": 15}]


def test_runner_rejects_naive_or_garbled_times(capsys):
    for bad in ("2026-03-01T10:00:00", "yesterday"):
        with pytest.raises(SystemExit) as exc:
            parse_args(["--until", bad], S)
        assert exc.value.code == 2
    with pytest.raises(SystemExit):
        parse_args(["--until", "2026-03-01T10:00:00Z", "--run-seconds", "5"], S)
    args = parse_args(["--until", "2026-03-01T10:00:00Z", "--channel", "memory"], S)
    assert args.until == datetime(2026, 3, 1, 10, tzinfo=UTC) and args.channel == "memory"
    assert args.max_drain == S.grace_seconds

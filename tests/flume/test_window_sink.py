"""The agent's HDFS sink (flume/WindowSink.java) on the real HDFS: built as the agent builds it, driven
through Flume's sink API over a memory channel by a Java probe (tests/flume/SinkProbe.java); what it
wrote is read back over WebHDFS."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from carpipe.config import Settings
from flume import agent_conf, extensions
from carpipe.offset_files import SUFFIX, parse
from carpipe.webhdfs import list_files, read_lines, webhdfs
from tests.flume.java_probe import ProbeSession, compile_probe

pytestmark = pytest.mark.integration

PROBE = Path(__file__).with_name("SinkProbe.java")
W1, W2 = "2026-03-01/10-00-00", "2026-03-01/10-15-00"


@pytest.fixture(scope="module")
def classpath(tmp_path_factory, stack_up: Settings) -> str:
    s = stack_up
    return compile_probe(PROBE, tmp_path_factory.mktemp("probe"), ":".join(
        [str(s.hadoop_conf_dir), str(extensions.classes_dir(s)), str(s.jars_dir / "flume" / "*")]))


@pytest.fixture
def base(stack_up: Settings):
    path = f"/carpipe-tests/sink-{uuid.uuid4().hex[:10]}"
    yield path
    webhdfs(stack_up).delete(path, recursive=True)


@pytest.fixture
def sink(classpath, base, stack_up):
    """A probe session with the sink started (``**conf`` over sane defaults); ``.ask(*commands)``."""
    sessions = []

    def start(**conf: object) -> ProbeSession:
        settings = {"path": f"{stack_up.hdfs_url.rstrip('/')}{base}", "filePrefix": "p", "fileSuffix": SUFFIX,
                    "inUseSuffix": agent_conf.IN_USE_SUFFIX, "batchSize": 100, "idleSeconds": 60,
                    "pollMillis": 20} | conf
        sessions.append(ProbeSession(classpath, "SinkProbe"))
        sessions[-1].started = sessions[-1].ask("start " + " ".join(f"{k}={v}" for k, v in settings.items()))[0]
        return sessions[-1]
    yield start
    for session in sessions:
        session.close()


def put(window: str | None, body: bytes, offset: int, partition: int = 0) -> str:
    return f"put {window or '-'} {partition} {offset} {body.hex()}"


def files(s: Settings, base: str, window: str) -> dict[str, list[bytes]]:
    """File name -> its lines, for one window directory."""
    client = webhdfs(s)
    return {f.path.rsplit("/", 1)[1]: list(read_lines(client, f.path))
            for f in list_files(client, f"{base}/{window}")}


def test_one_batch_is_split_into_window_and_partition_files_named_by_their_offsets(sink, base, stack_up):
    events = [(W1, b'{"n": 1}', 0, 10), (W2, b'{"n": 2}', 0, 11), (W1, b'{"n": 3}', 1, 7), (None, b"no header", 0, 12),
              (W1, b"", 1, 8)]
    s = sink()
    s.ask(*(put(w, b, o, p) for w, b, p, o in events))
    assert s.ask("process", "queued", "counter EventDrainSuccessCount", "counter BatchUnderflowCount") == [
        "ok", "0", "5", "1"]
    # Committed means flushed: the lines are readable while the files are still open.
    assert files(stack_up, base, W1) == {"p+1+7.jsonl.tmp": [b'{"n": 3}', b""], "p+0+10.jsonl.tmp": [b'{"n": 1}']}
    assert s.ask("stop") == ["ok"]
    # Closed on stop: renamed to <prefix>+<partition>+<first offset>+<last offset><suffix>.
    assert files(stack_up, base, W1) == {"p+0+10+10.jsonl": [b'{"n": 1}'], "p+1+7+8.jsonl": [b'{"n": 3}', b""]}
    assert files(stack_up, base, W2) == {"p+0+11+11.jsonl": [b'{"n": 2}']}
    assert files(stack_up, base, "no-timestamp") == {"p+0+12+12.jsonl": [b"no header"]}
    assert all(parse(n) is not None for n in files(stack_up, base, W1))  # the names Python reads


def test_redeliveries_below_the_resume_offsets_and_repeats_are_dropped(sink, base, stack_up):
    s = sink(resumeOffsets="0:100,1:5")
    # Partition 0: 98-99 are in HDFS already (resume 100), then 100-101, then a replay of 100-101.
    s.ask(*(put(W1, f"a{o}".encode(), o) for o in (98, 99, 100, 101, 100, 101)),
          *(put(W1, f"b{o}".encode(), o, partition=1) for o in (4, 5)), "process")
    s.ask(*(put(W1, f"a{o}".encode(), o) for o in (101, 102)), "process", "stop")
    assert files(stack_up, base, W1) == {"p+0+100+102.jsonl": [b"a100", b"a101", b"a102"],
                                         "p+1+5+5.jsonl": [b"b5"]}
    assert s.ask("counter EventDrainSuccessCount") == ["10"]  # dropped ones leave the channel too


def test_an_offset_gap_starts_a_new_file_so_names_stay_exact(sink, base, stack_up):
    s = sink()
    s.ask(*(put(W1, f"{o}".encode(), o) for o in (1, 2, 5, 6)), "process", "stop")
    assert files(stack_up, base, W1) == {"p+0+1+2.jsonl": [b"1", b"2"], "p+0+5+6.jsonl": [b"5", b"6"]}


def test_batch_size_bounds_one_transaction(sink):
    s = sink(batchSize=3)
    s.ask(*(put(W1, b"x", o) for o in range(7)))
    assert s.ask("process", "queued", "counter BatchCompleteCount", "process", "queued") == [
        "ok", "4", "1", "ok", "1"]


def test_idle_files_close_and_big_files_roll(sink, base, stack_up):
    line = b"y" * 59  # 60 bytes with the newline
    s = sink(idleSeconds=1, rollBytes=100)
    s.ask(put(W1, line, 0), "process", put(W2, line, 1), put(W2, line, 2), "process", "sleep 1500",
          put(W2, line, 3), "process")  # W1 idle for 1.5 s: closed; W2 reached rollBytes=100 in the 2nd batch: rolled
    assert s.ask("counter ConnectionClosedCount", "counter ConnectionCreatedCount") == ["2", "3"]
    assert files(stack_up, base, W1) == {"p+0+0+0.jsonl": [line]}
    assert files(stack_up, base, W2) == {"p+0+1+2.jsonl": [line, line], "p+0+3.jsonl.tmp": [line]}


def test_hdfs_failure_rolls_the_batch_back_and_the_retry_writes_each_offset_once(sink, base, stack_up):
    client = webhdfs(stack_up)
    s = sink()
    s.ask(put(W1, b"1", 1), put(W1, b"2", 2), "process")  # an open file holding 1-2
    blocker = f"{base}/2026-03-02"
    client.write(blocker, b"a file where a window's parent directory belongs")
    s.ask(put(W1, b"3", 3), put("2026-03-02/00-00-00", b"4", 4))
    failed, *after = s.ask("process", "queued", "counter EventWriteFail", "counter EventDrainSuccessCount")
    assert failed.startswith("error\tprobe-sink: writing 2 event(s) to HDFS failed"), failed
    assert after == ["2", "1", "2"]  # both back in the channel, none counted as written
    client.delete(blocker)
    assert s.ask("process", "queued", "stop") == ["ok", "0", "ok"]
    # The open file was finalised at what it had flushed (1-2); the retry wrote 3 and 4 once each.
    assert files(stack_up, base, W1) == {"p+0+1+2.jsonl": [b"1", b"2"], "p+0+3+3.jsonl": [b"3"]}
    assert files(stack_up, base, "2026-03-02/00-00-00") == {"p+0+4+4.jsonl": [b"4"]}


def test_bad_configuration_is_refused_with_its_reason(sink):
    s = sink(path="")
    assert s.started.startswith("config-error\tpath (the HDFS base URI")
    for setting, message in [("batchSize=many", "batchSize must be a positive whole number, not 'many'"),
                             ("rollSeconds=0", "rollSeconds must be a positive whole number, not '0'"),
                             ("inUseSuffix=", "inUseSuffix must not be empty"),
                             ("resumeOffsets=0:x", "resumeOffsets must be partition:offset pairs")]:
        (answer,) = s.ask(f"start path=hdfs://nn:8020/x {setting}")
        assert answer.startswith("config-error\t" + message), answer

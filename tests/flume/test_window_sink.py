"""The agent's HDFS sink (flume/WindowSink.java) on the real HDFS: built as the agent builds it, driven
through Flume's sink API over a memory channel by a Java probe (tests/flume/SinkProbe.java); what it
wrote is read back over WebHDFS."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from carpipe.config import Settings
from flume import agent_conf, extensions
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
        settings = {"path": f"{stack_up.hdfs_url.rstrip('/')}{base}", "filePrefix": "p", "fileSuffix": ".jsonl",
                    "inUseSuffix": agent_conf.IN_USE_SUFFIX, "batchSize": 100, "idleSeconds": 60,
                    "pollMillis": 20} | conf
        sessions.append(ProbeSession(classpath, "SinkProbe"))
        sessions[-1].started = sessions[-1].ask("start " + " ".join(f"{k}={v}" for k, v in settings.items()))[0]
        return sessions[-1]
    yield start
    for session in sessions:
        session.close()


def put(window: str | None, body: bytes) -> str:
    return f"put {window or '-'} {body.hex()}"


def files(s: Settings, base: str, window: str) -> dict[str, list[bytes]]:
    """File name -> its lines, for one window directory."""
    client = webhdfs(s)
    return {f.path.rsplit("/", 1)[1]: list(read_lines(client, f.path))
            for f in list_files(client, f"{base}/{window}")}


def test_one_batch_is_split_into_its_windows_and_files_close_on_stop(sink, base, stack_up):
    events = [(W1, b'{"n": 1}'), (W2, b'{"n": 2}'), (W1, b'{"n": 3}'), (None, b"no header"), (W1, b"")]
    s = sink()
    s.ask(*(put(w, b) for w, b in events))
    assert s.ask("process", "queued", "counter EventDrainSuccessCount", "counter BatchUnderflowCount") == [
        "ok", "0", "5", "1"]
    # Committed means flushed: the lines are readable while the files are still open.
    assert {n.endswith(agent_conf.IN_USE_SUFFIX): v for n, v in files(stack_up, base, W1).items()} == {
        True: [b'{"n": 1}', b'{"n": 3}', b""]}
    assert s.ask("stop") == ["ok"]
    w1, w2, none = (files(stack_up, base, w) for w in (W1, W2, "no-timestamp"))
    assert list(w1.values()) == [[b'{"n": 1}', b'{"n": 3}', b""]]
    assert list(w2.values()) == [[b'{"n": 2}']] and list(none.values()) == [[b"no header"]]
    # Closed on stop: renamed without the in-use suffix, named prefix.<n>.suffix.
    for name in [*w1, *w2, *none]:
        prefix, number, suffix = name.split(".")
        assert (prefix, suffix) == ("p", "jsonl") and number.isdigit()


def test_batch_size_bounds_one_transaction(sink):
    s = sink(batchSize=3)
    s.ask(*(put(W1, b"x") for _ in range(7)))
    assert s.ask("process", "queued", "counter BatchCompleteCount", "process", "queued") == [
        "ok", "4", "1", "ok", "1"]


def test_idle_files_close_and_big_files_roll(sink, base, stack_up):
    line = b"y" * 59  # 60 bytes with the newline
    s = sink(idleSeconds=1, rollBytes=100)
    s.ask(put(W1, line), "process", put(W2, line), put(W2, line), "process", "sleep 1500", put(W2, line),
          "process")  # W1 idle for 1.5 s: closed; W2 reached rollBytes=100 in the 2nd batch: rolled
    assert s.ask("counter ConnectionClosedCount", "counter ConnectionCreatedCount") == ["2", "3"]
    w1, w2 = files(stack_up, base, W1), files(stack_up, base, W2)
    assert [n.endswith(agent_conf.IN_USE_SUFFIX) for n in w1] == [False]
    assert sorted((n.endswith(agent_conf.IN_USE_SUFFIX), len(lines)) for n, lines in w2.items()) == [
        (False, 2), (True, 1)]


def test_hdfs_failure_rolls_the_batch_back_and_the_retry_writes_it_once(sink, base, stack_up):
    client = webhdfs(stack_up)
    blocker = f"{base}/2026-03-01"
    client.write(blocker, b"a file where a window's parent directory belongs")
    s = sink()
    s.ask(put(W1, b"1"), put(W1, b"2"), put("2026-03-02/00-00-00", b"3"))
    failed, *after = s.ask("process", "queued", "counter EventWriteFail", "counter EventDrainSuccessCount")
    assert failed.startswith("error\tprobe-sink: writing 3 event(s) to HDFS failed"), failed
    assert after == ["3", "1", "0"]  # all three back in the channel, none counted as written
    client.delete(blocker)
    assert s.ask("process", "queued", "stop") == ["ok", "0", "ok"]
    assert list(files(stack_up, base, W1).values()) == [[b"1", b"2"]]
    assert list(files(stack_up, base, "2026-03-02/00-00-00").values()) == [[b"3"]]


def test_bad_configuration_is_refused_with_its_reason(sink):
    s = sink(path="")
    assert s.started.startswith("config-error\tpath (the HDFS base URI")
    for setting, message in [("batchSize=many", "batchSize must be a positive whole number, not 'many'"),
                             ("rollSeconds=0", "rollSeconds must be a positive whole number, not '0'"),
                             ("inUseSuffix=", "inUseSuffix must not be empty")]:
        (answer,) = s.ask(f"start path=hdfs://nn:8020/x {setting}")
        assert answer.startswith("config-error\t" + message), answer

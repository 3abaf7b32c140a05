"""The agent's interceptor (flume/WindowInterceptor.java) against the Python window math: compiled from
the source as the agent does, run through the real Flume interceptor API by a Java probe (no services)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from carpipe.config import get_settings
from carpipe.windows import UTC, Window
from flume import extensions
from tests.flume.java_probe import compile_probe, run_probe

PROBE = Path(__file__).with_name("InterceptorProbe.java")


@pytest.fixture(scope="module")
def classpath(tmp_path_factory) -> str:
    """The interceptor built as the agent builds it, plus the probe compiled once for the module."""
    s = get_settings()
    return compile_probe(PROBE, tmp_path_factory.mktemp("probe"),
                         f"{extensions.classes_dir(s)}:{s.jars_dir / 'flume' / '*'}")


@pytest.fixture
def probe(classpath):
    def run(lines: list[tuple[object, str, bytes]]) -> list[list[str]]:
        stdin = "".join(f"{seconds}\t{ts}\t{body.hex()}\n" for seconds, ts, body in lines)
        return [line.split("\t") for line in run_probe(classpath, "InterceptorProbe", stdin)]
    return run


def expected_dir(ts_ms: int, seconds: int) -> str:
    return Window.containing(datetime.fromtimestamp(ts_ms / 1000, UTC), seconds).hdfs_dir("").lstrip("/")


def test_window_header_is_the_python_window_dir_and_only_partition_and_offset_stay(probe):
    cases = []
    for seconds in (900, 20, 3600, 120):
        w = Window.containing(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), seconds)
        for ts in (w.start_ms, w.start_ms - 1, w.end_ms - 1, w.end_ms, 1_772_000_123_456, 0):
            cases.append((seconds, ts))
    out = probe([(seconds, str(ts), b"{}") for seconds, ts in cases])
    assert [row[0] for row in out] == [expected_dir(ts, seconds) for seconds, ts in cases]
    assert out[0][0] == "2026-12-31/23-45-00" and out[1][0] == "2026-12-31/23-30-00"
    # The sink names files by partition and offset; topic, key and timestamp are dropped.
    assert {row[2] for row in out} == {"offset,partition,window"}


def test_records_without_a_usable_timestamp_go_to_their_own_directory(probe):
    out = probe([(900, "-", b"x"), (900, "-1", b"x"), (900, "soon", b"x")])
    assert [row[0] for row in out] == ["no-timestamp"] * 3


@pytest.mark.parametrize("body, kept", [
    (b'{"transaction_id":"a","n":1}', b'{"transaction_id":"a","n":1}'),
    (b'{"a":\r\n"b"}\n', b'{"a":"b"}'),
    (b"\r\r\n\n", b""),
    (b"\xff\xfe\nnot utf-8", b"\xff\xfenot utf-8"),
    (b"", b""),
])
def test_each_record_stays_one_line_and_other_bytes_pass_unchanged(probe, body, kept):
    assert probe([(900, "1772000000000", body)])[0][1] == kept.hex()


def test_window_length_must_be_configured(probe):
    assert [row[0] for row in probe([("0", "1", b""), ("", "1", b"")])] == ["config-error"] * 2

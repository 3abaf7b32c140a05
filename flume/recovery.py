"""Finalising files a dead agent left open (``*.tmp``), and where the agent resumes: both from HDFS alone.

After a crash the sink's open files keep their ``.tmp`` name and their lease forever: the next agent
never reopens them, yet they hold records whose channel transaction was committed (so the channel will
not replay them). Recovery, run by the runner while it holds the group lock and no agent runs:

1. force HDFS lease recovery (flume/RecoverLeases.java: ``hdfs debug recoverLease`` for many files in
   one JVM), which finalises each file at what reached the DataNode;
2. cut a trailing partial line (bytes of a batch being written when the agent died);
3. commit it: its complete lines are consecutive offsets from the start its name states
   (flume/WindowSink.java), so ``start + lines - 1`` is its end; it is renamed to the committed name
   (carpipe.offset_files), or deleted when it holds no complete line.

Then ``resume_offsets``: per partition, one past the highest committed end. The runner commits these as
the consumer group's offsets and hands them to the sinks, which drop anything below them: lines of an
uncommitted batch that made it into a file, file-channel replays and Kafka re-deliveries are not
written twice, and what a lost channel held (memory channel, deleted state) is read from Kafka again.
The group's own committed offsets are no longer the record of what HDFS holds.
Assumes one consumer group (one runner) per HDFS base path and topic.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from carpipe.config import Settings
from carpipe.jvm import hadoop_java
from carpipe.offset_files import parse
from carpipe.webhdfs import CHUNK, IN_USE_SUFFIX, HdfsFile, WebHdfs

TAIL = 1 << 20


@dataclass(frozen=True)
class Recovered:
    path: str
    dropped_bytes: int
    committed: str | None  # the committed path; None when the file held no complete line (deleted)


def recover_leases(s: Settings, paths: list[str]) -> None:
    """One JVM for all paths (flume/RecoverLeases.java, a single-file Java program on Hadoop's client)."""
    cmd = hadoop_java(s, str(Path(__file__).with_name("RecoverLeases.java")),
                      *(f"{s.hdfs_url.rstrip('/')}{p}" for p in paths), heap="256m")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"lease recovery failed: {(out.stdout + out.stderr)[-3000:]}")


def complete_length(client: WebHdfs, path: str, length: int) -> int:
    """Length of the file up to and including its last newline."""
    end = length
    while end > 0:
        start = max(0, end - TAIL)
        with client.read(path, offset=start, length=end - start) as r:
            tail = r.read()
        cut = tail.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0


def settle_length(client: WebHdfs, path: str, length: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while client.status(path)["length"] != length:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path}: truncate to {length} did not settle in {timeout:.0f}s")
        time.sleep(1)


def count_lines(client: WebHdfs, path: str) -> int:
    with client.read(path, chunk_size=CHUNK) as chunks:
        return sum(chunk.count(b"\n") for chunk in chunks)


def close_recovered(client: WebHdfs, f: HdfsFile) -> Recovered:
    """After lease recovery: cut a partial last line, commit the file under the offsets it holds."""
    length = client.status(f.path)["length"]
    keep = complete_length(client, f.path, length)
    if keep < length and not client.truncate(f.path, keep):
        settle_length(client, f.path, keep)
    named = parse(f.path)
    if named is None:  # a file of the layout before offset names: what it holds is unknown
        target = f.path.removesuffix(IN_USE_SUFFIX)
    elif (lines := count_lines(client, f.path)) == 0:
        client.delete(f.path)
        return Recovered(f.path, length - keep, None)
    else:
        target = f"{f.path.rsplit('/', 1)[0]}/{named.committed(lines).name}"
    client.rename(f.path, target)
    return Recovered(f.path, length - keep, target)


def resume_offsets(files: list[HdfsFile], topic: str) -> dict[int, int]:
    """Per partition of ``topic``: the first offset no committed file holds beyond (highest end + 1)."""
    out: dict[int, int] = {}
    for f in files:
        named = parse(f.path)
        if named is not None and named.topic == topic and named.end is not None:
            out[named.partition] = max(out.get(named.partition, 0), named.end + 1)
    return out


def recover_open_files(s: Settings, client: WebHdfs, files: list[HdfsFile]) -> list[Recovered]:
    if any(not f.is_open for f in files):
        raise ValueError("only in-use files can be recovered")
    if not files:
        return []
    recover_leases(s, [f.path for f in files])
    return [close_recovered(client, f) for f in files]

"""Closing files a dead agent left open (``*.tmp``), so no committed record stays invisible.

After a crash the HDFS sink's open files keep their ``.tmp`` name and their lease forever: the next
agent never reopens them, yet they hold records whose channel transaction was committed (so they will
not be written again). Recovery, run by the runner while it holds the group lock and no agent runs:

1. force HDFS lease recovery (flume/RecoverLeases.java: ``hdfs debug recoverLease`` for many files in
   one JVM), which finalises each file at what reached the DataNode;
2. cut a trailing partial line: bytes of a batch that was being written when the agent died (that
   batch was never committed in the channel, so the next run writes it again in full);
3. rename it without ``.tmp``.

Complete lines of that uncommitted batch stay and become duplicates, which ``count_window`` reports.
Assumes one consumer group (one runner) per HDFS base path.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from carpipe.config import Settings
from carpipe.jvm import hadoop_java
from carpipe.webhdfs import IN_USE_SUFFIX, HdfsFile, WebHdfs

TAIL = 1 << 20


@dataclass(frozen=True)
class Recovered:
    path: str
    dropped_bytes: int


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


def close_recovered(client: WebHdfs, f: HdfsFile) -> Recovered:
    """After lease recovery: cut a partial last line, drop the in-use suffix."""
    length = client.status(f.path)["length"]
    keep = complete_length(client, f.path, length)
    if keep < length and not client.truncate(f.path, keep):
        settle_length(client, f.path, keep)
    client.rename(f.path, f.path.removesuffix(IN_USE_SUFFIX))
    return Recovered(f.path, length - keep)


def recover_open_files(s: Settings, client: WebHdfs, files: list[HdfsFile]) -> list[Recovered]:
    if any(not f.is_open for f in files):
        raise ValueError("only in-use files can be recovered")
    if not files:
        return []
    recover_leases(s, [f.path for f in files])
    return [close_recovered(client, f) for f in files]

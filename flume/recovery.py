"""Closing files a dead agent left open (``*.tmp``), so no committed record stays invisible.

After a crash the HDFS sink's open files keep their ``.tmp`` name and their lease forever: the next
agent never reopens them, yet they hold records whose channel transaction was committed (so they will
not be written again). Recovery, run by the runner while it holds the group lock and no agent runs:

1. force HDFS lease recovery (``hdfs debug recoverLease``), which finalises the file at what reached
   the DataNode;
2. cut a trailing partial line: bytes of a batch that was being written when the agent died (that
   batch was never committed in the channel, so the next run writes it again in full);
3. rename it without ``.tmp``.

Complete lines of that uncommitted batch stay and become duplicates, which ``count_window`` reports.
Assumes one consumer group (one runner) per HDFS base path.
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from carpipe.config import Settings
from flume.agent_conf import IN_USE_SUFFIX
from flume.hdfs_counts import HdfsFile, WebHdfs
from stack.services import Stack

TAIL = 1 << 20
PARALLEL = 4


@dataclass(frozen=True)
class Recovered:
    path: str
    dropped_bytes: int


def recover_lease(s: Settings, path: str) -> None:
    cmd = Stack(s).hdfs_java("org.apache.hadoop.hdfs.tools.DebugAdmin", "recoverLease",
                             "-path", f"{s.hdfs_url.rstrip('/')}{path}", "-retries", "12", heap="256m")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if out.returncode != 0 or "SUCCEEDED" not in out.stdout + out.stderr:
        raise RuntimeError(f"lease recovery failed for {path}: {(out.stdout + out.stderr)[-2000:]}")


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


def recover_file(s: Settings, client: WebHdfs, f: HdfsFile) -> Recovered:
    if not f.is_open:
        raise ValueError(f"{f.path} is not an in-use file")
    recover_lease(s, f.path)
    length = client.status(f.path)["length"]
    keep = complete_length(client, f.path, length)
    if keep < length and not client.truncate(f.path, keep):
        settle_length(client, f.path, keep)
    client.rename(f.path, f.path.removesuffix(IN_USE_SUFFIX))
    return Recovered(f.path, length - keep)


def recover_open_files(s: Settings, client: WebHdfs, files: list[HdfsFile]) -> list[Recovered]:
    """In parallel: each lease recovery is a JVM that mostly waits for the DataNode."""
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        return list(pool.map(lambda f: recover_file(s, client, f), files))

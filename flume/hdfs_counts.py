"""Counting what Flume wrote for a window, over WebHDFS (no Airflow, no JVM needed).

Layout: ``Window.hdfs_dir(base)`` holds files of JSON lines, one Kafka record value per line (poison
records included verbatim), ``*.tmp`` while Flume still has them open.

Delivery guarantee (the reconciliation relies on it): **at-least-once**. With the file channel nothing
the source has committed to Kafka is lost, even on a crash. Duplicates appear only after a crash
(SIGKILL, power loss, OOM) or a failed HDFS write, and only for the batches in flight at that moment: the
source batch put into the channel but not yet committed to Kafka (re-read on restart; <= SOURCE_BATCH
records) and the sink batches written to HDFS but not yet committed in the channel (re-taken on restart;
<= SINK_BATCH records for each of the SINKS sinks; a failed write rolls back the one sink batch it hits,
which is then written again in new files, see flume/WindowSink.java).
A clean stop (SIGTERM, what the runner does) produces none. ``count_window`` detects them: every line
has an identity (its ``transaction_id``, or for a line that is not a valid event, a hash of its bytes),
and ``duplicates = lines - distinct``. So a window reconciles when ``distinct`` equals the number of
Kafka records in the window; ``duplicates`` says how many extra copies HDFS holds and ``open_files``
says whether the window is still being written (or was orphaned by a crash; see flume.recovery).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from hdfs.client import InsecureClient, _Request

from carpipe.config import Settings
from carpipe.windows import UTC, Window, to_utc
from flume.agent_conf import IN_USE_SUFFIX

CHUNK = 1 << 20


class WebHdfs(InsecureClient):
    """HdfsCLI's client plus TRUNCATE, which it does not wrap (declared the way it declares its ops)."""

    _truncate = _Request("POST")

    def truncate(self, path: str, length: int) -> bool:
        """True when done; False while HDFS recovers the last block (the length then settles)."""
        return self._truncate(path, newlength=length).json()["boolean"]


def webhdfs(s: Settings) -> WebHdfs:
    return WebHdfs(s.webhdfs_url, timeout=60)


@dataclass(frozen=True)
class HdfsFile:
    path: str
    length: int
    modified: datetime

    @property
    def is_open(self) -> bool:
        return self.path.endswith(IN_USE_SUFFIX)


def list_files(client: WebHdfs, directory: str) -> list[HdfsFile]:
    """The files of a window directory; [] when it does not exist."""
    if client.status(directory, strict=False) is None:
        return []
    return [HdfsFile(f"{directory}/{name}", st["length"],
                     datetime.fromtimestamp(st["modificationTime"] / 1000, UTC))
            for name, st in client.list(directory, status=True) if st["type"] == "FILE"]


def window_dirs(client: WebHdfs, base: str, since: datetime) -> list[str]:
    """Every window directory under ``base`` whose window may end after ``since``, oldest first
    (a window lasts at most an hour, see carpipe.windows.check_length)."""
    base = base.rstrip("/")
    since = to_utc(since) - timedelta(hours=1)
    if client.status(base, strict=False) is None:
        return []
    out = []
    for day in sorted(client.list(base)):
        start = _parse(day, "%Y-%m-%d")
        if start is None or start + timedelta(days=1) <= since:
            continue
        for name in sorted(client.list(f"{base}/{day}")):
            start = _parse(f"{day} {name}", "%Y-%m-%d %H-%M-%S")
            if start is not None and start >= since:
                out.append(f"{base}/{day}/{name}")
    return out


def open_files(client: WebHdfs, base: str, since: datetime) -> list[HdfsFile]:
    """In-use (``.tmp``) files in window directories under ``base`` newer than ``since``."""
    return [f for d in window_dirs(client, base, since) for f in list_files(client, d) if f.is_open]


def read_lines(client: WebHdfs, path: str):
    """The file's lines as bytes, without the newline; a final unterminated fragment is yielded too."""
    rest = b""
    with client.read(path, chunk_size=CHUNK) as chunks:
        for chunk in chunks:
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            yield from lines
    if rest:
        yield rest


def identity(line: bytes) -> tuple[bool, str]:
    """(is a valid event, identity): the transaction_id of a JSON event, else a hash of the raw bytes."""
    try:
        obj = json.loads(line)
    except ValueError:
        obj = None
    if isinstance(obj, dict) and isinstance(obj.get("transaction_id"), str):
        return True, "id:" + obj["transaction_id"]
    return False, "raw:" + hashlib.blake2b(line, digest_size=16).hexdigest()


@dataclass
class WindowCount:
    window: str
    path: str
    files: int = 0
    bytes: int = 0
    lines: int = 0          # records in closed files (one line each)
    events: int = 0         # lines that are JSON objects with a transaction_id
    invalid: int = 0        # other lines (poison records), counted, never dropped
    distinct: int = 0       # distinct identities among all lines
    open_files: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.lines - self.distinct

    @property
    def closed(self) -> bool:
        return not self.open_files

    def as_dict(self) -> dict:
        return {**asdict(self), "duplicates": self.duplicates, "closed": self.closed}


def count_window(s: Settings, window: Window, base: str | None = None,
                 client: WebHdfs | None = None) -> WindowCount:
    """Count the records of one window's closed files; open files are listed, not counted."""
    client = client or webhdfs(s)
    path = window.hdfs_dir(base or s.hdfs_base_path)
    count = WindowCount(window=window.label(), path=path)
    seen: set[str] = set()
    for f in list_files(client, path):
        if f.is_open:
            count.open_files.append(f.path)
            continue
        count.files += 1
        count.bytes += f.length
        for line in read_lines(client, f.path):
            valid, ident = identity(line)
            count.lines += 1
            count.events += valid
            count.invalid += not valid
            seen.add(ident)
    count.distinct = len(seen)
    return count


def _parse(text: str, fmt: str) -> datetime | None:
    try:
        return datetime.strptime(text, fmt).replace(tzinfo=UTC)
    except ValueError:
        return None

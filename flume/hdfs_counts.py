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
A clean stop (SIGTERM, what the runner does) produces none. ``count_window`` detects them with the
platform's identity rule (carpipe.records): ``duplicates = lines - distinct``, where ``distinct``
counts distinct (identity, bytes) versions. So a window reconciles when ``distinct`` equals the number
of distinct Kafka records in the window; ``duplicates`` says how many extra copies HDFS holds,
``conflicts`` how many versions share an identity with another one (the same transaction_id with
other content: not Flume's doing, a producer's), and ``open_files`` whether the window is still being
written (or was orphaned by a crash; see flume.recovery).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hdfs.client import InsecureClient, _Request

from carpipe.config import Settings
from carpipe.records import ID_PREFIX, identity, version
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


@dataclass
class WindowCount:
    window: str
    path: str
    files: int = 0
    bytes: int = 0
    lines: int = 0          # records in closed files (one line each)
    events: int = 0         # lines whose identity is a transaction_id
    invalid: int = 0        # other lines (poison records), counted, never dropped
    distinct: int = 0       # distinct versions (identity and bytes) among all lines
    ids: int = 0            # distinct identities
    open_files: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.lines - self.distinct

    @property
    def conflicts(self) -> int:
        return self.distinct - self.ids


def count_window(s: Settings, window: Window, base: str | None = None,
                 client: WebHdfs | None = None) -> WindowCount:
    """Count the records of one window's closed files; open files are listed, not counted."""
    client = client or webhdfs(s)
    path = window.hdfs_dir(base or s.hdfs_base_path)
    count = WindowCount(window=window.label(), path=path)
    # Digests, not texts: a 6M-record window fits in memory. The bytes decide the identity, so
    # distinct bytes are distinct versions.
    versions: set[bytes] = set()
    ids: set[bytes] = set()
    for f in list_files(client, path):
        if f.is_open:
            count.open_files.append(f.path)
            continue
        count.files += 1
        count.bytes += f.length
        for line in read_lines(client, f.path):
            ident = identity(line)
            count.lines += 1
            count.events += ident.startswith(ID_PREFIX)
            versions.add(version(line))
            ids.add(version(ident.encode("utf-8", "surrogatepass")))
    count.invalid = count.lines - count.events
    count.distinct, count.ids = len(versions), len(ids)
    return count


def _parse(text: str, fmt: str) -> datetime | None:
    try:
        return datetime.strptime(text, fmt).replace(tzinfo=UTC)
    except ValueError:
        return None

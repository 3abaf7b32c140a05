"""HDFS over WebHDFS for the platform's Python side (no JVM): the client, window directories and
their files, reading lines.

Layout: ``Window.hdfs_dir(base)`` holds files of JSON lines, one Kafka record value per line (poison
records included verbatim), named ``*.tmp`` (IN_USE_SUFFIX) while their writer has them open.
"""


from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hdfs.client import InsecureClient, _Request

from carpipe.config import Settings
from carpipe.windows import UTC, to_utc

CHUNK = 1 << 20
# What a file is called while its writer still has it open (Flume's HDFS sink, the window sink):
# such a file is listed, never counted or read.
IN_USE_SUFFIX = ".tmp"


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


def files_since(client: WebHdfs, base: str, since: datetime) -> list[HdfsFile]:
    """The files of every window directory under ``base`` whose window may end after ``since``."""
    return [f for d in window_dirs(client, base, since) for f in list_files(client, d)]


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


def _parse(text: str, fmt: str) -> datetime | None:
    try:
        return datetime.strptime(text, fmt).replace(tzinfo=UTC)
    except ValueError:
        return None

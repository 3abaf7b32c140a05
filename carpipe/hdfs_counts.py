"""Counting what Flume wrote for a window, over WebHDFS (carpipe.webhdfs), for the reconciliation.

Delivery guarantee (the reconciliation relies on it): **exactly once per Kafka offset** (the commit
protocol and its failure cases: flume/WindowSink.java, flume/recovery.py). A crash, a kill or an HDFS or
Kafka restart leaves no duplicate line and no gap. Duplicates are still counted, for what no sink can
prevent (a producer writing one event twice) and for windows written before exactly-once, with the
platform's identity rule (carpipe.records): ``duplicates = lines - distinct``, where ``distinct``
counts distinct (identity, bytes) versions. So a window reconciles when ``distinct`` equals the number
of distinct Kafka records in the window; ``duplicates`` says how many extra copies HDFS holds,
``conflicts`` how many versions share an identity with another one (the same transaction_id with
other content: not Flume's doing, a producer's), and ``open_files`` whether the window is still being
written (or was orphaned by a crash; see flume.recovery).

Offsets: a committed file's name states the Kafka offsets its lines hold (carpipe.offset_files), so
``committed`` lists them with each file's commit time, for the reconciliation to compare with the
offsets Kafka stamped in the window (no gap, no overlap) and to time the ingest (carpipe.ingest_latency).
Files named otherwise (the old ``transactions-1.<n>.jsonl`` layout, another topic) are counted all the
same and listed in ``unnamed_files``: such a window cannot be audited by offsets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from carpipe.config import Settings
from carpipe.ingest_latency import CommittedFile
from carpipe.offset_files import parse
from carpipe.records import ID_PREFIX, identity, version
from carpipe.webhdfs import WebHdfs, list_files, read_lines, webhdfs
from carpipe.windows import Window

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
    committed: list[CommittedFile] = field(default_factory=list)   # closed files named by their offsets
    unnamed_files: list[str] = field(default_factory=list)         # closed files named otherwise
    misnamed: list[str] = field(default_factory=list)              # files whose lines disagree with their name

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
        lines = 0
        for line in read_lines(client, f.path):
            ident = identity(line)
            lines += 1
            count.events += ident.startswith(ID_PREFIX)
            versions.add(version(line))
            ids.add(version(ident.encode("utf-8", "surrogatepass")))
        count.lines += lines
        named = parse(f.path)
        if named is None or named.topic != s.topic:
            count.unnamed_files.append(f.path)
            continue
        count.committed.append(CommittedFile(named.partition, named.start, named.end,
                                             round(f.modified.timestamp() * 1000)))
        if lines != named.end - named.start + 1:
            count.misnamed.append(f"{f.path} holds {lines} line(s), its name says {named.end - named.start + 1}")
    count.invalid = count.lines - count.events
    count.distinct, count.ids = len(versions), len(ids)
    return count

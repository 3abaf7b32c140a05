"""What a window file's name says: the Kafka partition and the offset range its lines hold.

The Flume sink (flume/WindowSink.java, which formats the same names) writes each (window, partition)
into files of one contiguous offset run, line i holding offset ``start + i``:

    <topic>+<partition>+<start>+<end>.jsonl        committed: offsets start..end, both included
    <topic>+<partition>+<start>.jsonl.tmp          open (its end is not known yet)

A committed name is the commit (an HDFS rename is atomic), so what HDFS holds of a partition is
readable from names alone: recovery resumes after the highest end (flume.recovery), the audit checks
that a window's files cover exactly the offsets Kafka stamped in it (carpipe.hdfs_counts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from carpipe.webhdfs import IN_USE_SUFFIX

SUFFIX = ".jsonl"
_NAME = re.compile(r"^(?P<topic>[^+/]+)\+(?P<partition>\d+)\+(?P<start>\d+)(?:\+(?P<end>\d+))?"
                   + re.escape(SUFFIX) + r"(?P<open>" + re.escape(IN_USE_SUFFIX) + r")?$")


@dataclass(frozen=True)
class OffsetFile:
    topic: str
    partition: int
    start: int
    end: int | None  # None while open

    @property
    def name(self) -> str:
        if self.end is None:
            return f"{self.topic}+{self.partition}+{self.start}{SUFFIX}{IN_USE_SUFFIX}"
        return f"{self.topic}+{self.partition}+{self.start}+{self.end}{SUFFIX}"

    def committed(self, lines: int) -> "OffsetFile":
        """The committed name of this open file once it holds ``lines`` lines (lines >= 1)."""
        if lines < 1:
            raise ValueError("an empty file holds no offsets and is not committed")
        return OffsetFile(self.topic, self.partition, self.start, self.start + lines - 1)


def parse(name: str) -> OffsetFile | None:
    """The offsets a file name states (the last path segment); None for a name not in this layout."""
    m = _NAME.match(name.rsplit("/", 1)[-1])
    if m is None:
        return None
    start, end = int(m["start"]), None if m["end"] is None else int(m["end"])
    # An open file has no end yet, a committed one must have one, and it is not before the start.
    if bool(m["open"]) == (end is not None) or end is not None and end < start:
        return None
    return OffsetFile(m["topic"], int(m["partition"]), start, end)


@dataclass(frozen=True)
class Coverage:
    """How a partition's committed ranges compare with the offsets Kafka holds for the window."""
    partition: int
    expected: tuple[int, int]            # [first, last] stamped in the window; first > last: none
    missing: list[tuple[int, int]]       # expected offsets no file holds
    duplicated: list[tuple[int, int]]    # offsets more than one file holds
    outside: list[tuple[int, int]]       # offsets held that Kafka stamped outside the window

    @property
    def exact(self) -> bool:
        return not (self.missing or self.duplicated or self.outside)

    def describe(self) -> str:
        parts = [f"{what} {_ranges(r)}" for what, r in
                 (("missing", self.missing), ("duplicated", self.duplicated), ("outside the window", self.outside))
                 if r]
        return f"partition {self.partition}: " + "; ".join(parts)


def _ranges(ranges: list[tuple[int, int]]) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges)


def coverage(partition: int, first: int, last: int, held: list[tuple[int, int]]) -> Coverage:
    """Compare the ranges ``held`` ([start, end], inclusive) with the expected [first, last]."""
    events = sorted([(a, 1) for a, _ in held] + [(b + 1, -1) for _, b in held])
    missing, duplicated, outside = [], [], []
    depth = 0
    cuts = sorted({first, last + 1, *(x for x, _ in events)})
    # Walk elementary intervals between consecutive cut points, knowing how many ranges cover each.
    i = 0
    for lo, hi in zip(cuts, cuts[1:]):
        while i < len(events) and events[i][0] <= lo:
            depth += events[i][1]
            i += 1
        seg = (lo, hi - 1)
        inside = first <= lo and hi - 1 <= last
        if inside and depth == 0:
            _extend(missing, seg)
        if depth > 1:
            _extend(duplicated, seg)
        if not inside and depth > 0:
            _extend(outside, seg)
    return Coverage(partition, (first, last), missing, duplicated, outside)


def _extend(out: list[tuple[int, int]], seg: tuple[int, int]) -> None:
    if out and out[-1][1] + 1 == seg[0]:
        out[-1] = (out[-1][0], seg[1])
    else:
        out.append(seg)

"""How long a window's records took from Kafka to HDFS and to InfluxDB: p50 / p95 / max, per window.

Reading 6M records for their timestamps is out of the question, and not needed: the topic stamps at
append (LogAppendTime), so a partition's timestamps grow with its offsets, and a grid of offsets for
times (``AdminClient.list_offsets``, one probe per step across the window) says which offset run was
stamped in each step. A record is timed from the start of its step, so every latency is exact at the
grid's resolution: it overstates the true one by less than one step (``resolution_s``).

- to HDFS: until its file's commit (the file's HDFS modificationTime, set when the sink closes it; the
  rename that commits it follows at once). Each copy a file holds counts; offsets no file holds do not;
- to InfluxDB: until the Spark job finished loading the window (``loaded_ms`` of its window_summary),
  for every record Kafka stamped in the window.

Pure: the grid and the files come in as numbers (carpipe.tier_counts measures them).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass

# Grid probes per window at most: a 15-minute window is timed to 3 s, an hour to 12 s.
MAX_STEPS = 300


def step_seconds(window_seconds: int) -> int:
    return max(1, window_seconds // MAX_STEPS)


def grid_times(start_ms: int, end_ms: int, step_s: int) -> list[int]:
    """The step starts across [start, end), then the end (the last step may be shorter)."""
    return list(range(start_ms, end_ms, step_s * 1000)) + [end_ms]


@dataclass(frozen=True)
class Grid:
    """``offsets[p][k]``: the first offset of partition p stamped at or after ``times_ms[k]``, so step k
    holds offsets ``offsets[p][k] .. offsets[p][k + 1] - 1``."""
    times_ms: list[int]
    offsets: dict[int, list[int]]

    @property
    def resolution_s(self) -> int:
        return max((b - a for a, b in zip(self.times_ms, self.times_ms[1:])), default=0) // 1000


@dataclass(frozen=True)
class CommittedFile:
    partition: int
    start: int            # offsets start..end, both included
    end: int
    commit_ms: int


@dataclass(frozen=True)
class Latency:
    p50_s: float
    p95_s: float
    max_s: float
    records: int          # records timed
    resolution_s: int     # each latency overstates the true one by less than this


def to_hdfs(grid: Grid, files: list[CommittedFile]) -> Latency | None:
    """None when no file holds an offset stamped in the window."""
    hist: Counter[int] = Counter()
    for f in files:
        bounds = grid.offsets.get(f.partition)
        if not bounds:
            continue
        # Steps whose offset run meets [start, end]: from the one holding ``start`` on.
        k = max(0, bisect_right(bounds, f.start) - 1)
        while k + 1 < len(bounds) and bounds[k] <= f.end:
            n = min(bounds[k + 1] - 1, f.end) - max(bounds[k], f.start) + 1
            if n > 0:
                hist[f.commit_ms - grid.times_ms[k]] += n
            k += 1
    return _percentiles(hist, grid.resolution_s)


def to_influx(grid: Grid, loaded_ms: int) -> Latency | None:
    """None when Kafka stamped nothing in the window."""
    hist: Counter[int] = Counter()
    for bounds in grid.offsets.values():
        for k in range(len(bounds) - 1):
            if bounds[k + 1] > bounds[k]:
                hist[loaded_ms - grid.times_ms[k]] += bounds[k + 1] - bounds[k]
    return _percentiles(hist, grid.resolution_s)


def _percentiles(hist: Counter[int], resolution_s: int) -> Latency | None:
    """Nearest rank: the p-quantile is the smallest latency at least p of the records do not exceed."""
    total = sum(hist.values())
    if not total:
        return None
    values = sorted(hist)
    out, seen, i = [], 0, 0
    for pct in (50, 95):
        rank = -(-pct * total // 100)   # ceil(pct% of total), in integers
        while seen + hist[values[i]] < rank:
            seen += hist[values[i]]
            i += 1
        out.append(values[i] / 1000)
    return Latency(out[0], out[1], values[-1] / 1000, total, resolution_s)

"""The ingest latency from a grid of offsets for times and the files' offset ranges (pure; no service)."""

from __future__ import annotations

import pytest

from carpipe.ingest_latency import CommittedFile, Grid, Latency, grid_times, step_seconds, to_hdfs, to_influx

# A 3 s window at 1 s steps; partition 0 stamped offsets 10-13 in step 0, none in step 1, 14-19 in step 2.
GRID = Grid([0, 1000, 2000, 3000], {0: [10, 14, 14, 20]})


def test_step_and_grid_span_the_window_at_most_300_steps():
    assert [step_seconds(s) for s in (1, 60, 240, 900, 3600)] == [1, 1, 1, 3, 12]
    times = grid_times(0, 900_000, 3)
    assert (len(times), times[1], times[-1]) == (301, 3000, 900_000)
    # a last step shorter than the others still ends at the window end; the resolution is the longest
    assert grid_times(0, 10_000, 3) == [0, 3000, 6000, 9000, 10_000]
    assert Grid(grid_times(0, 10_000, 3), {}).resolution_s == 3


def test_hdfs_latency_counts_each_step_file_overlap_from_the_step_start():
    files = [CommittedFile(0, 10, 15, commit_ms=5000), CommittedFile(0, 16, 19, commit_ms=6000)]
    # 10-13 @ 5 s, 14-15 @ 5 - 2 = 3 s, 16-19 @ 6 - 2 = 4 s: 2 x 3 s, 4 x 4 s, 4 x 5 s
    assert to_hdfs(GRID, files) == Latency(p50_s=4.0, p95_s=5.0, max_s=5.0, records=10, resolution_s=1)


def test_offsets_outside_the_window_or_its_partitions_are_not_timed():
    files = [CommittedFile(0, 5, 11, commit_ms=4000),      # only 10 and 11 are the window's
             CommittedFile(0, 20, 30, commit_ms=99_000),   # stamped after the window
             CommittedFile(7, 10, 19, commit_ms=99_000)]   # a partition the grid does not know
    assert to_hdfs(GRID, files) == Latency(4.0, 4.0, 4.0, records=2, resolution_s=1)
    assert to_hdfs(GRID, []) is None


def test_copies_count_once_per_file_holding_them():
    files = [CommittedFile(0, 10, 19, commit_ms=3000), CommittedFile(0, 10, 13, commit_ms=3000)]
    assert to_hdfs(GRID, files).records == 14


def test_influx_latency_times_every_record_of_the_window_to_the_load():
    # step 0: 4 records @ 10 s, step 2: 6 records @ 8 s
    assert to_influx(GRID, loaded_ms=10_000) == Latency(8.0, 10.0, 10.0, records=10, resolution_s=1)
    assert to_influx(Grid([0, 1000], {0: [5, 5], 1: [9, 9]}), 10_000) is None


def test_percentiles_are_nearest_rank():
    # one record per 1 s step, loaded 100 s after the window start: latencies 1..100 s
    grid = Grid([i * 1000 for i in range(101)], {0: list(range(101))})
    lat = to_influx(grid, loaded_ms=100_000)
    assert (lat.p50_s, lat.p95_s, lat.max_s, lat.records) == (50.0, 95.0, 100.0, 100)
    # two partitions' steps merge into one distribution
    two = Grid([0, 1000, 2000], {0: [0, 1, 1], 1: [0, 0, 19]})
    assert to_influx(two, loaded_ms=2000) == Latency(p50_s=1.0, p95_s=1.0, max_s=2.0, records=20,
                                                     resolution_s=1)


@pytest.mark.parametrize("commit_ms, expected", [(2500, 0.5), (2001, 0.001)])
def test_latency_keeps_milliseconds(commit_ms, expected):
    assert to_hdfs(GRID, [CommittedFile(0, 14, 19, commit_ms)]).max_s == expected

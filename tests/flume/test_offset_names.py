"""Unit tests (no services): what file names say about offsets, and where recovery resumes from them."""

from __future__ import annotations

from datetime import datetime

import pytest

from carpipe.offset_files import OffsetFile, coverage, parse
from carpipe.webhdfs import HdfsFile
from carpipe.windows import UTC
from flume.recovery import resume_offsets

T = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("name, parsed", [
    ("car-transactions-logs+2+100+199.jsonl", OffsetFile("car-transactions-logs", 2, 100, 199)),
    ("/Cars/2026-03-01/10-00-00/t.x_y+0+5.jsonl.tmp", OffsetFile("t.x_y", 0, 5, None)),
    ("t+0+7+7.jsonl", OffsetFile("t", 0, 7, 7)),
    ("t+0+5.jsonl", None),              # committed without an end
    ("t+0+5+6.jsonl.tmp", None),        # open with an end
    ("t+0+9+3.jsonl", None),            # end before start
    ("transactions-1.1772000.jsonl", None),  # the layout before offset names
    ("t+0+5+6.json", None),
])
def test_names_parse_to_their_offsets_or_to_none(name, parsed):
    assert parse(name) == parsed


def test_names_round_trip_and_an_open_file_commits_by_its_line_count():
    open_file = OffsetFile("t", 1, 40, None)
    assert parse(open_file.name) == open_file
    assert open_file.committed(10) == OffsetFile("t", 1, 40, 49)
    assert parse(open_file.committed(10).name) == OffsetFile("t", 1, 40, 49)
    with pytest.raises(ValueError):
        open_file.committed(0)


def test_coverage_names_missing_duplicated_and_outside_ranges():
    assert coverage(0, 0, 99, [(50, 99), (0, 49)]).exact
    c = coverage(3, 0, 99, [(0, 39), (30, 60), (70, 120)])
    assert (c.missing, c.duplicated, c.outside) == ([(61, 69)], [(30, 39)], [(100, 120)])
    assert c.describe() == "partition 3: missing 61-69; duplicated 30-39; outside the window 100-120"
    assert coverage(0, 10, 9, []).exact                      # nothing stamped, nothing held
    assert coverage(0, 10, 9, [(10, 10)]).outside == [(10, 10)]
    assert coverage(0, 0, 9, []).missing == [(0, 9)]


def test_resume_is_one_past_the_highest_committed_offset_of_the_topic_per_partition():
    files = [HdfsFile(f"/Cars/d/w/{n}", 1, T) for n in (
        "t+0+0+99.jsonl", "t+0+100+149.jsonl", "t+1+7+7.jsonl", "t+2+50.jsonl.tmp",
        "other+0+0+999.jsonl", "transactions-1.5.jsonl")]
    assert resume_offsets(files, "t") == {0: 150, 1: 8}

"""Grafana's InfluxQL macro expansion, reproduced: time filter, interval, variables (pure logic)."""

from __future__ import annotations

import pytest

from carpipe.dashboards.macros import (ALL, MacroError, TimeRange, calculate_interval, escape_regex, expand,
                                       format_interval, format_variable, parse_duration, round_interval,
                                       variables_in)
from carpipe.dashboards.model import Variable

NOW = 1_800_000_000_000
BRAND = Variable("brand", "Brand", "SHOW TAG VALUES WITH KEY = car_brand")
BRAND_NO_ALL_VALUE = Variable("brand", "Brand", "q", all_value=None)
SINGLE = Variable("model", "Model", "q", multi=False, include_all=False)


def test_time_range_parsing():
    assert TimeRange.parse("now-6h", "now", now_ms=NOW) == TimeRange(NOW - 6 * 3_600_000, NOW)
    assert TimeRange.parse("now-15m", "now-5m", now_ms=NOW) == TimeRange(NOW - 900_000, NOW - 300_000)
    assert TimeRange.parse("1700000000000", "1700000060000") == TimeRange(1_700_000_000_000, 1_700_000_060_000)
    for bad in ("yesterday", "now-6x", "now+1h", ""):
        with pytest.raises(MacroError):
            TimeRange.parse(bad, now_ms=NOW)
    with pytest.raises(MacroError, match="ends before"):
        TimeRange.parse("now", "now-1h", now_ms=NOW)


def test_time_filter_is_inclusive_epoch_ms():
    rng = TimeRange(1_000, 61_000)
    assert expand("WHERE $timeFilter", rng, 1000) == "WHERE time >= 1000ms and time <= 61000ms"


@pytest.mark.parametrize("raw,rounded", [(5, 1), (12, 10), (900, 1000), (3_600, 5_000), (40_000, 30_000),
                                         (60_000, 60_000), (180_000, 120_000), (1_000_000, 900_000),
                                         (4_000_000, 3_600_000), (10**12, 31_536_000_000)])
def test_round_interval_follows_grafanas_ladder(raw, rounded):
    assert round_interval(raw) == rounded


def test_interval_from_range_points_and_min_interval():
    hour = TimeRange(0, 3_600_000)
    assert calculate_interval(hour, 1000) == 5_000          # 3.6 s -> 5 s
    assert calculate_interval(hour, 1000, "1m") == 60_000    # the panel's min interval is a floor
    assert calculate_interval(hour, 20, "1m") == 120_000     # 180 s -> 2 m, above the floor
    assert calculate_interval(TimeRange(0, 7 * 86_400_000), 1000, "1m") == 600_000


@pytest.mark.parametrize("ms,text", [(1, "1ms"), (500, "500ms"), (1000, "1s"), (90_000, "1m"), (60_000, "1m"),
                                     (7_200_000, "2h"), (86_400_000, "1d"), (0, "1ms")])
def test_interval_text_truncates_like_grafana(ms, text):
    assert format_interval(ms) == text


def test_interval_macros():
    q = "GROUP BY time($__interval) LIMIT $__interval_ms -- $interval"
    assert expand(q, TimeRange(0, 1), 120_000) == "GROUP BY time(2m) LIMIT 120000 -- 2m"


def test_parse_duration():
    assert [parse_duration(x) for x in ("500ms", "10s", "1m", "3h", "1d")] == [500, 10_000, 60_000, 10_800_000,
                                                                            86_400_000]
    with pytest.raises(MacroError):
        parse_duration("1.5h")


def test_escape_regex_like_grafana():
    assert escape_regex("ID.4") == r"ID\.4"
    assert escape_regex("a/b (c)|d$^*+?[]{}\\") == r"a\/b \(c\)\|d\$\^\*\+\?\[\]\{\}\\"
    assert escape_regex("Mercedes-Benz") == "Mercedes-Benz"


def test_multi_value_variable_is_a_regex_alternation():
    q = '"car_brand" =~ /^$brand$/'
    assert expand(q, TimeRange(0, 1), 1, [BRAND], {"brand": ["Toyota", "ID.4"]}) == r'"car_brand" =~ /^(Toyota|ID\.4)$/'
    assert expand(q, TimeRange(0, 1), 1, [BRAND], {"brand": ["Toyota"]}) == '"car_brand" =~ /^(Toyota)$/'
    assert expand("${brand}", TimeRange(0, 1), 1, [BRAND], {"brand": ["a", "b"]}) == "(a|b)"


def test_all_value():
    q = "/^$brand$/"
    assert expand(q, TimeRange(0, 1), 1, [BRAND]) == "/^.*$/"                         # default: All
    assert expand(q, TimeRange(0, 1), 1, [BRAND], {"brand": ALL}) == "/^.*$/"
    assert format_variable(BRAND_NO_ALL_VALUE, [ALL], q, ["BMW", "ID.4"]) == r"(BMW|ID\.4)"
    with pytest.raises(MacroError, match="option list"):
        format_variable(BRAND_NO_ALL_VALUE, ALL, q)
    with pytest.raises(MacroError, match="no All"):
        format_variable(SINGLE, ALL, q)


def test_single_value_variable_escaped_only_inside_a_regex():
    assert format_variable(SINGLE, "ID.4", '"car_model" =~ /^$model$/') == r"ID\.4"
    assert format_variable(SINGLE, "ID.4", "\"car_model\" = '$model'") == "ID.4"
    assert format_variable(SINGLE, "3 Series", "/^$model$/") == "3 Series"   # parseFloat() reads a number
    with pytest.raises(MacroError, match="several values"):
        format_variable(SINGLE, ["a", "b"], "'$model'")


def test_unknown_variables_are_errors():
    with pytest.raises(MacroError, match=r"unknown variable \$colour"):
        expand("/^$colour$/", TimeRange(0, 1), 1, [BRAND])
    with pytest.raises(MacroError, match="unknown variable"):
        expand("/^$brand$/", TimeRange(0, 1), 1, [BRAND], {"colour": ["red"]})


def test_variables_in():
    assert variables_in('WHERE "a" =~ /^$brand$/ AND "b" =~ /^${country}$/ AND $timeFilter '
                        "GROUP BY time($__interval) LIMIT $__interval_ms") == {"brand", "country"}

"""Every panel's InfluxQL, expanded as Grafana expands it, run on the real InfluxDB against known points:
each returns exactly the numbers worked out by hand from tests/dashboards/known_data.py.

Each panel is checked with every variable on All and with brand=(Toyota|Tesla), country=Germany.
A panel without a check here fails test_panel (KeyError), so new panels cannot go untested.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml
from pytest import approx

from carpipe.dashboards.definitions import dashboards
from carpipe.dashboards.grafana import ALERTS_FILE, DASHBOARDS_DIR
from carpipe.dashboards.macros import TimeRange, calculate_interval, expand, parse_duration
from carpipe.dashboards.panel_data import PanelData, run_panel, variable_options
from tests.dashboards.known_data import LATENCY, MINUTE, WINDOW, KnownData

pytestmark = pytest.mark.integration

FILTER = {"brand": ["Toyota", "Tesla"], "country": ["Germany"]}
HOUR = 60 * MINUTE


def by_minute(known: KnownData, points: list[list]) -> dict[int, float]:
    """Non-zero points keyed by minutes since the known data's minute 0."""
    return {(t - known.t0) // MINUTE: v for t, v in points if v}


def by_window(known: KnownData, points: list[list]) -> dict[int, float]:
    return {(t - known.w0) // WINDOW: v for t, v in points if v is not None}


def series(data: PanelData, known: KnownData, keyed=by_minute) -> dict[str, dict]:
    return {s.name: keyed(known, s.points) for s in data.series}


def assert_series(got: dict[str, dict], expected: dict[str, dict]) -> None:
    assert set(got) == set(expected)
    for name, points in got.items():
        assert points == approx(expected[name]), name


def rows(data: PanelData) -> dict[str, list]:
    """Table rows keyed by their first text column, without the time column."""
    out = {}
    for row in data.rows:
        values = row[1:]
        key = next(v for v in values if isinstance(v, str))
        out[key] = [v for v in values if not isinstance(v, str)]
    return out


# -- one check per panel: (known, data, filtered) -> asserts ------------------------------------------
def totals(k, d, filtered):
    got = {s.name: s.points[0][1] for s in d.series}
    assert got == approx({"transactions": 4, "revenue": 131_000, "average price": 32_750} if filtered else
                         {"transactions": 12, "revenue": 540_500.49, "average price": 540_500.49 / 12})


def tpm(k, d, filtered):
    assert d.interval == "1m"
    (s,) = d.series
    assert by_minute(k, s.points) == ({0: 2, 1: 2} if filtered else {0: 5, 1: 3, 5: 3, 6: 1})
    # fill(0): one point per minute of the range, zero where nothing sold
    assert len(s.points) == d.to_ms // MINUTE - d.from_ms // MINUTE + 1


def price_distribution(k, d, filtered):
    assert d.series == []
    assert d.bins == ([[20_000, 2], [30_000, 1], [40_000, 1]] if filtered else
                      [[20_000, 4], [30_000, 1], [40_000, 4], [50_000, 1], [60_000, 0], [70_000, 0],
                       [80_000, 1], [90_000, 1]])


def revenue_by_brand(k, d, filtered):
    expected = {"Toyota": {0: 87_500.5, 1: 24_000, 5: 26_000}, "Tesla": {0: 45_000, 1: 47_000, 5: 44_999.99},
                "BMW": {0: 80_000, 1: 90_000}, "Mercedes-Benz": {5: 55_000}, "Volkswagen": {6: 41_000}}
    assert_series(series(d, k), {b: expected[b] for b in (FILTER["brand"] if filtered else expected)})


def avg_price_by_brand(k, d, filtered):
    expected = {"Toyota": {0: 87_500.5 / 3, 1: 24_000, 5: 26_000}, "Tesla": {0: 45_000, 1: 47_000, 5: 44_999.99},
                "BMW": {0: 80_000, 1: 90_000}, "Mercedes-Benz": {5: 55_000}, "Volkswagen": {6: 41_000}}
    assert_series(series(d, k), {b: expected[b] for b in (FILTER["brand"] if filtered else expected)})


def by_brand(k, d, filtered):
    assert d.columns == ["time", "value", "revenue", "average price"]
    expected = {"Toyota": [137_500.5, 27_500.1], "Tesla": [136_999.99, 136_999.99 / 3], "BMW": [170_000, 85_000],
                "Mercedes-Benz": [55_000, 55_000], "Volkswagen": [41_000, 41_000]}
    got = rows(d)
    assert set(got) == (set(FILTER["brand"]) if filtered else set(expected))
    for brand, values in got.items():
        assert values == approx(expected[brand])


def by_country(k, d, filtered):
    expected = {"Germany": [307_000, 307_000 / 7], "France": [233_500.49, 233_500.49 / 5]}
    got = rows(d)
    assert set(got) == ({"Germany"} if filtered else set(expected))
    for country, values in got.items():
        assert values == approx(expected[country])


def by_branch(k, d, filtered):   # no branch variable: the same with and without the filters
    assert rows(d) == {"Berlin": approx([148_000, 37_000]), "Paris": approx([117_500.49, 117_500.49 / 3]),
                       "Munich": approx([135_000, 67_500]), "Hamburg": approx([24_000, 24_000]),
                       "Lyon": approx([116_000, 58_000])}


def top_models(k, d, filtered):
    assert d.columns == ["time", "transactions", "car_model", "revenue"]
    got = [(r[2], r[1], r[3]) for r in d.rows]
    if filtered:
        assert got[0] == ("Corolla", 2, 49_000)
        assert set(got[1:]) == {("Model 3", 1, 47_000), ("RAV4", 1, 35_000)}
    else:   # most sold first; the three models sold once in any order
        assert got[:3] == [("Corolla", 4, approx(102_500.5)), ("Model 3", 3, approx(136_999.99)),
                           ("X5", 2, 170_000)]
        assert set(got[3:]) == {("RAV4", 1, 35_000), ("C-Class", 1, 55_000), ("ID.4", 1, 41_000)}


def mismatch_count(k, d, filtered):
    assert [(s.name, s.points[0][1]) for s in d.series] == [("mismatched windows", 1)]


def tier_counts(k, d, filtered):
    assert series(d, k, by_window) == {"generator": {0: 100, 1: 60, 2: 40}, "kafka": {0: 100, 1: 60, 2: 40},
                                       "hdfs": {0: 100, 1: 58, 2: 31}, "influx": {0: 97, 1: 50, 2: 0}}


def dead_letters(k, d, filtered):
    assert series(d, k, by_window) == {"kafka": {0: 3, 1: 0}, "hdfs": {0: 3}}


def duplicates_conflicts(k, d, filtered):
    assert series(d, k, by_window) == {"duplicate lines": {0: 4, 1: 0, 2: 1}, "conflicts": {0: 2, 1: 0, 2: 0}}


def reconcile_lag(k, d, filtered):   # the pending window has no final verdict yet
    assert series(d, k, by_window) == {"seconds": {0: 150, 1: 200}}


def ingest_latency(k, d, filtered):   # the pending window has no latency yet
    assert series(d, k, by_window) == {
        f"{tier} {q}": {w: LATENCY[w][f"{tier}_latency_{q}_s"] for w in LATENCY}
        for tier in ("hdfs", "influx") for q in ("p50", "p95", "max")}


def mismatched_windows(k, d, filtered):
    assert d.columns == ["time", "generator", "kafka", "hdfs", "influx"]
    assert d.rows == [[k.w0 + WINDOW, 60, 60, 58, 50]]


CHECKS = {
    "sales_totals": totals, "sales_tpm": tpm, "sales_price_distribution": price_distribution,
    "sales_revenue_by_brand": revenue_by_brand, "sales_avg_price_by_brand": avg_price_by_brand,
    "sales_by_brand": by_brand, "sales_by_country": by_country, "sales_by_branch": by_branch,
    "sales_top_models": top_models, "health_mismatch_count": mismatch_count, "health_tier_counts": tier_counts,
    "health_dead_letters": dead_letters, "health_duplicates_conflicts": duplicates_conflicts,
    "health_reconcile_lag": reconcile_lag, "health_ingest_latency": ingest_latency,
    "health_mismatched_windows": mismatched_windows,
}
PANELS = [(d, p) for d in dashboards() for p in d.panels]


def grafana_target(dashboard_uid: str, panel_id: str) -> dict:
    board = json.loads((DASHBOARDS_DIR / f"{dashboard_uid}.json").read_text())
    (panel,) = [p for p in board["panels"] if p["description"].endswith(f"[panel {panel_id}]")]
    (target,) = panel["targets"]
    return target


@pytest.mark.parametrize("filtered", [False, True], ids=["all", "filtered"])
@pytest.mark.parametrize("board,panel", PANELS, ids=[p.id for _, p in PANELS])
def test_panel(influx, known, board, panel, filtered):
    # the query run here is the one in the checked-in Grafana JSON
    assert grafana_target(board.uid, panel.id)["query"] == panel.query
    rng = TimeRange(known.now - HOUR, known.now)
    data = run_panel(influx, board, panel, rng, FILTER if filtered and board.variables else None)
    assert "$" not in data.query.replace("$/", "")   # every macro and variable expanded
    CHECKS[panel.id](known, data, filtered and bool(board.variables))


def test_wider_buckets_keep_transactions_per_minute(influx, known):
    """Fewer data points -> 2m buckets: $__interval_ms scales the counts back to per-minute (floats)."""
    board = dashboards()[0]
    panel = board.panel("sales_tpm")
    rng = TimeRange(known.now - HOUR, known.now)
    data = run_panel(influx, board, panel, rng, max_data_points=20)
    assert data.interval == "2m" and "/ 120000" in data.query
    # minutes 0..6 sold 5, 3, 0, 0, 0, 3, 1; 2m buckets start at even epoch minutes
    expected = {0: 4.0, 4: 1.5, 6: 0.5} if (known.t0 // MINUTE) % 2 == 0 else {-1: 2.5, 1: 1.5, 5: 2.0}
    assert by_minute(known, data.series[0].points) == expected


def test_variable_options(influx, known):
    variables = {v.name: v for v in dashboards()[0].variables}
    assert variable_options(influx, variables["brand"]) == ["BMW", "Mercedes-Benz", "Tesla", "Toyota", "Volkswagen"]
    assert variable_options(influx, variables["country"]) == ["France", "Germany"]


def test_all_as_every_option(influx, known):
    """Without a custom all-value, All is every option as a regex alternation: same numbers as .*"""
    board = dashboards()[0]
    variables = [dataclasses.replace(v, all_value=None) for v in board.variables]
    options = {v.name: variable_options(influx, v) for v in variables}
    rng = TimeRange(known.now - HOUR, known.now)
    query = expand(board.panel("sales_totals").query, rng, 1000, variables, options=options)
    assert "/^(BMW|Mercedes-Benz|Tesla|Toyota|Volkswagen)$/" in query and "/^(France|Germany)$/" in query
    (row,) = influx.rows(query)
    assert (row["transactions"], row["revenue"]) == (12, approx(540_500.49))


def test_alert_rule_query(influx, known):
    """The provisioned rule's query over its relative range counts the mismatched window; over a range
    without one it returns no rows, which the rule maps to OK (noDataState)."""
    (group,) = yaml.safe_load(ALERTS_FILE.read_text())["groups"]
    (rule,) = group["rules"]
    a = next(q for q in rule["data"] if q["refId"] == "A")
    lookback = a["relativeTimeRange"]["from"] * 1000
    assert lookback == parse_duration("3h") and rule["noDataState"] == "OK"
    rng = TimeRange(known.now - lookback, known.now)
    query = expand(a["model"]["query"], rng, calculate_interval(rng, a["model"]["maxDataPoints"]))
    assert influx.rows(query)[0]["mismatched windows"] == 1
    before = TimeRange(known.now - lookback, known.w0 + WINDOW - 1)
    assert influx.rows(expand(a["model"]["query"], before, 1000)) == []

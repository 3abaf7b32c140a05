"""Run a panel's query against InfluxDB the way Grafana would, and shape the answer for a chart.

The query is expanded by ``macros`` (time range, interval, variables) and sent to InfluxDB's v1
/query endpoint; the result is turned into what the panel kind draws: series of [ms, value] points
(timeseries, windows), a table (bars, table), one value per column (stat) or bins (histogram).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from carpipe.dashboards.macros import DEFAULT_MAX_DATA_POINTS, TimeRange, calculate_interval, expand, format_interval
from carpipe.dashboards.model import Dashboard, Panel, Variable
from carpipe.influx import InfluxClient

_ALIAS_TAG = re.compile(r"\$tag_(\w+)")


@dataclass
class Series:
    name: str
    tags: dict[str, str]
    points: list[list]               # [epoch ms, value]


@dataclass
class PanelData:
    panel: str
    kind: str
    query: str                       # as sent to InfluxDB
    interval: str
    from_ms: int
    to_ms: int
    series: list[Series] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)   # table result
    rows: list[list] = field(default_factory=list)
    bins: list[list] = field(default_factory=list)      # histogram: [lower bound, count]
    no_value: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def variable_options(client: InfluxClient, var: Variable) -> list[str]:
    """The values a variable offers (its metadata query's "value" column), sorted."""
    return sorted({row["value"] for row in client.rows(var.query)})


def expanded_query(dash: Dashboard, panel: Panel, rng: TimeRange,
                   selected: Mapping[str, str | Sequence[str]] | None = None,
                   max_data_points: int = DEFAULT_MAX_DATA_POINTS,
                   options: Mapping[str, Sequence[str]] | None = None) -> tuple[str, int]:
    interval_ms = calculate_interval(rng, max_data_points, panel.min_interval)
    return expand(panel.query, rng, interval_ms, dash.variables, selected, options), interval_ms


def run_panel(client: InfluxClient, dash: Dashboard, panel: Panel, rng: TimeRange,
              selected: Mapping[str, str | Sequence[str]] | None = None,
              max_data_points: int = DEFAULT_MAX_DATA_POINTS) -> PanelData:
    options = {v.name: variable_options(client, v) for v in dash.variables if v.all_value is None}
    query, interval_ms = expanded_query(dash, panel, rng, selected, max_data_points, options)
    raw = client.query(query)[0].get("series") or []
    data = PanelData(panel.id, panel.kind, query, format_interval(interval_ms), rng.from_ms, rng.to_ms,
                     no_value=panel.no_value)
    if panel.result_format == "table":
        data.columns, data.rows = _table(raw)
    else:
        data.series = _series(raw, panel.alias)
    if panel.kind == "histogram":
        data.bins = histogram([v for s in data.series for _, v in s.points], panel.bucket_size)
        data.series = []
    return data


def _series(raw: list[dict], alias: str) -> list[Series]:
    out = []
    for s in raw:
        tags = s.get("tags") or {}
        for i, col in enumerate(s["columns"]):
            if col == "time":
                continue
            name = _ALIAS_TAG.sub(lambda m: tags.get(m.group(1), ""), alias).replace("$col", col) if alias \
                else " ".join([col, *tags.values()])
            out.append(Series(name, tags, [[row[0] // 1_000_000, row[i]] for row in s["values"]]))
    return out


def _table(raw: list[dict]) -> tuple[list[str], list[list]]:
    """All series as one table: time, the GROUP BY tags, then the value columns (Grafana's table format)."""
    if not raw:
        return [], []
    tag_keys = list((raw[0].get("tags") or {}).keys())
    value_cols = [c for c in raw[0]["columns"] if c != "time"]
    rows = []
    for s in raw:
        tags = s.get("tags") or {}
        for values in s["values"]:
            row = dict(zip(s["columns"], values))
            rows.append([row["time"] // 1_000_000, *(tags.get(k) for k in tag_keys),
                         *(row.get(c) for c in value_cols)])
    return ["time", *tag_keys, *value_cols], rows


def histogram(values: Sequence[float | None], bucket_size: float) -> list[list]:
    """Counts per bin [k*size, (k+1)*size), contiguous from the lowest to the highest non-empty bin
    (Grafana's histogram with bucket offset 0)."""
    counts: dict[int, int] = {}
    for v in values:
        if v is not None:
            k = math.floor(v / bucket_size)
            counts[k] = counts.get(k, 0) + 1
    if not counts:
        return []
    return [[k * bucket_size, counts.get(k, 0)] for k in range(min(counts), max(counts) + 1)]

"""The shape of a dashboard definition: template variables, panels (one InfluxQL query each) and dashboards.

Plain data: nothing here knows about Grafana's JSON or about the local page; both render from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from carpipe.dashboards.macros import parse_duration

# How a panel is drawn. Grafana: timeseries -> time series (lines), windows -> time series drawn as bars
# (one group per pipeline window), bars -> bar chart over a table result, histogram, stat, table.
PanelKind = Literal["timeseries", "windows", "bars", "histogram", "stat", "table"]
ResultFormat = Literal["time_series", "table"]


@dataclass(frozen=True)
class Variable:
    """A Grafana query variable, referenced in panel queries as ``$name`` inside a regex match
    (``"tag" =~ /^$name$/``) so that one, several or all values select the same way."""

    name: str
    label: str
    query: str                       # InfluxQL metadata query; its "value" column lists the options
    multi: bool = True
    include_all: bool = True
    all_value: str | None = ".*"     # what "All" expands to (None: every option, as (a|b|...))


@dataclass(frozen=True)
class Panel:
    id: str                          # stable slug: /dashboard/api/panels/<id>, tests, Grafana descriptions
    title: str
    kind: PanelKind
    query: str                       # raw InfluxQL with Grafana macros ($timeFilter, $__interval, $var)
    description: str
    alias: str = ""                  # Grafana alias pattern ($tag_<key>, $col); empty: the column name
    result_format: ResultFormat = "time_series"
    unit: str = "short"              # Grafana unit id
    width: int = 12                  # of Grafana's 24 grid columns
    height: int = 8
    min_interval: str | None = None  # lower bound of $__interval (Grafana's panel "Min interval")
    bucket_size: float | None = None  # histogram bin width
    no_value: str | None = None      # shown when the query returns no rows (e.g. "0" for a count)
    columns: tuple[str, ...] = ()    # table panels: the columns shown, in order ("time" included or not)

    def __post_init__(self) -> None:
        if self.kind in ("bars", "table") and self.result_format != "table":
            raise ValueError(f"panel {self.id}: {self.kind} panels read a table result")
        if self.columns and self.kind != "table":
            raise ValueError(f"panel {self.id}: only table panels choose columns")
        if self.kind == "histogram" and not self.bucket_size:
            raise ValueError(f"panel {self.id}: a histogram needs bucket_size")


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[Variable, ...] = ()
    tags: tuple[str, ...] = ("carpipe",)
    time_from: str = "now-6h"        # default time range: [time_from, now]
    refresh: str = "1m"              # auto-refresh period (Grafana syntax)
    refresh_seconds: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "refresh_seconds", parse_duration(self.refresh) // 1000)
        ids = [p.id for p in self.panels]
        if len(set(ids)) != len(ids):
            raise ValueError(f"dashboard {self.uid}: duplicate panel ids")

    def panel(self, panel_id: str) -> Panel:
        for p in self.panels:
            if p.id == panel_id:
                return p
        raise KeyError(panel_id)


@dataclass(frozen=True)
class Alert:
    """A Grafana-managed alert rule that fires while ``panel``'s query (one number) is above ``above``
    for a query range of the last ``lookback``."""

    uid: str
    title: str
    dashboard_uid: str
    panel_id: str
    summary: str
    lookback: str = "3h"
    above: float = 0
    every: str = "1m"                # evaluation interval of the rule group

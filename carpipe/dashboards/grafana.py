"""Grafana JSON from the dashboard definitions, built with grafana-foundation-sdk's builders.

The SDK has no InfluxDB query type, so ``InfluxQLQuery`` supplies one (the raw-InfluxQL target Grafana's
InfluxDB data source stores: query, rawQuery, resultFormat, alias). Everything else -- dashboards,
panels, variables, alert rules, server-side expressions -- comes from the SDK.

Output (checked in; ``python -m carpipe.dashboards`` rewrites it, ``--check`` fails when stale):
docker/grafana/dashboards/<uid>.json and docker/grafana/provisioning/alerting/carpipe-alerts.yaml.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Self

import yaml
from grafana_foundation_sdk.builders import (alerting, barchart, common, dashboard, expr, histogram, stat,
                                             table, timeseries)
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as alerting_model
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as dashboard_model

from carpipe.config import REPO_ROOT, Settings
from carpipe.dashboards.definitions import DATASOURCE_UID, MISMATCH_ALERT, dashboards
from carpipe.dashboards.macros import parse_duration
from carpipe.dashboards.model import Alert, Dashboard, Panel, Variable

GRAFANA_DIR = REPO_ROOT / "docker" / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
ALERTS_FILE = GRAFANA_DIR / "provisioning" / "alerting" / "carpipe-alerts.yaml"
ALERT_FOLDER = "carpipe"
DATASOURCE = dashboard_model.DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)
EXPRESSIONS = dashboard_model.DataSourceRef(type_val="__expr__", uid="__expr__")


class InfluxQLTarget(cogvariants.Dataquery):
    """A raw InfluxQL target of Grafana's InfluxDB data source."""

    def __init__(self, query: str, ref_id: str = "A", result_format: str = "time_series", alias: str = ""):
        self.query, self.ref_id, self.result_format, self.alias = query, ref_id, result_format, alias
        self.extra: dict[str, object] = {}

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"refId": self.ref_id, "datasource": DATASOURCE, "query": self.query,
                                  "rawQuery": True, "resultFormat": self.result_format}
        if self.alias:
            out["alias"] = self.alias
        return out | self.extra


class InfluxQLQuery(cogbuilder.Builder[InfluxQLTarget]):
    def __init__(self, query: str) -> None:
        self._internal = InfluxQLTarget(query)

    def build(self) -> InfluxQLTarget:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def result_format(self, result_format: str) -> Self:
        self._internal.result_format = result_format
        return self

    def alias(self, alias: str) -> Self:
        self._internal.alias = alias
        return self

    def with_option(self, key: str, value: object) -> Self:
        self._internal.extra[key] = value
        return self


def _target(p: Panel) -> InfluxQLQuery:
    return InfluxQLQuery(p.query).result_format(p.result_format).alias(p.alias)


def _panel(p: Panel, number: int):
    """The SDK panel builder for a definition, with what every kind shares."""
    legend = common.VizLegendOptions().display_mode(common_model.LegendDisplayMode.LIST) \
        .placement(common_model.LegendPlacement.BOTTOM).show_legend(True)
    if p.kind in ("timeseries", "windows"):
        b = timeseries.Panel().legend(legend).line_width(1).fill_opacity(10).show_points(
            common_model.VisibilityMode.AUTO)
        if p.kind == "windows":   # one bar group per window, at the window start
            b = b.draw_style(common_model.GraphDrawStyle.BARS).fill_opacity(80).bar_alignment(
                common_model.BarAlignment.AFTER)
    elif p.kind == "bars":
        b = barchart.Panel().legend(legend).x_field("value").show_value(common_model.VisibilityMode.NEVER) \
            .override_by_name("average price", [dashboard_model.DynamicConfigValue(
                "custom.axisPlacement", "right")])
    elif p.kind == "histogram":
        b = histogram.Panel().legend(legend).bucket_size(p.bucket_size).bucket_offset(0).fill_opacity(80)
    elif p.kind == "stat":
        b = stat.Panel().graph_mode(common_model.BigValueGraphMode.NONE).reduce_options(
            common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    else:
        b = table.Panel()
    if p.result_format == "table":   # the time of an aggregate over the range is only the range start
        b = b.with_transformation(_organize(p.columns))
    b = b.id(number).title(p.title).description(f"{p.description} [panel {p.id}]") \
        .datasource(DATASOURCE).with_target(_target(p)).unit(p.unit).span(p.width).height(p.height)
    if p.min_interval:
        b = b.interval(p.min_interval)
    if p.no_value is not None:
        b = b.no_value(p.no_value)
    return b


def _organize(columns: tuple[str, ...]) -> dashboard_model.DataTransformerConfig:
    """Grafana's organize transformation: hide the time column unless listed, order the listed ones."""
    grafana_name = {"time": "Time"}
    options: dict[str, object] = {"excludeByName": {} if "time" in columns else {"Time": True}}
    if columns:
        options["indexByName"] = {grafana_name.get(c, c): i for i, c in enumerate(columns)}
    return dashboard_model.DataTransformerConfig(id_val="organize", options=options)


def _variable(v: Variable):
    b = dashboard.QueryVariable(v.name).label(v.label).query(v.query).datasource(DATASOURCE) \
        .multi(v.multi).refresh(dashboard_model.VariableRefresh.ON_DASHBOARD_LOAD) \
        .sort(dashboard_model.VariableSort.ALPHABETICAL_ASC).current(dashboard_model.VariableOption(
            selected=True, text=["All"], value=["$__all"]))
    if v.include_all:
        b = b.include_all(True)
        if v.all_value is not None:
            b = b.all_value(v.all_value)
    return b


def dashboard_json(d: Dashboard) -> dict:
    b = dashboard.Dashboard(d.title).uid(d.uid).description(d.description).tags(list(d.tags)) \
        .time(d.time_from, "now").refresh(d.refresh).timezone("browser").editable() \
        .tooltip(dashboard_model.DashboardCursorSync.CROSSHAIR)
    for v in d.variables:
        b = b.with_variable(_variable(v))
    for number, p in enumerate(d.panels, start=1):
        b = b.with_panel(_panel(p, number))
    return _plain(b.build())


def alert_rules_document(alert: Alert, boards: tuple[Dashboard, ...]) -> dict:
    """Grafana's alerting file-provisioning format: one group with the rule built by the SDK.
    A: the panel's InfluxQL over the lookback; B: its last value; C: B > threshold."""
    board = next(d for d in boards if d.uid == alert.dashboard_uid)
    panel = board.panel(alert.panel_id)
    lookback_s = parse_duration(alert.lookback) // 1000
    rule = (
        alerting.Rule(alert.title).uid(alert.uid).condition("C").for_val("0s")
        .no_data_state("OK")          # no mismatched window -> no rows -> not alerting
        .exec_err_state("Error")
        .annotations({"summary": alert.summary, "__dashboardUid__": board.uid,
                      "__panelId__": str(board.panels.index(panel) + 1)})
        .labels({"team": "carpipe", "severity": "critical"})
        .with_query(alerting.Query("A").datasource_uid(DATASOURCE_UID)
                    .relative_time_range(alerting_model.RelativeTimeRange(from_val=lookback_s, to=0))
                    .model(InfluxQLQuery(panel.query).with_option("intervalMs", 1000)
                           .with_option("maxDataPoints", 43200)))
        .with_query(alerting.Query("B").datasource_uid("__expr__").model(
            expr.TypeReduce().ref_id("B").expression("A").reducer("last").datasource(EXPRESSIONS)))
        .with_query(alerting.Query("C").datasource_uid("__expr__").model(
            expr.TypeThreshold().ref_id("C").expression("B").datasource(EXPRESSIONS).conditions([
                expr.ExprTypeThresholdConditions().evaluator(
                    expr.ExprTypeThresholdConditionsEvaluator().type("gt").params([alert.above]))])))
    )
    rule_json = _plain(rule.build())
    for key in ("folderUID", "orgID", "ruleGroup"):   # given by the group in the file format
        rule_json.pop(key, None)
    group = {"orgId": 1, "name": "carpipe-reconciliation", "folder": ALERT_FOLDER, "interval": alert.every,
             "rules": [rule_json]}
    return {"apiVersion": 1, "groups": [group]}


def _plain(obj) -> dict:
    return json.loads(json.dumps(obj, cls=JSONEncoder))


def rendered_files(settings: Settings | None = None) -> dict[Path, str]:
    """Every generated file and its content."""
    boards = dashboards(settings)
    files = {DASHBOARDS_DIR / f"{d.uid}.json": json.dumps(dashboard_json(d), indent=2, sort_keys=True) + "\n"
             for d in boards}
    header = "# Generated by `python -m carpipe.dashboards` from carpipe/dashboards; do not edit.\n"
    files[ALERTS_FILE] = header + yaml.safe_dump(alert_rules_document(MISMATCH_ALERT, boards), sort_keys=False,
                                                 width=120)
    return files


def stale_files(settings: Settings | None = None) -> list[Path]:
    return [path for path, text in rendered_files(settings).items()
            if not path.exists() or path.read_text() != text]


def write_files(settings: Settings | None = None) -> list[Path]:
    """Write what is stale; returns the paths written."""
    files = rendered_files(settings)
    written = []
    for path in stale_files(settings):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path])
        written.append(path)
    return written

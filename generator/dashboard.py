"""The /dashboard blueprint: the platform's own view of the Grafana dashboards, for users without Grafana.

Driven by the same definitions as the Grafana JSON (carpipe.dashboards.definitions): the page lists the
panels, and each chart asks ``/dashboard/api/panels/<id>`` for its data, which runs the panel's InfluxQL
server-side, with Grafana's macros expanded for the requested range and variables, against
settings.influx_url / settings.influx_db. Charts are drawn by Chart.js (vendored under
static/vendor/chartjs) and refresh on each dashboard's refresh period.

Register with ``app.register_blueprint(bp, settings=settings)``; without settings it uses get_settings().
"""

from __future__ import annotations

import threading

from flask import Blueprint, abort, current_app, jsonify, render_template, request

from carpipe.config import Settings, get_settings
from carpipe.dashboards.definitions import dashboards
from carpipe.dashboards.macros import DEFAULT_MAX_DATA_POINTS, MacroError, TimeRange
from carpipe.dashboards.model import Dashboard, Panel
from carpipe.dashboards.panel_data import run_panel, variable_options
from carpipe.influx import InfluxClient, InfluxError, client_from_settings

CHARTJS_VERSION = "4.6.1"
QUERY_TIMEOUT = 20        # seconds one panel query may take
MAX_POINTS_LIMIT = 5000   # upper bound for ?maxDataPoints (a browser does not need more)

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates",
               static_folder="static", static_url_path="/static")


@bp.record
def _configure(state) -> None:
    state.app.extensions["dashboard"] = state.options.get("settings") or get_settings()


def _settings() -> Settings:
    return current_app.extensions["dashboard"]


_local = threading.local()


def _client() -> InfluxClient:
    """One client per thread (requests.Session is not meant to be shared across gunicorn's threads), kept
    so that its connection to InfluxDB is reused by the thread's next request."""
    s = _settings()
    key = (s.influx_url, s.influx_db, s.influx_user)
    if getattr(_local, "key", None) != key:
        _local.key = key
        _local.client = client_from_settings(s, timeout=QUERY_TIMEOUT, retries=1)
    return _local.client


def _find_panel(panel_id: str) -> tuple[Dashboard, Panel]:
    for d in dashboards(_settings()):
        for p in d.panels:
            if p.id == panel_id:
                return d, p
    abort(404, description=f"no panel {panel_id!r}")


def _definition(d: Dashboard) -> dict:
    return {"uid": d.uid, "title": d.title, "description": d.description, "time_from": d.time_from,
            "refresh_seconds": d.refresh_seconds,
            "variables": [{"name": v.name, "label": v.label, "multi": v.multi, "include_all": v.include_all}
                          for v in d.variables],
            "panels": [{"id": p.id, "title": p.title, "kind": p.kind, "unit": p.unit, "width": p.width,
                        "description": p.description, "no_value": p.no_value, "columns": list(p.columns)}
                       for p in d.panels]}


@bp.get("")
def page():
    return render_template("dashboard.html", chartjs_version=CHARTJS_VERSION)


@bp.get("/api/dashboards")
def definitions():
    return jsonify([_definition(d) for d in dashboards(_settings())])


@bp.get("/api/variables/<name>")
def variable(name: str):
    for d in dashboards(_settings()):
        for v in d.variables:
            if v.name == name:
                return jsonify(name=name, options=variable_options(_client(), v))
    abort(404, description=f"no variable {name!r}")


@bp.get("/api/panels/<panel_id>")
def panel_data(panel_id: str):
    """?from=now-6h&to=now (or epoch ms), &var-<name>=value (repeatable; none: All), &maxDataPoints=N."""
    d, p = _find_panel(panel_id)
    try:
        rng = TimeRange.parse(request.args.get("from", d.time_from), request.args.get("to", "now"))
        points = int(request.args.get("maxDataPoints", DEFAULT_MAX_DATA_POINTS))
    except (MacroError, ValueError) as exc:
        abort(400, description=str(exc))
    if not 1 <= points <= MAX_POINTS_LIMIT:
        abort(400, description=f"maxDataPoints must be within 1..{MAX_POINTS_LIMIT}")
    selected = {v.name: request.args.getlist(f"var-{v.name}") for v in d.variables
                if request.args.getlist(f"var-{v.name}")}
    try:
        return jsonify(run_panel(_client(), d, p, rng, selected, points).as_dict())
    except MacroError as exc:
        abort(400, description=str(exc))
    except InfluxError as exc:
        return jsonify(error="influxdb_error", message=str(exc)), 502

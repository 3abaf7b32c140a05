"""The /dashboard blueprint over HTTP: on a server reading the known test data, and registered in the
live generator service (settings.generator_url), which reads the pipeline's database."""

from __future__ import annotations

import pytest
import requests
from pytest import approx

from carpipe.dashboards.definitions import dashboards
from tests.dashboards.known_data import MINUTE

pytestmark = pytest.mark.integration

HOUR = 60 * MINUTE


def get(url: str, **params) -> requests.Response:
    return requests.get(url, params=params, timeout=30)


def test_definitions_are_served(dash_server):
    served = get(f"{dash_server}/dashboard/api/dashboards").json()
    assert [(d["uid"], [p["id"] for p in d["panels"]]) for d in served] == \
           [(d.uid, [p.id for p in d.panels]) for d in dashboards()]
    assert served[0]["variables"][0] == {"name": "brand", "label": "Brand", "multi": True, "include_all": True}
    assert served[0]["refresh_seconds"] == 60


def test_variable_options(dash_server):
    r = get(f"{dash_server}/dashboard/api/variables/country")
    assert r.json() == {"name": "country", "options": ["France", "Germany"]}
    assert get(f"{dash_server}/dashboard/api/variables/colour").status_code == 404


def test_panel_data_for_a_range_and_selected_values(dash_server, known):
    r = get(f"{dash_server}/dashboard/api/panels/sales_totals", **{
        "from": known.now - HOUR, "to": known.now, "var-brand": ["Toyota", "Tesla"], "var-country": "Germany"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert f"time >= {known.now - HOUR}ms and time <= {known.now}ms" in body["query"]
    assert '"car_brand" =~ /^(Toyota|Tesla)$/ AND "country" =~ /^(Germany)$/' in body["query"]
    assert {s["name"]: s["points"][0][1] for s in body["series"]} == approx(
        {"transactions": 4, "revenue": 131_000, "average price": 32_750})


def test_panel_data_interval_follows_max_data_points(dash_server, known):
    body = get(f"{dash_server}/dashboard/api/panels/sales_tpm", **{
        "from": known.now - HOUR, "to": known.now, "maxDataPoints": 20}).json()
    assert body["interval"] == "2m" and "GROUP BY time(2m)" in body["query"]


@pytest.mark.parametrize("params,status,message", [
    ({"from": "yesterday"}, 400, "not a time"),
    ({"from": "now", "to": "now-1h"}, 400, "ends before"),
    ({"maxDataPoints": "0"}, 400, "maxDataPoints"),
    ({"maxDataPoints": "many"}, 400, "invalid literal"),
])
def test_bad_requests(dash_server, params, status, message):
    r = get(f"{dash_server}/dashboard/api/panels/sales_tpm", **params)
    assert r.status_code == status and message in r.text


def test_unknown_panel(dash_server):
    assert get(f"{dash_server}/dashboard/api/panels/nope").status_code == 404


def test_live_generator_serves_the_dashboard(stack_up):
    """Registered in the platform's Flask app: page, vendored Chart.js and a panel query on ETL_Project."""
    base = stack_up.generator_url
    page = get(f"{base}/dashboard")
    assert page.status_code == 200 and "vendor/chartjs/chart.umd.min.js" in page.text
    assert get(f"{base}/dashboard/static/vendor/chartjs/chart.umd.min.js").status_code == 200
    r = get(f"{base}/dashboard/api/panels/health_mismatch_count", **{"from": "now-24h"})
    assert r.status_code == 200, r.text
    assert f'FROM "{stack_up.audit_measurement}"' in r.json()["query"] and "$" not in r.json()["query"]

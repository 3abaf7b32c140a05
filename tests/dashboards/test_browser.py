"""The /dashboard page in headless Chromium (Debian's `chromium`, driven by Playwright; no browser
download): after the known points are written, every chart and table shows their numbers, the
variables filter the panels, the page refreshes itself, and a screenshot is kept in tests/artifacts."""

from __future__ import annotations

import pytest

from carpipe.dashboards.definitions import HEALTH_UID, SALES_UID
from tests.dashboards.browser import (ALL_LOADED, ARTIFACTS, CHART_DATA, SCREENSHOT, TIMEOUT_MS, browser_page,
                                     stat_values)
from tests.dashboards.known_data import MINUTE, WINDOW

pytestmark = pytest.mark.integration


@pytest.fixture
def page(dash_server, tmp_path):
    with browser_page(tmp_path / "profile") as p:
        yield p


def total(values: list) -> float:
    return sum(v for v in values if v is not None)


def test_dashboard_page_shows_the_known_data(page, dash_server, known):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # a fixed range around the known points (Grafana's ?from=&to=), so the picture does not depend on when
    # in the session this runs
    frm = known.w0 - 5 * MINUTE
    to = max(known.w0 + 2 * WINDOW, known.t0 + 7 * MINUTE) + 5 * MINUTE
    page.goto(f"{dash_server}/dashboard?refresh=3s&from={frm}&to={to}")
    page.wait_for_function(ALL_LOADED, timeout=TIMEOUT_MS)
    assert page.evaluate("window.carpipeDashboard.errors") == {}
    charts = page.evaluate(CHART_DATA)

    # transactions per minute: 12 sales in all, whatever the bucket width the page's size asked for
    tpm = charts["sales_tpm"]["datasets"][0]
    interval_min = int(page.evaluate("window.carpipeDashboard.loaded.sales_tpm.interval")[:-1])
    assert total(tpm["data"]) * interval_min == pytest.approx(12)
    assert charts["sales_price_distribution"]["datasets"][0]["data"] == [4, 1, 4, 1, 0, 0, 1, 1]
    brands = charts["sales_by_brand"]
    assert brands["labels"] == ["BMW", "Toyota", "Tesla", "Mercedes-Benz", "Volkswagen"]   # by revenue
    assert brands["datasets"][0]["data"] == pytest.approx([170_000, 137_500.5, 136_999.99, 55_000, 41_000])
    assert {d["label"] for d in charts["sales_revenue_by_brand"]["datasets"]} == \
           {"BMW", "Toyota", "Tesla", "Mercedes-Benz", "Volkswagen"}
    tiers = charts["health_tier_counts"]
    assert [d["label"] for d in tiers["datasets"]] == ["generator", "kafka", "hdfs", "influx"]
    assert [d["data"] for d in tiers["datasets"]] == [[100, 60, 40], [100, 60, 40], [100, 58, 31], [97, 50, 0]]
    assert charts["health_reconcile_lag"]["datasets"][0]["data"] == [150, 200]
    assert stat_values(page, "sales_totals")["transactions"] == "12"
    assert stat_values(page, "health_mismatch_count") == {"mismatched windows": "1"}
    models = page.locator('[data-panel="sales_top_models"] tbody tr')
    assert models.count() == 6 and models.first.inner_text().split("\t")[:2] == ["Corolla", "4"]
    assert page.locator('[data-panel="health_mismatched_windows"] tbody tr').count() == 1

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 50_000

    # the variables filter the panels (brand Toyota or Tesla, country Germany: 4 sales)
    page.select_option('select[data-variable="brand"]', ["Toyota", "Tesla"])
    page.select_option('select[data-variable="country"]', ["Germany"])
    page.wait_for_function("window.carpipeDashboard.loaded.sales_totals.query.includes('/^(Germany)$/')",
                           timeout=TIMEOUT_MS)
    page.wait_for_function("document.querySelector('[data-panel=sales_totals] .v').textContent === '4'",
                           timeout=TIMEOUT_MS)
    # each panel redraws when its own query returns: wait for the histogram's filtered total too
    page.wait_for_function("() => window.carpipeDashboard.charts.sales_price_distribution.data.datasets[0].data"
                           ".reduce((a, b) => a + (b || 0), 0) === 4", timeout=TIMEOUT_MS)
    assert page.evaluate(CHART_DATA)["sales_price_distribution"]["datasets"][0]["data"] == [2, 1, 1]

    # and the page refreshes itself (every 3 s here)
    before = page.evaluate("({...window.carpipeDashboard.refreshes})")
    page.wait_for_function(f"""() => {{ const r = window.carpipeDashboard.refreshes;
        return r["{SALES_UID}"] > {before[SALES_UID]} + 1 && r["{HEALTH_UID}"] > {before[HEALTH_UID]} + 1; }}""",
                           timeout=TIMEOUT_MS)
    assert errors == []

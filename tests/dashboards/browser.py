"""Headless Chromium (Debian's `chromium`, driven by Playwright; no browser download) on the /dashboard
page, and what the tests read back from it: the charts' data and the stat values."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from carpipe.config import REPO_ROOT
from carpipe.dashboards.definitions import HEALTH_UID, SALES_UID, dashboards

ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
SCREENSHOT = ARTIFACTS / "dashboard.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 60_000

CHART_DATA = """() => Object.fromEntries(Object.entries(window.carpipeDashboard.charts).map(([id, c]) => [id, {
    type: c.config.type, labels: c.data.labels || [],
    datasets: c.data.datasets.map(d => ({label: d.label,
                                         data: d.data.map(p => (p !== null && typeof p === "object") ? p.y : p)}))
}]))"""
ALL_LOADED = f"""() => {{ const s = window.carpipeDashboard;
    return s && Object.keys(s.loaded).length === {sum(len(d.panels) for d in dashboards())}
        && s.refreshes["{SALES_UID}"] >= 1 && s.refreshes["{HEALTH_UID}"] >= 1; }}"""


def chromium() -> str:
    path = shutil.which("chromium")
    if not path:
        pytest.fail("Debian's chromium is not installed (stack/install.sh installs it: apt-get install chromium)")
    return path


@contextmanager
def browser_page(profile: Path) -> Iterator[Page]:
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=chromium(), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        try:
            yield context.new_page()
        finally:
            context.close()


def stat_values(page, panel_id: str) -> dict[str, str]:
    cells = page.locator(f'[data-panel="{panel_id}"] .stat-value')
    return {cells.nth(i).locator(".n").inner_text(): cells.nth(i).locator(".v").inner_text()
            for i in range(cells.count())}

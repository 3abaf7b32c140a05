"""Dashboard panel latency: each panel through /dashboard/api/panels/<id> (macro expansion, InfluxDB
query, shaping into chart data, JSON over HTTP) side by side with the baseline, the same expanded
InfluxQL sent straight to InfluxDB's /query (what Grafana's data source does), in the same run.

Data: one window's burst at the platform's default rate (burst_rate x burst_seconds raw points, 20 x 300
= 6,000) plus its rollups, in a dedicated database (dropped at the end). Median of REPEAT calls each.
"""

from __future__ import annotations

import os
import random
import statistics
import time

import requests
from rich.console import Console
from rich.table import Table

from carpipe.config import get_settings
from carpipe.dashboards.definitions import dashboards
from carpipe.influx import client_from_settings
from generator.catalog import CAR_MODELS
from tests.dashboards.known_data import Sale, write_known
from tests.dashboards.serving import dashboard_server

REPEAT = int(os.environ.get("BENCH_DASHBOARDS_REPEAT", "20"))
COUNTRIES = {"Germany": ("Berlin", "Munich"), "France": ("Paris", "Lyon"), "Spain": ("Madrid", "Seville")}


def sales(n: int, minutes: int, seed: int = 7) -> list[Sale]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        m = rng.choice(CAR_MODELS)
        country = rng.choice(sorted(COUNTRIES))
        out.append(Sale(rng.randrange(minutes), m.brand, m.model, country, rng.choice(COUNTRIES[country]),
                        round(rng.uniform(m.price_low, m.price_high), 2)))
    return out


def median_ms(call) -> float:
    call()   # warm-up
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    base = get_settings()
    s = base.model_copy(update={"influx_db": f"{base.influx_db}_dashboards_bench"})
    n = base.burst_rate * base.burst_seconds
    now = int(time.time() * 1000)
    known = write_known(s, now, sales(n, base.burst_seconds // 60))
    influx = client_from_settings(s)
    window = {"from": known.w0 - 5 * 60_000, "to": now}
    table = Table(title=f"dashboard panels on {n:,} raw points: median of {REPEAT} calls")
    for col in ("panel", "rows/points", "/dashboard API ms", "InfluxDB /query ms", "API / baseline"):
        table.add_column(col, justify="left" if col == "panel" else "right")
    try:
        with dashboard_server(s) as url, requests.Session() as http:
            for d in dashboards(s):
                for p in d.panels:
                    api = f"{url}/dashboard/api/panels/{p.id}"
                    body = http.get(api, params=window, timeout=60).json()
                    size = len(body["rows"]) + len(body["bins"]) + sum(len(x["points"]) for x in body["series"])
                    subject = median_ms(lambda: http.get(api, params=window, timeout=60).raise_for_status())
                    baseline = median_ms(lambda: influx.query(body["query"]))
                    table.add_row(p.id, f"{size:,}", f"{subject:.1f}", f"{baseline:.1f}", f"{subject / baseline:.2f}x")
    finally:
        influx.query(f'DROP DATABASE "{s.influx_db}"', database=None)
    Console(width=120).print(table)


if __name__ == "__main__":
    main()

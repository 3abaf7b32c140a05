"""Known points for the dashboard tests, written the way the pipeline writes them (schema contract):
raw ``car_transaction_data``, ``car_sales_1m`` rollups built from them as the Spark job builds them,
``window_summary`` and ``pipeline_audit``. Times lie within the last hour, inside the 30d retention.

The expected numbers in the tests are worked out by hand from SALES below.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from carpipe.config import Settings
from carpipe.influx import client_from_settings
from carpipe.influx import ROLLUP_MEASUREMENT, SUMMARY_MEASUREMENT
from carpipe.line_protocol import escape_tag

MINUTE = 60_000
WINDOW = 15 * MINUTE


@dataclass(frozen=True)
class Sale:
    minute: int          # minute offset from KnownData.t0
    brand: str
    model: str
    country: str
    branch: str
    price: float


SALES = (
    Sale(0, "Toyota", "Corolla", "Germany", "Berlin", 25_000.00),
    Sale(0, "Toyota", "Corolla", "France", "Paris", 27_500.50),
    Sale(0, "BMW", "X5", "Germany", "Munich", 80_000.00),
    Sale(0, "Tesla", "Model 3", "France", "Paris", 45_000.00),
    Sale(0, "Toyota", "RAV4", "Germany", "Berlin", 35_000.00),
    Sale(1, "Toyota", "Corolla", "Germany", "Hamburg", 24_000.00),
    Sale(1, "BMW", "X5", "France", "Lyon", 90_000.00),
    Sale(1, "Tesla", "Model 3", "Germany", "Berlin", 47_000.00),
    Sale(5, "Toyota", "Corolla", "France", "Lyon", 26_000.00),
    Sale(5, "Mercedes-Benz", "C-Class", "Germany", "Munich", 55_000.00),
    Sale(5, "Tesla", "Model 3", "France", "Paris", 44_999.99),
    Sale(6, "Volkswagen", "ID.4", "Germany", "Berlin", 41_000.00),
)

# pipeline_audit per window (offset in windows from KnownData.w0): status and tier counts.
AUDIT = (
    (0, "ok", dict(produced=100, acknowledged=100, kafka=100, hdfs=100, hdfs_duplicates=4, conflicts=2,
                   influx=97, dead_lettered=3, reconciled_lag_s=150)),
    (1, "mismatch", dict(produced=60, acknowledged=60, kafka=60, hdfs=58, hdfs_duplicates=0, conflicts=0,
                         influx=50, dead_lettered=0, reconciled_lag_s=200)),
    (2, "pending", dict(produced=40, acknowledged=40, kafka=40, hdfs=31, hdfs_duplicates=1, conflicts=0,
                        influx=0, dead_lettered=0, reconciled_lag_s=95)),
)
# pipeline_audit's float latency fields of the settled windows (a pending one has none yet).
LATENCY = {0: dict(hdfs_latency_p50_s=2.5, hdfs_latency_p95_s=9.0, hdfs_latency_max_s=31.25,
                   influx_latency_p50_s=400.0, influx_latency_p95_s=612.5, influx_latency_max_s=640.0),
           1: dict(hdfs_latency_p50_s=3.0, hdfs_latency_p95_s=12.0, hdfs_latency_max_s=15.5,
                   influx_latency_p50_s=500.0, influx_latency_p95_s=700.0, influx_latency_max_s=705.0)}
# window_summary per window offset and source: read, written, dead_lettered.
SUMMARIES = ((0, "kafka", 100, 97, 3), (0, "hdfs", 100, 97, 3), (1, "kafka", 50, 50, 0))


@dataclass(frozen=True)
class KnownData:
    t0: int              # ms, a minute start about 40 minutes ago: the raw points' minute 0
    w0: int              # ms, a window start 45-60 minutes ago: the audit's window 0
    now: int             # ms, when the points were written (the test ranges end here)


def lines(s: Settings, t0: int, w0: int, sales: Sequence[Sale] = SALES) -> list[str]:
    out = []
    rollups: dict[tuple[int, str, str], list[float]] = defaultdict(list)
    for i, sale in enumerate(sales):
        ts = t0 + sale.minute * MINUTE + i + 1                     # distinct milliseconds inside the minute
        tags = (f"car_brand={escape_tag(sale.brand)},car_model={escape_tag(sale.model)},country={sale.country},"
                f"branch={sale.branch},color=Red")
        out.append(f'{s.raw_measurement},{tags} transaction_id="{uuid.uuid4()}",buyer_id="{uuid.uuid4()}",'
                   f'buyer_name="Test Buyer",year=2022i,transaction_price={sale.price},schema_version=1i '
                   f"{ts * 1_000_000}")
        minute = t0 + sale.minute * MINUTE
        for dim, value in (("brand", sale.brand), ("country", sale.country), ("branch", sale.branch)):
            rollups[(minute, dim, value)].append(sale.price)
    for (minute, dim, value), prices in rollups.items():
        out.append(f"{ROLLUP_MEASUREMENT},dimension={dim},value={escape_tag(value)} count={len(prices)}i,"
                   f"revenue={sum(prices)},avg_price={sum(prices) / len(prices)} {minute * 1_000_000}")
    for k, source, read, written, dead in SUMMARIES:
        out.append(f"{SUMMARY_MEASUREMENT},source={source} read={read}i,written={written}i,dead_lettered={dead}i "
                   f"{(w0 + k * WINDOW) * 1_000_000}")
    for k, status, fields in AUDIT:
        body = ",".join([f"{name}={value}i" for name, value in fields.items()]
                        + [f"{name}={value!r}" for name, value in LATENCY.get(k, {}).items()])
        out.append(f"{s.audit_measurement},status={status} {body},window_seconds=900i "
                   f"{(w0 + k * WINDOW) * 1_000_000}")
    return out


def write_known(s: Settings, now_ms: int, sales: Sequence[Sale] = SALES) -> KnownData:
    """Recreate ``s.influx_db`` (a test database) and write the known points into it."""
    client = client_from_settings(s)
    client.query(f'DROP DATABASE "{s.influx_db}"', database=None)
    client.create_database(retention=s.influx_retention)
    t0 = now_ms // MINUTE * MINUTE - 40 * MINUTE
    w0 = (now_ms - 45 * MINUTE) // WINDOW * WINDOW
    client.write(lines(s, t0, w0, sales))
    return KnownData(t0=t0, w0=w0, now=now_ms)

"""The Spark job's raw points for seeded generator events, as line protocol: the benchmarks' shared
InfluxDB load (bench_spark's baseline, bench_influx's subject)."""

from __future__ import annotations

import json
import threading
import time

from carpipe.config import Settings
from carpipe.influx import InfluxClient, client_from_settings
from generator.events import EventFactory, utc_now_text

SEED = 20260101
BATCH = 5000  # lines per write, as the job's writers send them
TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
STRING_ESCAPES = str.maketrans({'"': r"\"", "\\": r"\\"})


def same_points(start_ns: int, events: int, seed: int = SEED) -> list[str]:
    """The job's raw points for the seeded events, as line protocol (unique time per point)."""
    factory, now = EventFactory(seed), utc_now_text()
    lines = []
    for i in range(events):
        e = json.loads(factory.record(now)[1])
        tags = ",".join(f"{k}={e[k].translate(TAG_ESCAPES)}"
                        for k in ("branch", "car_brand", "car_model", "color", "country"))
        strings = ",".join(f'{k}="{e[k].translate(STRING_ESCAPES)}"' for k in ("transaction_id", "buyer_id", "buyer_name"))
        lines.append(f"car_transaction_data,{tags} {strings},year={e['year']}i,"
                     f"transaction_price={e['transaction_price']:.2f},schema_version=1i {start_ns + i}")
    return lines


def timed_write(clients: list[InfluxClient], lines: list[str], batch: int) -> float:
    """Seconds to write ``lines`` in batches of ``batch``, split evenly over the clients (one
    keep-alive connection each, in parallel)."""
    share = -(-len(lines) // len(clients))
    threads = [threading.Thread(target=c.write, args=(lines[i * share:(i + 1) * share],),
                                kwargs={"batch_size": batch}) for i, c in enumerate(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def stored(client: InfluxClient) -> int:
    rows = client.rows("SELECT count(transaction_id) AS n FROM car_transaction_data")
    return rows[0]["n"] if rows else 0


def raw_ingest(s: Settings, database: str, lines: list[str], connections: int) -> float:
    """Seconds to write ``lines`` in batches of BATCH over ``connections`` keep-alive sessions into a
    fresh ``database`` (checked: every point stored; dropped afterwards)."""
    client = client_from_settings(s, database)
    client.create_database()
    seconds = timed_write([client_from_settings(s, database) for _ in range(connections)], lines, BATCH)
    got = stored(client)
    assert got == len(lines), f"raw ingest stored {got} of {len(lines)} points"
    client.query(f'DROP DATABASE "{database}"', database=None)
    return seconds

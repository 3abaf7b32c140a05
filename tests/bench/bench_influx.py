"""InfluxDB's storage settings and write shape for the Spark job's raw points, measured on throwaway
servers, one variant at a time.

Subject: the embedded Debian influxd started from ``stack.services.influxdb_conf`` (the stack's own
config renderer) with one variant of its ``[data]`` settings, on free ports of the bind host, auth on
like the stack, a fresh data dir next to the stack's; the job's raw points (tests/bench/points.py,
the same seeded events every variant) written in batches over keep-alive connections, optionally
gzip-compressed. Measured: wall seconds (every point counted back afterwards) and influxd's CPU
seconds, which on a 2-core machine the Spark job has to share.

Baseline: the stack's settings as they are (``INFLUX_DATA``, batches of 5,000 over 2 connections, no
gzip), measured first, in the same run. ``BENCH_INFLUX_POINTS``: points per variant (default 300000).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import psutil
from rich.console import Console
from rich.table import Table

from carpipe.config import get_settings
from carpipe.influx import client_from_settings
from stack.influx_admin import ensure_admin
from stack.services import INFLUX_DATA, influxdb_conf
from tests.bench.points import same_points, stored, timed_write

POINTS = int(os.environ.get("BENCH_INFLUX_POINTS", "300000"))
# (name, [data] overrides, lines per request, connections, gzip)
VARIANTS = [
    ("stack as it is", {}, 5000, 2, False),
    ("1 connection", {}, 5000, 1, False),
    ("batches of 20000", {}, 20000, 2, False),
    ("gzip bodies (level 1)", {}, 5000, 2, True),
    ("index inmem", {"index-version": "inmem"}, 5000, 2, False),
    ("wal-fsync-delay 100ms", {"wal-fsync-delay": "100ms"}, 5000, 2, False),
    ("cache-snapshot-memory-size 256m", {"cache-snapshot-memory-size": "256m"}, 5000, 2, False),
    ("inmem + fsync-delay 100ms + batches of 20000",
     {"index-version": "inmem", "wal-fsync-delay": "100ms"}, 20000, 2, False),
]


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def measure(s, data: dict, batch: int, connections: int, compress: bool, lines: list[str]) -> tuple[float, float]:
    """(wall seconds, influxd CPU seconds) to write ``lines`` to a fresh server with ``data``."""
    home = s.state_dir / "bench-influx"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    http, rpc = free_port(s.bind_host), free_port(s.bind_host)
    conf = home / "influxdb.conf"
    conf.write_text(influxdb_conf(s.bind_host, http, rpc, home, {**INFLUX_DATA, **data}))
    log = open(home / "influxd.log", "wb")
    server = subprocess.Popen([shutil.which("influxd") or "/usr/bin/influxd", "-config", str(conf)],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        here = s.model_copy(update={"influx_url": f"http://{s.bind_host}:{http}", "influx_db": "bench"})
        deadline = time.monotonic() + 60
        while True:
            try:
                ensure_admin(here)
                break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"throwaway influxd did not start: see {home / 'influxd.log'}")
                time.sleep(0.3)
        client_from_settings(here).create_database()
        proc = psutil.Process(server.pid)
        cpu0 = sum(proc.cpu_times()[:2])
        seconds = timed_write([client_from_settings(here, compress=compress) for _ in range(connections)],
                              lines, batch)
        cpu = sum(proc.cpu_times()[:2]) - cpu0
        got = stored(client_from_settings(here))
        assert got == len(lines), f"{data}: stored {got} of {len(lines)} points"
        return seconds, cpu
    finally:
        server.terminate()
        server.wait(60)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    s = get_settings()
    lines = same_points(time.time_ns() - 3600 * 10**9, POINTS)
    table = Table(title=f"InfluxDB ingest of the job's raw points: {POINTS:,} per variant, fresh server each")
    for col in ("variant", "seconds", "points/s", "vs stack", "influxd CPU s / 100k points"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    base = None
    for name, data, batch, connections, compress in VARIANTS:
        seconds, cpu = measure(s, data, batch, connections, compress, lines)
        base = base or seconds
        table.add_row(name, f"{seconds:.2f}", f"{POINTS / seconds:,.0f}", f"{base / seconds:.2f}x",
                      f"{cpu / POINTS * 100_000:.2f}")
    console = Console()
    console.print(table)
    console.print(f"the stack's data settings: {INFLUX_DATA}", markup=False)


if __name__ == "__main__":
    main()

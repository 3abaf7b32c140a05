"""A small client for InfluxDB's v1-compatible HTTP API: line protocol to /write, InfluxQL to /query.

That pair is served by InfluxDB 1.x, 2.x (v1 compatibility), 3.x and Cloud alike, unlike /api/v2,
which the embedded Debian InfluxDB 1.6 lacks. Writes are idempotent by construction in InfluxDB
(same measurement + tags + timestamp overwrites), which is what makes retries safe here.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterable

import requests

RETRYABLE_STATUS = {429, 500, 502, 503, 504}

# Measurements the Spark job writes besides the raw points (whose name is a setting): per-minute rollups
# and the per-window summary the reconciliation reads.
ROLLUP_MEASUREMENT = "car_sales_1m"
SUMMARY_MEASUREMENT = "window_summary"


class InfluxError(RuntimeError):
    pass


class InfluxClient:
    def __init__(self, url: str, database: str, user: str = "", password: str = "",
                 timeout: float = 30, retries: int = 5, backoff: float = 0.5, compress: bool = False):
        self.url = url.rstrip("/")
        self.database = database
        self.auth = (user, password) if user else None
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.compress = compress  # gzip write bodies (Content-Encoding: gzip, which /write accepts)
        self.session = requests.Session()

    def _post(self, path: str, **kwargs) -> requests.Response:
        """POST with retries on connection errors and 5xx/429; raises InfluxError when exhausted."""
        last: Exception | str = ""
        for attempt in range(self.retries + 1):
            try:
                r = self.session.post(f"{self.url}{path}", auth=self.auth, timeout=self.timeout, **kwargs)
            except requests.RequestException as exc:
                last = exc
            else:
                if r.status_code not in RETRYABLE_STATUS:
                    if r.status_code >= 400:
                        raise InfluxError(f"InfluxDB {path} at {self.url}: HTTP {r.status_code}: {r.text[:300]}")
                    return r
                last = f"HTTP {r.status_code}: {r.text[:300]}"
            if attempt < self.retries:
                time.sleep(self.backoff * 2 ** attempt)
        raise InfluxError(f"InfluxDB {path} at {self.url} failed after {self.retries + 1} attempts: {last}")

    def query(self, q: str, database: str | None = "") -> list[dict]:
        """Run InfluxQL; returns the results list, raising on any statement error."""
        params = {"q": q, "epoch": "ns"}
        db = self.database if database == "" else database
        if db:
            params["db"] = db
        results = self._post("/query", params=params).json().get("results", [])
        for res in results:
            if "error" in res:
                raise InfluxError(f"InfluxQL error for {q!r}: {res['error']}")
        return results

    def rows(self, q: str) -> list[dict]:
        """Rows of the first statement as dicts (tags merged in), across all its series."""
        out = []
        for series in (self.query(q)[0].get("series") or []):
            for values in series["values"]:
                out.append({**series.get("tags", {}), **dict(zip(series["columns"], values))})
        return out

    def write(self, lines: Iterable[str], precision: str = "ns", batch_size: int = 5000) -> int:
        """Write line-protocol lines in batches; returns how many lines were written."""
        written, batch = 0, []
        for line in lines:
            batch.append(line)
            if len(batch) >= batch_size:
                written += self._write_batch(batch, precision)
                batch = []
        if batch:
            written += self._write_batch(batch, precision)
        return written

    def _write_batch(self, batch: list[str], precision: str) -> int:
        body, headers = "\n".join(batch).encode(), {}
        if self.compress:
            body, headers = gzip.compress(body, compresslevel=1), {"Content-Encoding": "gzip"}
        self._post("/write", params={"db": self.database, "precision": precision}, data=body, headers=headers)
        return len(batch)

    def create_database(self, retention: str | None = None) -> None:
        self.query(f'CREATE DATABASE "{self.database}"', database=None)
        if retention:
            rp = "carpipe_default"
            existing = {r["name"] for r in self.rows_on(f'SHOW RETENTION POLICIES ON "{self.database}"')}
            verb = "ALTER" if rp in existing else "CREATE"
            self.query(f'{verb} RETENTION POLICY "{rp}" ON "{self.database}" DURATION {retention} '
                       f"REPLICATION 1 DEFAULT", database=None)

    def rows_on(self, q: str) -> list[dict]:
        out = []
        for series in (self.query(q, database=None)[0].get("series") or []):
            out += [dict(zip(series["columns"], v)) for v in series["values"]]
        return out


def client_from_settings(settings, database: str | None = None, **options) -> InfluxClient:
    """The client of the configured InfluxDB, logged in with the configured credentials."""
    return InfluxClient(settings.influx_url, database or settings.influx_db, settings.influx_user,
                        settings.influx_password, **options)

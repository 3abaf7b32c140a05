"""The embedded InfluxDB's one user: its admin, created at the first start (auth is on from the start).

InfluxDB 1.x with ``auth-enabled`` refuses every request until an admin exists and, until then, accepts one
statement without credentials: ``CREATE USER … WITH ALL PRIVILEGES``. The password is the generated
``influx_password`` secret (0600 in the secrets dir); every client (Spark, the DAGs through
``influxdb_default``, the dashboard, reconciliation) logs in with it.
"""

from __future__ import annotations

from carpipe.config import Settings
from carpipe.influx import InfluxClient, InfluxError, client_from_settings

NO_ADMIN_YET = "create admin user first"


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ensure_admin(s: Settings) -> str:
    """Log in as ``s.influx_user``; create that admin first if the server has no user yet. Returns what it did."""
    if not (s.influx_user and s.influx_password):
        raise RuntimeError("the embedded InfluxDB needs CARPIPE_INFLUX_USER and a generated influx_password")
    try:
        client_from_settings(s).query("SHOW USERS", database=None)
        return f"admin {s.influx_user!r} logs in"
    except InfluxError as exc:
        if NO_ADMIN_YET not in str(exc):
            raise RuntimeError(f"InfluxDB refuses {s.influx_user!r} with the password in the secrets dir "
                               f"(was it changed by hand? `make clean` starts afresh): {exc}") from exc
    name = s.influx_user.replace("\\", "\\\\").replace('"', '\\"')
    InfluxClient(s.influx_url, s.influx_db, retries=0).query(
        f'CREATE USER "{name}" WITH PASSWORD {_literal(s.influx_password)} WITH ALL PRIVILEGES', database=None)
    client_from_settings(s).query("SHOW USERS", database=None)
    return f"admin {s.influx_user!r} created"

"""Settings as the DAGs see them.

Base: the config layer (CARPIPE_* environment of the Airflow services). On top: an overrides file,
``<state_dir>/dag-overrides.json`` (``OVERRIDES_FILE``), a JSON object of Settings fields, e.g.
``{"window_seconds": 60, "burst_seconds": 15, "topic": "scratch", "expires_at": "2026-01-01T12:00:00Z"}``.
It changes the cadence (and names) of the same DAGs without restarting anything: the DAG processor
re-parses within its refresh interval, and the scheduler follows the new timetables. The end-to-end
test runs the DAGs with minute windows this way. ``expires_at`` (optional) bounds an override in time,
so a test that dies cannot leave the platform on its compressed cadence. Like the environment, the
file is configuration of the host that parses the DAGs: a local read, no Variable, connection or
network read at parse time.

A run resolves the overrides once, in its first task, and hands them down through XCom (settings,
Spark conf, timeouts), so a run never mixes two configurations if the file changes while it is in
flight.

Endpoints (Kafka bootstrap, InfluxDB URL and credentials, WebHDFS) come from the Airflow connections
(carpipe.connections); names (topic, paths, database) come from the settings.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from carpipe.config import Settings
from carpipe.windows import parse_utc

OVERRIDES_FILE = "dag-overrides.json"
EXPIRES_AT = "expires_at"



def parse_overrides(raw: str | dict | None, now: datetime | None = None) -> dict[str, Any]:
    """Validated overrides from the file's text; {} when absent or expired. Unknown fields or
    values Settings rejects are errors (a typo must not silently leave the defaults in place)."""
    if raw in (None, ""):
        return {}
    data = json.loads(raw) if isinstance(raw, str) else dict(raw)
    if not isinstance(data, dict):
        raise ValueError(f"{OVERRIDES_FILE} must hold a JSON object, not {type(data).__name__}")
    expires = data.pop(EXPIRES_AT, None)
    if expires is not None and (now or datetime.now(timezone.utc)) >= parse_utc(expires):
        return {}
    unknown = set(data) - set(Settings.model_fields)
    if unknown:
        raise ValueError(f"{OVERRIDES_FILE}: unknown settings {sorted(unknown)}")
    Settings(**data)  # validate now, with a clear error naming the file's bad value
    return data


def overrides_path(base: Settings | None = None) -> Path:
    return (base or Settings()).state_dir / OVERRIDES_FILE


def current_overrides() -> dict[str, Any]:
    """The overrides file's content, validated; {} when there is none."""
    path = overrides_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    return parse_overrides(text)


def settings_for(overrides: dict[str, Any] | None = None) -> Settings:
    return Settings(**(overrides or {}))


def dag_settings() -> Settings:
    """For DAG files at parse time: timetables, param defaults, execution timeouts."""
    return settings_for(current_overrides())


def task_settings(overrides: dict[str, Any] | None) -> Settings:
    """What a task works with: its run's overrides, then the connections' endpoints."""
    from carpipe.connections import with_connections

    return with_connections(settings_for(overrides))

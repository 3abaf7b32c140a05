"""Fixtures of the dashboard tests: a dedicated InfluxDB database with known points, and the
/dashboard blueprint served over HTTP against it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from carpipe.config import Settings
from carpipe.influx import InfluxClient, client_from_settings
from tests.dashboards.known_data import KnownData, write_known
from tests.dashboards.serving import dashboard_server


@pytest.fixture(scope="session")
def dash_settings(stack_up) -> Settings:
    """The platform's settings with the test database instead of the pipeline's."""
    return stack_up.model_copy(update={"influx_db": f"{stack_up.influx_db}_dashboards_test"})


@pytest.fixture(scope="session")
def known(dash_settings) -> Iterator[KnownData]:
    yield write_known(dash_settings, int(time.time() * 1000))
    s = dash_settings
    client_from_settings(s).query(
        f'DROP DATABASE "{s.influx_db}"', database=None)


@pytest.fixture(scope="session")
def influx(dash_settings, known) -> InfluxClient:
    s = dash_settings
    return client_from_settings(s)


@pytest.fixture(scope="session")
def dash_server(dash_settings, known) -> Iterator[str]:
    """The dashboard blueprint in a Flask app of its own, on a free loopback port, reading the test
    database (the live generator app reads the pipeline's database, where fake sales must not go)."""
    with dashboard_server(dash_settings) as url:
        yield url

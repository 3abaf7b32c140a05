"""Shared fixtures. Integration tests need the stack `make up` starts; without it they fail loudly."""

from __future__ import annotations

import os
import tempfile

import pytest

from carpipe.config import REPO_ROOT, Settings, get_settings

# Airflow reads its configuration once, when first imported (the DAG tests import it at collection):
# give it a throwaway home of its own, so no test in this process sees the running stack's Airflow
# settings or writes ~/airflow. Tests that drive the stack's Airflow do it over its REST API or run
# its CLI with the stack's environment (tests.dags.airflow_api).
os.environ.update({"AIRFLOW_HOME": tempfile.mkdtemp(prefix="carpipe-tests-airflow-"),
                   "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
                   "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})



@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


def sick_services(s: Settings) -> dict[str, str]:
    from stack import health
    from stack.services import Stack

    return {p.name: detail for p in Stack(s).programs() for ok, detail in [health.check(p.name, s)] if not ok}


@pytest.fixture(scope="session")
def stack_up(settings) -> Settings:
    """Fail (not skip) when a service the integration tests need is not healthy."""
    if sick := sick_services(settings):
        pytest.fail("embedded stack not healthy (run `make up`): " + "; ".join(f"{k}: {v}" for k, v in sick.items()))
    return settings


def pytest_collection_modifyitems(config, items):
    """Tests marked ``profiles(...)`` run on those stack profiles only (deselected on the others, and
    counted as such); disruptive tests last (a stable sort keeps every other test's order), so whatever
    they break cannot fail the tests that follow them."""
    profile = get_settings().profile
    elsewhere = [item for item in items if (m := item.get_closest_marker("profiles")) and profile not in m.args]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if item not in elsewhere]
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


@pytest.fixture(autouse=True)
def _restore_after_disruption(request, settings):
    """After a disruptive test, pass or fail: `stack.ctl up` (idempotent) until every service is healthy
    again, so one broken disruption is reported by its own test and not by the next one."""
    yield
    if request.node.get_closest_marker("disruptive") is None:
        return
    import subprocess
    import sys

    if sick_services(settings):
        subprocess.run([sys.executable, "-m", "stack.ctl", "up"], capture_output=True, timeout=900)
        assert not (sick := sick_services(settings)), f"the stack did not recover after the test: {sick}"


@pytest.fixture(scope="session")
def topic(stack_up) -> str:
    from carpipe.topic import ensure_topic

    ensure_topic(stack_up)
    return stack_up.topic

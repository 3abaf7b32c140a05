"""Shared fixtures. Integration tests need the stack `make up` starts; without it they fail loudly."""

from __future__ import annotations

import pytest

from carpipe.config import Settings, get_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def stack_up(settings) -> Settings:
    """Fail (not skip) when a service the integration tests need is not healthy."""
    from stack import health

    sick = {}
    for name in health.CHECKS:
        ok, detail = health.check(name, settings)
        if not ok:
            sick[name] = detail
    if sick:
        pytest.fail("embedded stack not healthy (run `make up`): " + "; ".join(f"{k}: {v}" for k, v in sick.items()))
    return settings


@pytest.fixture(scope="session")
def topic(stack_up) -> str:
    from carpipe.topic import ensure_topic

    ensure_topic(stack_up)
    return stack_up.topic

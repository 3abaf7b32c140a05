"""Fixtures for the generator's Kafka tests.

Exact counts ("N new records", "end offsets did not move") need a topic nobody else writes to, so
those tests use a dedicated topic created with the real topic's settings (LogAppendTime); tests of
the live service use the real topic and find their own records by id.
"""

from __future__ import annotations

import secrets

import pytest

from carpipe.topic import ensure_topic


@pytest.fixture(scope="session")
def gen_settings(topic, settings):
    """Settings whose topic is a fresh, private copy of the pipeline topic (deleted afterwards)."""
    from confluent_kafka.admin import AdminClient

    private = settings.model_copy(update={"topic": f"{topic}.test-generator-{secrets.token_hex(4)}"})
    ensure_topic(private)
    yield private
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})  # kept alive until the result
    admin.delete_topics([private.topic])[private.topic].result(30)


@pytest.fixture
def seed() -> int:
    """A fresh seed per test: reproducible within the test, never colliding with earlier runs' ids."""
    return secrets.randbits(48)

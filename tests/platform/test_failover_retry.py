"""Unit tests (no services): the offset probes ride out a Kafka broker failing over, and nothing else."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import KafkaError, KafkaException

from carpipe.kafka_offsets import Stopped, through_failover


def failing(codes: list[int], answer="ok"):
    """A question that fails with ``codes`` in turn, then answers; and how often it was asked."""
    asked = []

    def ask():
        asked.append(1)
        if len(asked) <= len(codes):
            raise KafkaException(KafkaError(codes[len(asked) - 1]))
        return answer
    return ask, asked


def test_the_errors_of_leadership_moving_are_asked_again_until_answered():
    # What the Flume runner's lag probe got while a partition leader was killed (cluster profile).
    ask, asked = failing([KafkaError.FENCED_LEADER_EPOCH, KafkaError.NOT_LEADER_FOR_PARTITION,
                          KafkaError.LEADER_NOT_AVAILABLE, KafkaError.NOT_COORDINATOR,
                          KafkaError._DESTROY_BROKER])
    assert through_failover(ask, pause=0) == "ok" and len(asked) == 6


def test_any_other_error_is_raised_at_once():
    ask, asked = failing([KafkaError.UNKNOWN_TOPIC_OR_PART])
    with pytest.raises(KafkaException, match="UNKNOWN_TOPIC_OR_PART"):
        through_failover(ask, pause=0)
    assert len(asked) == 1


def test_a_failover_that_does_not_end_is_raised_after_the_bound():
    ask, asked = failing([KafkaError.LEADER_NOT_AVAILABLE] * 1000)
    started = time.monotonic()
    with pytest.raises(KafkaException, match="LEADER_NOT_AVAILABLE"):
        through_failover(ask, seconds=0.3, pause=0.05)
    assert 0.3 <= time.monotonic() - started < 2 and 2 < len(asked) < 1000


# make down once waited 50 s for a Flume runner told to stop: its lag probe was retrying a Kafka that had
# just restarted, each request taking up to its 30 s timeout.
def test_a_stop_ends_the_retries_at_once():
    ask, asked = failing([KafkaError.COORDINATOR_LOAD_IN_PROGRESS] * 1000)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Stopped, match="COORDINATOR_LOAD_IN_PROGRESS"):
        through_failover(ask, seconds=60, pause=0.05, stop=stop)
    assert time.monotonic() - started < 1.5


def test_the_client_is_renewed_before_each_new_ask():
    ask, asked = failing([KafkaError.FENCED_LEADER_EPOCH] * 3)
    renewed = []
    assert through_failover(ask, pause=0, renew=lambda: renewed.append(len(asked))) == "ok"
    assert renewed == [1, 2, 3]  # after each failed ask, before the next

"""Fuzz POST /api/logs from its own OpenAPI document (schemathesis), against the real app and broker.

The app is built for a private topic, so what reached Kafka is known exactly: every record there was
answered 201, once, with the content the client sent; nothing else was produced. Schema-valid bodies
that break a rule JSON schema cannot state get a 422 naming only the fields those rules are for (the x-
keywords: two decimals, event-time bounds; a year written 2020.0), which is why "positive data is
accepted" is not among the checks. Positive cases get the current event time: a pattern-drawn year is
almost never within a day of now, and the bounds are fuzzed in tests/spark/test_contract_property.py.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError
from schemathesis import GenerationMode
from schemathesis.checks import (content_type_conformance, negative_data_rejection, not_a_server_error,
                                 response_schema_conformance, status_code_conformance)

from generator.app import create_app
from generator.events import CarTransaction, utc_now_text
from tests.generator.kafka_tools import end_offsets, read_range

pytestmark = pytest.mark.integration

EXAMPLES = 250  # per generation mode
# The fields whose rules JSON schema cannot state (see the module doc).
UNSTATED = {"transaction_price", "year", "event_time"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


def is_valid_event(text: str) -> bool:
    try:
        CarTransaction.model_validate_json(text, strict=True)
        return True
    except ValidationError:
        return False


@pytest.fixture(scope="module")
def operation(gen_settings):
    return schemathesis.openapi.from_wsgi("/openapi.json", create_app(gen_settings))["/api/logs"]["POST"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_fuzzed_logs_are_stored_exactly_as_answered(operation, gen_settings, mode):
    before = end_offsets(gen_settings, gen_settings.topic)
    answers: list[tuple[int, object, dict]] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(operation.as_strategy(generation_mode=mode))
    def send(case):
        if mode is GenerationMode.POSITIVE:
            case.body["event_time"] = utc_now_text()
        response = case.call(headers={"Authorization": f"Bearer {gen_settings.generator_token}"})
        case.validate_response(response, checks=CHECKS)
        answers.append((response.status_code, case.body, response.json()))

    send()
    statuses = Counter(status for status, _, _ in answers)
    print(f"\n{mode.value}: {len(answers)} requests, answers {dict(sorted(statuses.items()))}")
    assert not [s for s in statuses if s >= 500]

    acknowledged = {ack["event"]["transaction_id"]: ack for status, _, ack in answers if status == 201}
    assert len(acknowledged) == statuses[201], "two 201s for one transaction id"
    for status, body, answer in answers:
        if status == 201:
            assert answer["event"] == body
        elif status == 200:  # a retry: the first acknowledgement, nothing new produced
            first = acknowledged.get(answer["event"]["transaction_id"])
            assert first and (answer["partition"], answer["offset"]) == (first["partition"], first["offset"])
            assert body == first["event"]
        elif status == 409:  # the id was taken by other content
            first = acknowledged.get(answer["transaction_id"])
            assert first and body != first["event"]

    records = read_range(gen_settings, gen_settings.topic, before, end_offsets(gen_settings, gen_settings.topic))
    stored = {m.key().decode(): (m.partition(), m.offset(), json.loads(m.value())) for m in records}
    assert len(records) == len(stored) == statuses[201]
    assert stored == {tid: (a["partition"], a["offset"], a["event"]) for tid, a in acknowledged.items()}
    if mode is GenerationMode.POSITIVE:
        assert statuses[201] >= EXAMPLES // 10, statuses  # the run stored something, not only refusals
        refused_for = {d["field"] for status, _, a in answers if status == 422 for d in a["details"]}
        assert refused_for <= UNSTATED, refused_for
    else:
        # Negative cases break the body or the request around it (e.g. the Authorization header, which
        # the token sent here may repair): a stored body is always a valid event.
        stored_bodies = [json.dumps(body) for status, body, _ in answers if status == 201]
        assert [b for b in stored_bodies if not is_valid_event(b)] == []
        assert statuses[201] <= len(answers) // 20, statuses

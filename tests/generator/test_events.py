"""Event model, value sets, reproducibility and the checked-in JSON schema (pure logic, no services)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid

import jsonschema
import numpy as np
import pytest
from pydantic import ValidationError

from generator import catalog
from generator.events import (EVENT_TIME_PATTERN, SCHEMA_PATH, CarTransaction, EventFactory, generate,
                              json_schema_text, uuid4_texts)

T = "2026-03-01T12:00:00.000Z"


def test_schema_file_is_current():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == json_schema_text(), (
        "generator/schema/car_transaction.schema.json is stale: run `python -m generator schema`")


def test_schema_cli_check_passes_on_the_checked_in_file():
    out = subprocess.run([sys.executable, "-m", "generator", "schema", "--check"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "up to date" in out.stdout


def test_same_seed_same_events_ids_included():
    a, b = generate(1234, 500, T), generate(1234, 500, T)
    assert a == b
    assert len({e["transaction_id"] for e in a}) == 500
    f1, f2 = EventFactory(1234), EventFactory(1234)
    assert [f1.record(T) for _ in range(500)] == [f2.record(T) for _ in range(500)]


def test_different_seeds_give_different_events():
    a, b = generate(1, 50, T), generate(2, 50, T)
    assert {e["transaction_id"] for e in a}.isdisjoint(e["transaction_id"] for e in b)


def test_random_seed_is_recorded_and_replays():
    factory = EventFactory()
    first = [factory.make(T) for _ in range(20)]
    assert generate(factory.seed, 20, T) == first


def test_uuid4_texts_are_the_stdlib_uuid4_of_the_same_bytes():
    raw = np.random.default_rng(7).integers(0, 256, size=(2000, 16), dtype=np.uint8)
    assert uuid4_texts(raw) == [str(uuid.UUID(bytes=row.tobytes(), version=4)) for row in raw]


def test_batch_sizes_do_not_change_the_sequence():
    one_by_one = EventFactory(77)
    singles = [one_by_one.record(T) for _ in range(EventFactory.BLOCK + 10)]
    batched = EventFactory(77)
    # Calls straddle the factory's internal blocks of draws.
    assert batched.records(T, 5) + batched.records(T, EventFactory.BLOCK) + batched.records(T, 5) == singles


def test_generated_records_validate_against_model_and_schema_file():
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    factory = EventFactory(99)
    for _ in range(5000):
        key, value = factory.record(T)
        model = CarTransaction.model_validate_json(value, strict=True)
        # The bytes Kafka gets are exactly pydantic's own serialization of the validated model.
        assert value == model.model_dump_json().encode()
        assert key == model.transaction_id
        validator.validate(json.loads(value))


def test_values_are_realistic():
    models = {(m.brand, m.model): m for m in catalog.CAR_MODELS}
    for event in generate(5, 5000, T):
        car = models[(event["car_brand"], event["car_model"])]  # the model belongs to its brand
        assert event["branch"] in catalog.BRANCHES[event["country"]]
        first, last = catalog.NAMES[event["country"]]
        assert event["buyer_name"].split(" ", 1)[0] in first
        assert event["buyer_name"].split(" ", 1)[1] in last
        assert car.since <= event["year"] <= 2026
        age = 2026 - event["year"]
        value = max((1 - catalog.DEPRECIATION) ** age, catalog.FLOOR)
        assert car.price_low * value - 0.01 <= event["transaction_price"] <= car.price_high * value + 0.01
        assert event["color"] in catalog.COLOR_WEIGHTS


def test_value_sets_are_covered_and_buyers_repeat():
    events = generate(11, 20_000, T)
    assert {e["country"] for e in events} == set(catalog.BRANCHES)
    assert {e["car_brand"] for e in events} == {m.brand for m in catalog.CAR_MODELS}
    buyers = [e["buyer_id"] for e in events]
    assert len(set(buyers)) < len(buyers)  # repeat customers exist ...
    names = {}
    for e in events:
        assert names.setdefault(e["buyer_id"], e["buyer_name"]) == e["buyer_name"]  # ... with one name each


def test_catalog_names_every_country_consistently():
    assert set(catalog.BRANCHES) == set(catalog.COUNTRY_WEIGHTS) == set(catalog.NAMES)
    assert all(m.price_low < m.price_high for m in catalog.CAR_MODELS)


def test_event_time_format():
    from datetime import datetime, timezone

    from carpipe.windows import iso_ms

    assert iso_ms(datetime(2025, 1, 31, 23, 59, 59, 123999, tzinfo=timezone.utc)) == "2025-01-31T23:59:59.123Z"
    assert re.fullmatch(EVENT_TIME_PATTERN, iso_ms(datetime(1970, 1, 1, tzinfo=timezone.utc)))


@pytest.mark.parametrize("change, field", [
    ({"year": "2020"}, "year"),
    ({"year": 2020.5}, "year"),
    ({"transaction_price": -5.0}, "transaction_price"),
    ({"transaction_price": 10.005}, "transaction_price"),
    ({"transaction_price": "100.00"}, "transaction_price"),
    ({"schema_version": 2}, "schema_version"),
    ({"schema_version": True}, "schema_version"),  # found by tests/spark/test_contract_property.py
    ({"event_time": "2025-01-01 00:00:00"}, "event_time"),
    ({"event_time": "2025-13-01T00:00:00.000Z"}, "event_time"),
    ({"transaction_id": "not-a-uuid"}, "transaction_id"),
    ({"transaction_id": str(uuid.uuid4()).upper()}, "transaction_id"),
    ({"buyer_name": ""}, "buyer_name"),
    ({"buyer_name": "Ann\nLee"}, "buyer_name"),
    ({"car_brand": "Rolls\\Royce"}, "car_brand"),
    ({"color": "red\n"}, "color"),
    ({"country": "\x1b[31m"}, "country"),
    ({"branch": "Ber\x85lin"}, "branch"),
    ({"event_time": "0087-01-01T00:00:00.000Z"}, "event_time"),
    ({"event_time": "1969-12-31T23:59:59.999Z"}, "event_time"),
    ({"event_time": "3748-01-01T00:00:00.000Z"}, "event_time"),
    ({"event_time": "٢٠٢٥-01-01T00:00:00.000Z"}, "event_time"),
    ({"unexpected": 1}, "unexpected"),
])
def test_model_rejects_bad_values(change, field):
    event = {**generate(3, 1, T)[0], **change}
    with pytest.raises(ValidationError) as err:
        CarTransaction.model_validate_json(json.dumps(event), strict=True)
    assert [e["loc"][0] for e in err.value.errors()] == [field]


def test_model_rejects_missing_field():
    event = generate(3, 1, T)[0]
    del event["color"]
    with pytest.raises(ValidationError) as err:
        CarTransaction.model_validate_json(json.dumps(event), strict=True)
    assert err.value.errors()[0]["type"] == "missing"


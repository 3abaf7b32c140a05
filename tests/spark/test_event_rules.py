"""The event contract as the Spark job derives it from the generator's JSON schema (pure Python)."""

from __future__ import annotations

import pytest

from spark_apps.event_rules import EventRules, FieldRule, load_rules, rules_from_schema
from spark_apps.kafka_to_influx import DEFAULT_SCHEMA
from spark_apps.transforms import JOB_FIELDS, check_rules


def test_rules_from_the_checked_in_schema_cover_every_field_the_job_writes():
    loaded = load_rules(DEFAULT_SCHEMA)
    assert loaded.closed  # additionalProperties: false
    rules = {r.name: r for r in loaded.fields}
    assert set(JOB_FIELDS) <= set(rules)
    assert rules["schema_version"] == FieldRule("schema_version", "integer", allowed=(1,))
    assert (rules["year"].kind, rules["year"].minimum, rules["year"].maximum) == ("integer", 1900, 2100)
    assert (rules["transaction_price"].kind, rules["transaction_price"].minimum) == ("number", 0.01)
    assert (rules["event_time"].fmt, rules["transaction_id"].fmt) == ("date-time", "uuid")
    assert (rules["car_brand"].min_length, rules["car_brand"].max_length) == (1, 100)
    assert all(r.required and not r.nullable for r in rules.values())
    check_rules(loaded)


def test_optional_enum_ref_and_nullable_properties():
    schema = {"type": "object", "required": ["a"], "$defs": {"Color": {"enum": ["red", "blue"], "type": "string"}},
              "properties": {"a": {"type": "integer", "exclusiveMinimum": 0},
                             "b": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
                             "c": {"$ref": "#/$defs/Color", "description": "a colour"}}}
    parsed = rules_from_schema(schema)
    assert not parsed.closed
    a, b, c = parsed.fields
    assert a == FieldRule("a", "integer", exclusive_minimum=0)
    assert b == FieldRule("b", "string", required=False, nullable=True)
    assert c == FieldRule("c", "string", required=False, allowed=("red", "blue"))


@pytest.mark.parametrize("prop, message", [
    ({"type": "array"}, "unsupported JSON type"),
    ({"type": "string", "format": "email"}, "unsupported format"),
    ({"type": "string", "contentEncoding": "base64"}, "unsupported schema keywords"),
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "only Optional"),
])
def test_keywords_the_job_cannot_enforce_are_errors_not_ignored(prop, message):
    with pytest.raises(ValueError, match=message):
        rules_from_schema({"type": "object", "properties": {"x": prop}})


def test_a_schema_without_a_field_the_job_writes_is_refused():
    rules = load_rules(DEFAULT_SCHEMA)
    with pytest.raises(ValueError, match="branch"):
        check_rules(EventRules(tuple(r for r in rules.fields if r.name != "branch")))


def test_missing_schema_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="event JSON schema not found"):
        load_rules(tmp_path / "nope.json")

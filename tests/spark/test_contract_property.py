"""Property: the API's edge and the Spark job enforce one contract.

Hypothesis draws bodies around a valid event (every field mutated toward its rule's edges: control
characters, backslashes, empty and long texts, event times from year 1 to 9999, prices with many
decimals, NaN and huge numbers, wrong types, missing and extra fields). Each goes through the API's own
request validation (generator.api.parse_body, in a Flask request context: no broker needed), then all
of them through the job's real classify in one local Spark run. Wherever the two could differ:

- a body the API accepts is written by Spark, never dead-lettered;
- a body Spark dead-letters was refused by the API with a 4xx, and when Spark names a field, so does
  the API.
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import datetime, timezone

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carpipe.windows import iso_ms
from generator.api import ApiError, parse_body
from generator.events import CarTransaction, generate
from spark_apps import transforms as t

EXAMPLES = 600
TEXT_FIELDS = ("buyer_name", "car_brand", "car_model", "color", "country", "branch")
ALPHABET = st.one_of(st.characters(codec="utf-8"), st.sampled_from(["\n", "\r", "\t", "\\", "\x00", "\x7f",
                                                                     "\x85", "\u2028", " ", '"', "é", "٣"]))
UTC_DATES = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59),
                         timezones=st.just(timezone.utc))


def field_values(name: str, value):
    """A strategy for one field: its valid value, edge values of its rule, or another JSON type."""
    other_types = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5),
                            st.lists(st.integers(), max_size=2))
    if name in TEXT_FIELDS:
        own = st.one_of(st.text(ALPHABET, max_size=110), st.just(value + "\\"), st.just(value + "\n"))
    elif name == "event_time":
        own = st.one_of(UTC_DATES.map(iso_ms), st.just("2026-02-30T00:00:00.000Z"),
                        st.just(iso_ms(datetime.now(timezone.utc)).replace("2", "٢")),
                        st.integers(0, 3 * 86400).map(lambda s: iso_ms(datetime.fromtimestamp(
                            time.time() + s, timezone.utc))))
    elif name == "transaction_price":
        own = st.one_of(st.integers(0, 4).flatmap(lambda places: st.decimals(
                            min_value=-1, max_value=10_000_001, places=places).map(float)),
                        st.floats(min_value=-1, max_value=2e7), st.sampled_from([0.01, 10_000_000, 0.285, 1e300,
                                                                                 math.inf, math.nan]))
    elif name == "year":
        own = st.one_of(st.integers(1800, 2200), st.just(2020.0), st.integers(2 ** 62, 2 ** 70))
    elif name in ("transaction_id", "buyer_id"):
        own = st.one_of(st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()),
                        st.just(value + "\n"), st.text(max_size=40))
    else:
        own = st.integers(0, 3)
    return st.one_of(st.just(value), own, other_types)


def bodies(base: dict):
    """The valid ``base`` with up to three fields redrawn, and sometimes a field dropped or added."""
    names = sorted(base)
    fields = st.lists(st.sampled_from(names), max_size=3, unique=True).flatmap(
        lambda mutated: st.fixed_dictionaries({k: field_values(k, base[k]) for k in mutated}))
    rarely = st.sampled_from([False] * 4 + [True])
    dropped = rarely.flatmap(lambda drop: st.lists(st.sampled_from(names), min_size=drop, max_size=drop))
    extra = rarely.flatmap(lambda add: st.dictionaries(st.sampled_from(["extra", "Color", "transaction_id "]),
                                                       st.integers(), min_size=add, max_size=add))
    return st.tuples(fields, dropped, extra).map(
        lambda x: {**{k: v for k, v in {**base, **x[0]}.items() if k not in x[1]}, **x[2]})


def api_verdict(app: Flask, body: bytes) -> tuple[int, set[str]]:
    """(status, fields named) of the API's validation of ``body``; 201 when it would be produced."""
    with app.test_request_context("/api/logs", method="POST", data=body, content_type="application/json"):
        try:
            parse_body(CarTransaction)
        except ApiError as exc:
            return exc.status, {d["field"].split(".")[0] for d in exc.body.get("details", [])}
    return 201, set()


def test_what_the_api_accepts_spark_writes_and_what_spark_dead_letters_the_api_refused(spark, rules):
    app = Flask(__name__)
    base = generate(7, 1, iso_ms(datetime.now(timezone.utc)))[0]
    cases: list[tuple[bytes, int, set[str]]] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(bodies(base))
    def collect(body):
        raw = json.dumps(body, ensure_ascii=False).encode()   # NaN/Infinity as JSON's non-standard tokens
        cases.append((raw, *api_verdict(app, raw)))

    collect()
    received_by_ms = int(time.time() * 1000) + 1  # after every API check: Spark's "now" is later
    records = spark.createDataFrame([(raw,) for raw, _, _ in cases], "value binary").coalesce(1) \
        .selectExpr("cast(value as string) as raw")
    reasons = [r.reason for r in t.classify(records, rules, received_by_ms).select("reason").collect()]

    accepted = [(raw, reason) for (raw, status, _), reason in zip(cases, reasons) if status == 201]
    assert [(raw, reason) for raw, reason in accepted if reason is not None] == []
    missed = []
    for (raw, status, fields), reason in zip(cases, reasons):
        if reason is None:
            continue
        named = re.match(r"(?:missing field|null field|wrong type|invalid): (\w+)", reason)
        if not 400 <= status < 500 or (named and status == 422 and named.group(1) not in fields):
            missed.append((raw, reason, status, fields))
    assert [(raw, r, s, sorted(f)) for raw, r, s, f in missed] == []
    # the run explored both sides of the contract, not only one
    statuses = [status for _, status, _ in cases]
    assert statuses.count(201) >= EXAMPLES // 20 and statuses.count(422) >= EXAMPLES // 4, statuses

"""The HTTP API against the real broker.

Two ways in, both on real Kafka: the live gunicorn service at settings.generator_url (which writes
to the pipeline topic, so tests find their own records by id or marker), and Flask's test client on
an app built for a private topic, where "nothing was produced" is checked as exact end offsets.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator

import pytest
import requests

from generator.app import MAX_BODY_BYTES, create_app
from generator.events import CarTransaction, EventFactory, generate, utc_now_text
from tests.generator.kafka_tools import end_offsets, new_records, read_range

pytestmark = pytest.mark.integration


def a_valid_event(seed: int) -> dict:
    return generate(seed, 1, utc_now_text())[0]


def bad_bodies(marker: str) -> list[tuple[str, bytes, str, int, str]]:
    """(case, body, content type, expected status, expected error code); every body carries ``marker``."""
    event = {**a_valid_event(secrets.randbits(48)), "buyer_name": marker}
    missing = {k: v for k, v in event.items() if k != "transaction_price"}
    return [
        ("malformed JSON", json.dumps(event).encode()[:-5], "application/json", 400, "malformed_json"),
        ("wrong type", json.dumps({**event, "year": "2021"}).encode(), "application/json", 422, "validation_failed"),
        ("missing field", json.dumps(missing).encode(), "application/json", 422, "validation_failed"),
        ("unknown field", json.dumps({**event, "discount": 5}).encode(), "application/json", 422, "validation_failed"),
        ("not an object", json.dumps([event]).encode(), "application/json", 422, "validation_failed"),
        ("oversized", json.dumps({**event, "pad": "x" * MAX_BODY_BYTES}).encode(), "application/json", 413,
         "request_entity_too_large"),
        ("wrong content type", json.dumps(event).encode(), "text/plain", 415, "unsupported_media_type"),
    ]


@pytest.fixture(scope="module")
def auth(settings) -> dict[str, str]:
    """The write token, as a client sends it (the same token the live service read at its start)."""
    assert settings.generator_token, "no generator token: run `make up`"
    return {"Authorization": f"Bearer {settings.generator_token}"}


@pytest.fixture(scope="module")
def anonymous(gen_settings):
    """A test client of an app on the private topic, sending no credentials."""
    return create_app(gen_settings).test_client()


@pytest.fixture(scope="module")
def client(gen_settings, auth):
    """A test client of an app on the private topic, sending the write token with every request."""
    c = create_app(gen_settings).test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = auth["Authorization"]
    return c


@pytest.fixture(scope="module")
def live(stack_up, topic) -> str:
    """The live service's base URL, after checking it runs this code (serves /openapi.json)."""
    url = stack_up.generator_url
    r = requests.get(f"{url}/openapi.json", timeout=10)
    assert r.status_code == 200, f"the running generator is not this version (restart it): {r.status_code}"
    return url


# -- live gunicorn service ------------------------------------------------------------------------

def test_live_healthz_reports_kafka(live, topic):
    r = requests.get(f"{live}/healthz", timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert body["kafka"]["brokers"] >= 1 and body["kafka"]["topic"] == topic


def test_live_valid_log_lands_once_with_same_content(live, settings, topic, seed, auth):
    event = a_valid_event(seed)
    before = end_offsets(settings, topic)
    r = requests.post(f"{live}/api/logs", json=event, headers=auth, timeout=30)
    assert r.status_code == 201, r.text
    ack = r.json()
    assert ack["status"] == "acknowledged" and ack["event"] == event and ack["topic"] == topic
    after = end_offsets(settings, topic)
    # Answered only after the broker acknowledged: the record is already below the end offset.
    assert after[ack["partition"]] > ack["offset"]
    mine = [m for m in read_range(settings, topic, before, after) if m.key().decode() == event["transaction_id"]]
    assert len(mine) == 1
    assert (mine[0].partition(), mine[0].offset()) == (ack["partition"], ack["offset"])
    assert json.loads(mine[0].value()) == event


def test_live_bad_input_gets_4xx_and_produces_nothing(live, settings, topic, auth):
    marker = f"marker-{secrets.token_hex(8)}"
    before = end_offsets(settings, topic)
    for case, body, ctype, status, code in bad_bodies(marker):
        r = requests.post(f"{live}/api/logs", data=body, headers={"Content-Type": ctype, **auth}, timeout=30)
        assert r.status_code == status, f"{case}: {r.status_code} {r.text}"
        assert r.json()["error"] == code, case
        assert r.json()["message"], case
    after = end_offsets(settings, topic)
    # Other producers may share the pipeline topic: look for our marker rather than at offsets alone.
    assert not [m for m in read_range(settings, topic, before, after) if marker.encode() in m.value()]


def test_live_stream_events_are_in_kafka(live, settings, topic, seed, auth):
    before = end_offsets(settings, topic)
    with requests.get(f"{live}/api/stream_car_transactions", params={"count": 5, "rate": 20, "seed": seed},
                      headers=auth, stream=True, timeout=30) as r:
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        messages = list(parse_sse(r.iter_lines(decode_unicode=True)))
    transactions = [json.loads(m["data"]) for m in messages if m["event"] == "transaction"]
    summary = [json.loads(m["data"]) for m in messages if m["event"] == "summary"]
    assert len(transactions) == 5
    assert summary == [{"produced": 5, "acknowledged": 5, "failed": 0, "pending": 0, "errors": {}}]
    for event in transactions:
        CarTransaction.model_validate(event, strict=True)
    after = end_offsets(settings, topic)
    in_kafka = {m.key().decode(): json.loads(m.value()) for m in read_range(settings, topic, before, after)}
    for event in transactions:
        assert in_kafka[event["transaction_id"]] == event


def test_live_stream_stops_producing_when_client_disconnects(live, settings, topic, seed, auth):
    before = end_offsets(settings, topic)
    with requests.get(f"{live}/api/stream_car_transactions", params={"rate": 50, "seconds": 60, "seed": seed},
                      headers=auth, stream=True, timeout=30) as r:
        received = [m for _, m in zip(range(10), parse_sse(r.iter_lines(decode_unicode=True)))]
    assert len(received) == 10
    # The stream's ids are known from its seed; count how many of them reached Kafka over time.
    ids = {e["transaction_id"] for e in generate(seed, 3000, utc_now_text())}

    def produced_so_far() -> int:
        after = end_offsets(settings, topic)
        return sum(m.key().decode() in ids for m in read_range(settings, topic, before, after))

    time.sleep(2)
    settled = produced_so_far()
    time.sleep(2)
    assert produced_so_far() == settled, "the server kept producing after the client went away"
    assert 10 <= settled <= 20  # what was sent, plus the few produced before the broken pipe showed


def test_live_burst_api_runs_in_background(live, settings, topic, seed, auth):
    before = end_offsets(settings, topic)
    r = requests.post(f"{live}/api/bursts", json={"rate": 400, "duration": 2, "seed": seed}, headers=auth,
                      timeout=30)
    assert r.status_code == 202, r.text
    assert r.json()["state"] in ("pending", "running")
    status_url = live + r.headers["Location"]
    deadline = time.monotonic() + 60
    while (status := requests.get(status_url, timeout=10).json())["state"] in ("pending", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    assert status["state"] == "succeeded", status
    assert (status["requested"], status["produced"], status["acknowledged"], status["failed"]) == (800, 800, 800, 0)
    after = end_offsets(settings, topic)
    ids = {e["transaction_id"] for e in generate(seed, 800, utc_now_text())}
    assert sum(m.key().decode() in ids for m in read_range(settings, topic, before, after)) == 800


def test_live_openapi_documents_the_endpoints(live):
    doc = requests.get(f"{live}/openapi.json", timeout=10).json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    assert {"/api/stream_car_transactions", "/api/logs", "/api/bursts", "/api/bursts/{burst_id}", "/healthz"} <= set(paths)
    body = paths["/api/logs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/CarTransaction"}
    schema = doc["components"]["schemas"]["CarTransaction"]
    assert schema["properties"] == CarTransaction.model_json_schema()["properties"]
    assert set(schema["required"]) == set(CarTransaction.model_fields)
    assert {"200", "201", "400", "401", "403", "409", "413", "415", "422"} <= set(paths["/api/logs"]["post"]["responses"])
    assert doc["components"]["securitySchemes"]["writeToken"] == {**doc["components"]["securitySchemes"]["writeToken"],
                                                                  "type": "http", "scheme": "bearer"}
    writes = [("/api/logs", "post"), ("/api/bursts", "post"), ("/api/stream_car_transactions", "get")]
    assert [paths[p][m].get("security") for p, m in writes] == [[{"writeToken": []}]] * 3
    assert "security" not in paths["/healthz"]["get"] and "security" not in paths["/api/bursts/{burst_id}"]["get"]
    # the rules the API enforces beyond JSON schema's vocabulary are stated, with their values
    assert schema["properties"]["transaction_price"]["x-max-decimals"] == 2
    assert schema["properties"]["event_time"]["x-not-before"] == "1970-01-01T00:00:00.000Z"
    assert schema["properties"]["event_time"]["x-max-ahead-seconds"] == 86400
    assert "\\" in schema["properties"]["car_brand"]["pattern"]
    assert {p["name"] for p in paths["/api/stream_car_transactions"]["get"]["parameters"]} == {"rate", "count", "seconds", "seed"}


# -- Flask test client on a private topic: exact offsets ------------------------------------------

def test_bad_input_leaves_end_offsets_unchanged(client, gen_settings):
    before = end_offsets(gen_settings, gen_settings.topic)
    for case, body, ctype, status, code in bad_bodies("m"):
        r = client.post("/api/logs", data=body, content_type=ctype)
        assert r.status_code == status, f"{case}: {r.status_code} {r.get_data(as_text=True)}"
        assert r.json["error"] == code, case
        assert end_offsets(gen_settings, gen_settings.topic) == before, f"{case} produced a record"


def test_valid_log_moves_end_offsets_by_exactly_one(client, gen_settings, seed):
    event = a_valid_event(seed)
    before = end_offsets(gen_settings, gen_settings.topic)
    r = client.post("/api/logs", json=event)
    assert r.status_code == 201, r.get_data(as_text=True)
    after = end_offsets(gen_settings, gen_settings.topic)
    assert new_records(before, after) == 1
    [msg] = read_range(gen_settings, gen_settings.topic, before, after)
    assert msg.key().decode() == event["transaction_id"] and json.loads(msg.value()) == event


def test_a_transaction_id_means_one_transaction(client, gen_settings, seed):
    """Repeating an acknowledged record is answered with its first acknowledgement and produces
    nothing; the same id with other content is a 409 naming it, and produces nothing."""
    event = a_valid_event(seed)
    before = end_offsets(gen_settings, gen_settings.topic)
    first = client.post("/api/logs", json=event)
    assert first.status_code == 201, first.get_data(as_text=True)
    again = client.post("/api/logs", json=event)
    assert again.status_code == 200 and again.json["status"] == "already_acknowledged"
    assert (again.json["partition"], again.json["offset"]) == (first.json["partition"], first.json["offset"])
    other = client.post("/api/logs", json={**event, "transaction_price": event["transaction_price"] + 1})
    assert other.status_code == 409 and other.json["error"] == "conflict", other.get_data(as_text=True)
    assert other.json["transaction_id"] == event["transaction_id"] and event["transaction_id"] in other.json["message"]
    after = end_offsets(gen_settings, gen_settings.topic)
    assert new_records(before, after) == 1
    [msg] = read_range(gen_settings, gen_settings.topic, before, after)
    assert json.loads(msg.value()) == event


def test_every_write_endpoint_needs_the_token_and_produces_nothing_without_it(anonymous, gen_settings, seed):
    writes = [("post", "/api/logs", {"json": a_valid_event(seed)}),
              ("post", "/api/bursts", {"json": {"rate": 10, "duration": 1}}),
              ("get", "/api/stream_car_transactions?count=3&rate=100", {})]
    before = end_offsets(gen_settings, gen_settings.topic)
    for method, path, kwargs in writes:
        for headers, status in (({}, 401), ({"Authorization": "Bearer not-the-token"}, 403),
                                ({"Authorization": "Basic YWRtaW46YWRtaW4="}, 401)):
            r = getattr(anonymous, method)(path, headers=headers, **kwargs)
            assert r.status_code == status, (method, path, headers, r.get_data(as_text=True))
            assert r.headers["WWW-Authenticate"].startswith('Bearer realm="carpipe-generator"')
            assert r.json["error"] in ("unauthorized", "forbidden") and r.json["message"]
    time.sleep(1)  # a burst thread, had one started, would have produced by now
    assert end_offsets(gen_settings, gen_settings.topic) == before
    # what stays open
    assert anonymous.get("/healthz").status_code == 200 and anonymous.get("/openapi.json").status_code == 200
    assert anonymous.get("/api/bursts/nope").status_code == 404


def test_burst_limits_answer_429_and_start_nothing(gen_settings, auth, seed):
    s = gen_settings.model_copy(update={"generator_max_burst_events": 100, "generator_max_active_bursts": 1})
    c = create_app(s).test_client()
    before = end_offsets(s, s.topic)
    r = c.post("/api/bursts", json={"rate": 101, "duration": 1}, headers=auth)
    assert r.status_code == 429 and r.json["error"] == "burst_too_large", r.get_data(as_text=True)
    assert end_offsets(s, s.topic) == before
    first = c.post("/api/bursts", json={"rate": 10, "duration": 5, "seed": seed}, headers=auth)
    assert first.status_code == 202, first.get_data(as_text=True)
    second = c.post("/api/bursts", json={"rate": 10, "duration": 1}, headers=auth)
    assert second.status_code == 429 and second.json["error"] == "too_many_bursts"
    assert second.headers["Retry-After"] == "5"
    assert finished(c, first.headers["Location"])["state"] == "succeeded"
    assert new_records(before, end_offsets(s, s.topic)) == 50
    again = c.post("/api/bursts", json={"rate": 10, "duration": 1}, headers=auth)  # the slot is free again
    assert again.status_code == 202 and finished(c, again.headers["Location"])["state"] == "succeeded"


def finished(c, status_url: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (status := c.get(status_url).json)["state"] in ("pending", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    return status


def test_wrong_method_is_405_with_allow(client):
    r = client.get("/api/logs")
    assert r.status_code == 405 and r.json["error"] == "method_not_allowed"
    assert r.headers["Allow"] == "OPTIONS, POST"
    r = client.delete("/api/bursts")
    assert r.status_code == 405 and set(r.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}


def test_stream_query_bounds_are_validated(client, gen_settings):
    before = end_offsets(gen_settings, gen_settings.topic)
    for query in ("rate=0", "rate=abc", "count=0", "seconds=-1", "rate=100000", "bogus=1"):
        r = client.get(f"/api/stream_car_transactions?{query}")
        assert r.status_code == 400, query
        assert r.json["error"] == "invalid_query"
    assert end_offsets(gen_settings, gen_settings.topic) == before


def test_stream_count_bound_produces_exactly_count(client, gen_settings, seed):
    before = end_offsets(gen_settings, gen_settings.topic)
    r = client.get(f"/api/stream_car_transactions?count=7&rate=100&seed={seed}")
    messages = list(parse_sse(r.get_data(as_text=True).splitlines()))
    assert [m["event"] for m in messages] == ["transaction"] * 7 + ["summary"]
    assert new_records(before, end_offsets(gen_settings, gen_settings.topic)) == 7
    factory = EventFactory(seed)
    for m in messages[:7]:
        event = json.loads(m["data"])
        assert event == factory.make(event["event_time"])  # same seed -> same events


def test_burst_api_rejects_bad_requests(client):
    for body in ({"rate": 0, "duration": 1}, {"rate": "5", "duration": 1}, {"rate": 5}, {"rate": 1, "duration": 0.1}):
        r = client.post("/api/bursts", json=body)
        assert r.status_code == 422, body
    assert client.get("/api/bursts/nope").status_code == 404


def parse_sse(lines) -> Iterator[dict]:
    """Server-sent events from text lines: one dict (event, data, id) per blank-line-terminated block,
    yielded as soon as it is complete (so a test can stop reading mid-stream)."""
    current: dict = {}
    for line in lines:
        if line:
            field, _, value = line.partition(": ")
            current[field] = value
        elif current:
            yield current
            current = {}
    if current:
        yield current

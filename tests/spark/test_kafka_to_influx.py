"""The window job end to end under spark-submit, against the real Kafka, HDFS and InfluxDB.

One scratch topic / HDFS base / InfluxDB database for the module. Records are produced in three
groups with the broker stamping them (LogAppendTime): BEFORE, the window's own (N valid + K invalid),
AFTER. The window is [first stamp of the window's group, first stamp of AFTER): its end is exactly
the timestamp of the first record that must stay out. Each spark-submit costs a JVM start, so the
runs are module fixtures shared by the assertions:

  failed  - InfluxDB cut off after a few writes (a proxy in front of the real one): clear failure
  first   - rerun from Kafka after that failure: exact counts
  second  - the same window again: InfluxDB identical
  replay  - --source hdfs over Flume-layout files written here: identical to the Kafka run
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from hdfs import InsecureClient

from carpipe.influx import client_from_settings
from carpipe.windows import UTC, iso_ms
from carpipe.kafka_clients import librdkafka
from carpipe.kafka_offsets import kafka_holds_window
from tests.spark.conftest import event, line
from tests.spark.jobrun import create_scratch, drop_scratch, produce, run_job, scratch_settings, window_of

pytestmark = pytest.mark.integration

N_VALID = 12
SENTINEL_TAGS = "branch=Sentinel,car_brand=Sentinel,car_model=S,color=grey,country=Nowhere"


def now_text(delta_s: float = 0) -> str:
    return iso_ms(datetime.now(UTC) + timedelta(seconds=delta_s))


def window_events() -> tuple[list[dict], list[tuple[str, str]]]:
    """N valid events (brands, countries, odd characters; event times before, inside and after the
    window) and K invalid records with the reason each must be dead-lettered with."""
    brands = ["Toyota", "Land Rover", "BMW"]
    countries = [("Germany", "Berlin"), ("Côte d'Ivoire", "Abidjan"), ("France", "Paris, Nord")]
    valid = []
    for i in range(N_VALID):
        country, branch = countries[i % 3]
        when = {0: "2020-01-01T00:00:00.000Z", 1: now_text(3600)}.get(i % 4, now_text())
        valid.append(event(100 + i, event_time=when, car_brand=brands[i % 3], country=country, branch=branch,
                           transaction_price=round(1000 + 137.25 * i, 2), year=2000 + i,
                           buyer_name='Zoë "Z" O\'Neil' if i == 5 else f"Buyer {i}"))
    invalid = [
        ("not json at all", "malformed JSON: not one JSON object"),
        (line(900, transaction_price=-10), "invalid transaction_price: must be >= 0.01"),
        (line(901, year="1999"), "wrong type: year (expected integer)"),
        (line(902, color=None), "missing field: color"),
    ]
    return valid, invalid


@pytest.fixture(scope="module")
def case(stack_up):
    s = scratch_settings(stack_up, "spark-test")
    create_scratch(s)
    valid, invalid = window_events()
    before = produce(s, [line(1), line(2), line(3)])
    time.sleep(0.2)
    stamps = produce(s, [json.dumps(e) for e in valid] + [raw for raw, _ in invalid])
    time.sleep(1.0)
    after = produce(s, [line(4), line(5)])
    window = window_of(min(stamps), min(after))
    assert max(before) < window.start_ms and all(window.contains_ms(t) for t in stamps), (before, stamps, after)
    influx = client_from_settings(s)
    # Points of the neighbouring windows, at the last ns before and the first ns after this one.
    sentinels = [f"{s.raw_measurement},{SENTINEL_TAGS} transaction_id=\"sentinel\",buyer_id=\"b\","
                 f"buyer_name=\"n\",year=2000i,transaction_price=1.00,schema_version=1i",
                 "car_sales_1m,dimension=brand,value=Sentinel count=1i,revenue=1.00,avg_price=1.00",
                 "window_summary,source=kafka read=1i,written=1i,dead_lettered=0i,duplicates=0i"]
    influx.write([f"{p} {t}" for p in sentinels for t in (window.start_ms * 10**6 - 1, window.end_ms * 10**6)])
    yield s, window, valid, invalid
    drop_scratch(s)


def snapshot(s, window) -> dict:
    """Every point of the three measurements in the window (and the sentinels around it)."""
    influx = client_from_settings(s)
    lo, hi = window.start_ms * 10**6, window.end_ms * 10**6
    out = {}
    for m in (s.raw_measurement, "car_sales_1m", "window_summary"):
        out[m] = sorted(influx.rows(f'SELECT * FROM "{m}" WHERE time >= {lo} AND time < {hi} GROUP BY *'),
                        key=lambda r: json.dumps(r, sort_keys=True))
        # InfluxQL cannot OR time ranges: one query each side.
        out[m + " outside"] = (influx.rows(f'SELECT * FROM "{m}" WHERE time < {lo} GROUP BY *')
                               + influx.rows(f'SELECT * FROM "{m}" WHERE time >= {hi} GROUP BY *'))
    return out


def dead_letters(s, window) -> list[dict]:
    client = InsecureClient(s.webhdfs_url)
    directory = window.hdfs_dir(s.hdfs_dead_letter_path)
    out = []
    for name in sorted(client.list(directory)):
        if name.startswith("part-"):
            with client.read(f"{directory}/{name}", encoding="utf-8") as f:
                out += [json.loads(x) for x in f.read().splitlines() if x]
    return out


class CuttingProxy:
    """Forwards HTTP to the real InfluxDB until ``writes_allowed`` /write requests went through, then
    drops every connection without answering: InfluxDB becoming unreachable in the middle of a job."""

    def __init__(self, target: str, writes_allowed: int):
        proxy = self
        self.target, self.writes_allowed, self.writes, self.cut = target, writes_allowed, 0, False
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                path = self.path.split("?", 1)[0]
                with proxy.lock:
                    if path == "/write":
                        proxy.writes += 1
                        proxy.cut |= proxy.writes > proxy.writes_allowed
                    cut = proxy.cut
                if cut:
                    self.close_connection = True
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                r = requests.post(proxy.target + self.path, data=body, timeout=30,
                                  headers={k: v for k in ("Content-Type", "Authorization")
                                           if (v := self.headers.get(k))})
                self.send_response(r.status_code)
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def failed(case):
    s, window, _, _ = case
    proxy = CuttingProxy(s.influx_url, writes_allowed=1)
    try:
        run = run_job(s.model_copy(update={"influx_url": proxy.url}), window, "kafka",
                      "--batch-size", "2", "--influx-retries", "1")
    finally:
        proxy.close()
    return run, proxy, snapshot(s, window)


@pytest.fixture(scope="module")
def first(case, failed):
    s, window, _, _ = case
    return run_job(s, window, "kafka"), snapshot(s, window), dead_letters(s, window)


@pytest.fixture(scope="module")
def second(case, first):
    """The rerun, with other resources from the config layer: the output must not depend on them."""
    s, window, _, _ = case
    other = s.model_copy(update={"spark_driver_memory": "1536m", "spark_shuffle_partitions": 3})
    return run_job(other, window, "kafka"), snapshot(s, window), dead_letters(s, window)


@pytest.fixture(scope="module")
def replay(case, second):
    """The window's records as Flume lays them out: two closed files (one line repeated, as after a
    Flume crash), plus a file still open (.tmp) whose record must not be read."""
    s, window, valid, invalid = case
    lines = [json.dumps(e) for e in valid] + [raw for raw, _ in invalid]
    client = InsecureClient(s.webhdfs_url)
    directory = window.hdfs_dir(s.hdfs_base_path)
    client.write(f"{directory}/FlumeData.1.json", data="\n".join(lines[:7] + [lines[3]]) + "\n", overwrite=True)
    client.write(f"{directory}/FlumeData.2.json", data="\n".join(lines[7:]) + "\n", overwrite=True)
    client.write(f"{directory}/FlumeData.3.json.tmp", data=line(777) + "\n", overwrite=True)
    return run_job(s, window, "hdfs"), snapshot(s, window), dead_letters(s, window)


def test_influx_cut_off_mid_job_fails_clearly_and_leaves_no_summary(case, failed):
    s, window, _, _ = case
    run, proxy, state = failed
    assert run.returncode == 1
    assert run.failure.startswith(f"kafka_to_influx failed: InfluxDB /write at {proxy.url} failed after 2 attempts")
    assert proxy.writes > proxy.writes_allowed
    # Part of the raw points may be in; the summary (written last) is not: the window reads as pending.
    assert 0 < len(state[s.raw_measurement]) < N_VALID
    assert state["window_summary"] == []


def test_window_run_writes_exactly_the_window(case, first):
    s, window, valid, invalid = case
    run, state, letters = first
    assert run.returncode == 0, run.stderr[-3000:]
    assert {k: run.result[k] for k in ("source", "read", "written", "dead_lettered", "duplicates")} == {
        "source": "kafka", "read": N_VALID + len(invalid), "written": N_VALID,
        "dead_lettered": len(invalid), "duplicates": 0}

    raw = state[s.raw_measurement]
    assert len(raw) == N_VALID  # no two transactions collapsed into one point
    by_id = {r["transaction_id"]: r for r in raw}
    assert set(by_id) == {e["transaction_id"] for e in valid}  # BEFORE/AFTER records are not in
    for e in valid:
        p = by_id[e["transaction_id"]]
        assert {k: p[k] for k in e if k not in ("event_time",)} == {k: v for k, v in e.items() if k != "event_time"}
        event_ms = int(datetime.fromisoformat(e["event_time"].replace("Z", "+00:00")).timestamp() * 1000)
        assert p["time"] // 10**6 == min(max(event_ms, window.start_ms), window.end_ms - 1)

    rollups = state["car_sales_1m"]
    for dim, field in (("brand", "car_brand"), ("country", "country"), ("branch", "branch")):
        rows = [r for r in rollups if r["dimension"] == dim]
        assert sum(r["count"] for r in rows) == N_VALID
        expected = {}
        for e in valid:
            expected[e[field]] = round(expected.get(e[field], 0) + e["transaction_price"], 2)
        got = {}
        for r in rows:
            got[r["value"]] = round(got.get(r["value"], 0) + r["revenue"], 2)
        assert got == expected

    assert [(r["source"], r["read"], r["written"], r["dead_lettered"], r["duplicates"], r["time"])
            for r in state["window_summary"]] == [
        ("kafka", N_VALID + len(invalid), N_VALID, len(invalid), 0, window.start_ms * 10**6)]
    assert sorted((d["reason"], d["raw"]) for d in letters) == sorted((r, raw) for raw, r in invalid)


def data_of(state: dict) -> dict:
    """The state without the summary's ``loaded_ms``: when a run loaded, not what it loaded."""
    return {m: [{k: v for k, v in r.items() if k != "loaded_ms"} for r in rows] for m, rows in state.items()}


def test_same_window_twice_leaves_influx_and_dead_letters_identical_whatever_the_resources(first, second):
    assert second[0].returncode == 0, second[0].stderr[-3000:]
    assert data_of(second[1]) == data_of(first[1])
    (a,), (b,) = first[1]["window_summary"], second[1]["window_summary"]
    assert a["loaded_ms"] < b["loaded_ms"]  # the rerun's summary replaced the first one's
    assert first[0].result["resources"] == {"master": "local[2]", "cores": 2, "driver_memory": "2g",
                                            "executor_memory": "2g", "shuffle_partitions": 2}
    assert second[0].result["resources"] == {**first[0].result["resources"],
                                             "driver_memory": "1536m", "shuffle_partitions": 3}
    assert second[2] == first[2]


def test_replay_from_hdfs_gives_the_same_influx_state(case, first, replay):
    s, window, valid, invalid = case
    run, state, letters = replay
    assert run.returncode == 0, run.stderr[-3000:]
    assert {k: run.result[k] for k in ("source", "read", "written", "dead_lettered", "duplicates")} == {
        "source": "hdfs", "read": N_VALID + len(invalid) + 1, "written": N_VALID,
        "dead_lettered": len(invalid), "duplicates": 1}
    assert state[s.raw_measurement] == first[1][s.raw_measurement]
    assert state["car_sales_1m"] == first[1]["car_sales_1m"]
    # One summary for the window, describing the last run (its source and the duplicate line it read).
    assert [(r["source"], r["read"], r["written"], r["dead_lettered"], r["duplicates"])
            for r in state["window_summary"]] == [("hdfs", N_VALID + len(invalid) + 1, N_VALID, len(invalid), 1)]
    assert sorted(map(json.dumps, letters)) == sorted(map(json.dumps, first[2]))


def test_neighbouring_windows_points_are_untouched(case, failed, first, second, replay):
    s, window, _, _ = case
    for run_state in (failed[2], first[1], second[1], replay[1]):
        for m in (s.raw_measurement, "car_sales_1m", "window_summary"):
            assert [r["time"] for r in run_state[m + " outside"]] == [window.start_ms * 10**6 - 1,
                                                                      window.end_ms * 10**6], m


def test_a_window_without_records_succeeds_with_a_zero_summary(case):
    """A quiet window (burst paused, stack started mid-window) is a success that says "nothing", not a
    failed task: the summary is written with zeros, so reconciliation can state the window is empty."""
    s, window, _, _ = case
    hour = 3600 * 1000
    quiet = window_of(window.end_ms + hour, window.end_ms + hour + (window.end_ms - window.start_ms))
    before_ms = time.time() * 1000
    run = run_job(s, quiet, "kafka")
    assert run.returncode == 0, run.stderr[-3000:]
    assert {k: run.result[k] for k in ("read", "written", "dead_lettered", "duplicates", "conflicts")} == {
        "read": 0, "written": 0, "dead_lettered": 0, "duplicates": 0, "conflicts": 0}
    state = snapshot(s, quiet)
    assert state[s.raw_measurement] == [] and state["car_sales_1m"] == []
    assert [(r["read"], r["written"], r["dead_lettered"], r["duplicates"], r["conflicts"], r["time"])
            for r in state["window_summary"]] == [(0, 0, 0, 0, 0, quiet.start_ms * 10**6)]
    # when the run finished loading (the end of the ingest latency to InfluxDB), an integer
    (summary,) = state["window_summary"]
    assert isinstance(summary["loaded_ms"], int) and before_ms < summary["loaded_ms"] < time.time() * 1000


def test_unreachable_influx_fails_before_anything_is_read_or_written(case):
    s, window, _, _ = case
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{closed.server_address[1]}"
    closed.server_close()  # nothing listens on this port any more
    before = snapshot(s, window), dead_letters(s, window)
    run = run_job(s.model_copy(update={"influx_url": url}), window, "kafka", "--influx-retries", "0")
    assert run.returncode == 1
    assert run.failure.startswith(f"kafka_to_influx failed: InfluxDB /query at {url} failed after 1 attempts")
    assert run.result is None
    assert (snapshot(s, window), dead_letters(s, window)) == before


def test_auto_source_switches_to_hdfs_once_retention_removed_part_of_the_window(stack_up):
    """kafka_holds_window (what --source auto decides on), with records deleted the way retention
    deletes them: the partition's log start offset moves past them."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient

    s = scratch_settings(stack_up, "spark-auto").model_copy(update={"topic_partitions": 1})
    create_scratch(s)
    try:
        stamps = produce(s, [line(1)])
        time.sleep(0.1)
        stamps += produce(s, [line(2)])
        assert kafka_holds_window(librdkafka(s), s.topic, stamps[0])  # nothing deleted yet
        admin = AdminClient({"bootstrap.servers": s.kafka_bootstrap})
        for future in admin.delete_records([TopicPartition(s.topic, 0, 1)]).values():
            assert future.result(30).low_watermark == 1
        # Record 1 is gone: a window starting at or before its time may have lost records.
        assert not kafka_holds_window(librdkafka(s), s.topic, stamps[0])
        assert not kafka_holds_window(librdkafka(s), s.topic, stamps[1])
        # A window starting after the earliest record still held is complete in Kafka.
        assert kafka_holds_window(librdkafka(s), s.topic, stamps[1] + 1)
    finally:
        drop_scratch(s)


def test_a_window_is_over_in_kafka_once_every_partition_holds_a_later_record(stack_up):
    """window_closed (what lets the Spark run start before the grace ends): one partition still
    without a record stamped after the window end keeps the window open."""
    from confluent_kafka import Producer

    from carpipe.kafka_offsets import window_closed

    s = scratch_settings(stack_up, "spark-closed").model_copy(update={"topic_partitions": 2})
    create_scratch(s)
    try:
        end_ms = int(time.time() * 1000)
        producer = Producer({"bootstrap.servers": s.kafka_bootstrap, "acks": "all"})

        def stamp_in(partition: int) -> None:
            producer.produce(s.topic, b"{}", partition=partition)
            assert producer.flush(30) == 0

        assert not window_closed(s, end_ms)  # an empty topic says nothing
        stamp_in(0)
        assert not window_closed(s, end_ms)  # partition 1 may still receive a record of the window
        stamp_in(1)
        assert window_closed(s, end_ms)
        assert not window_closed(s, int(time.time() * 1000) + 60_000)  # a window not over yet
    finally:
        drop_scratch(s)

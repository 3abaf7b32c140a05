"""End to end on the running stack: the real DAGs, run by the real scheduler, with minute windows.

The services run with the default 15-minute cadence. The DAGs' overrides file (see
carpipe.dag_settings) switches the same DAGs to 60-second windows on a scratch namespace (topic, consumer
group, HDFS paths, InfluxDB database) for the duration of this module, so the test neither waits for
quarter hours nor mixes its counts with the platform's own data; it expires by itself and is removed at
the end, when the DAGs go back to the configured cadence.

Independent counts: Kafka by consuming the topic (not by offsets, which the reconciliation uses),
HDFS with the Flume leg's WebHDFS counter, InfluxDB with direct queries.

On the cluster profile the same two windows also go through the loss of Airflow's own processes
(tests/cluster/airflow_faults.py): the scheduler's host dies while the first window's burst runs, and the
host of the Celery worker running the second window's Spark job dies under it; the counts must still be
exact in every tier.

Run with ``-s`` to see each window's measured timeline.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from datetime import datetime, timedelta
from typing import NamedTuple

import pytest

from carpipe.config import Settings, get_settings
from carpipe.influx import client_from_settings
from carpipe.windows import UTC, Window, parse_utc
from tests.dags.airflow_api import AirflowApi, airflow_cli, iso
from tests.dags.pipeline_runs import (BURST_DAG, RECONCILE_DAG, SPARK_DAG, audit, now, reconcile_instance, run_at,
                                      scratch_names, scratch_namespace, sleep_until, task, timeline, wait_run_at)

# Fixture setup (switching the DAGs, two windows) runs inside the first test's time budget. On the
# cluster profile the module kills Airflow's processes: disruptive there.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800),
              *([pytest.mark.disruptive] if get_settings().profile == "cluster" else [])]

WINDOW, BURST, GRACE, RATE = 120, 15, 30, 4
PER_WINDOW = BURST * RATE  # events each scheduled burst produces
SETTLE = 8 * 60            # from a window's end until it must have reconciled (loaded 2-core machine)
UI_RATE, UI_DURATION, UI_SEED = 3, 7, 424242
SPARK_TASK = "spark_kafka_to_influx"


@pytest.fixture(scope="module")
def api(stack_up) -> AirflowApi:
    return AirflowApi(stack_up)


@pytest.fixture(scope="module")
def scratch(stack_up, api):
    """Settings of the scratch namespace with minute windows, active in the running DAGs while the
    module runs (the Spark DAG paused until the first window under test has closed, see two_windows)."""
    overrides = {"window_seconds": WINDOW, "burst_seconds": BURST, "grace_seconds": GRACE, "burst_rate": RATE,
                 **scratch_names("e2e")}
    with scratch_namespace(api, stack_up, overrides, expires=timedelta(minutes=45)) as switched:
        yield switched


# -- independent counts ------------------------------------------------------------------------
def kafka_records(s: Settings) -> list[tuple[int, bytes]]:
    """Every record of the topic (broker timestamp, value), by consuming it whole."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": s.kafka_bootstrap, "group.id": f"e2e-probe-{uuid.uuid4()}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        parts = c.list_topics(s.topic, timeout=30).topics[s.topic].partitions
        ends = {p: c.get_watermark_offsets(TopicPartition(s.topic, p), timeout=30)[1] for p in parts}
        c.assign([TopicPartition(s.topic, p, 0) for p in parts])
        got, pos, deadline = [], dict.fromkeys(parts, 0), time.monotonic() + 60
        while any(pos[p] < ends[p] for p in parts):
            assert time.monotonic() < deadline, f"could not read {s.topic} to its end: {pos} vs {ends}"
            m = c.poll(1)
            if m is not None and m.error() is None:
                got.append((m.timestamp()[1], m.value()))
                pos[m.partition()] = m.offset() + 1
        return got
    finally:
        c.close()


def independent_counts(s: Settings, w: Window, records: list[tuple[int, bytes]]) -> dict:
    from carpipe.hdfs_counts import count_window

    influx = client_from_settings(s)
    raw = influx.rows(f'SELECT count("transaction_id") AS n FROM "{s.raw_measurement}" '
                      f"WHERE time >= {w.start_ms}ms AND time < {w.end_ms}ms")
    hdfs = count_window(s, w)
    assert not hdfs.open_files, hdfs
    return {"kafka": sum(w.contains_ms(t) for t, _ in records), "hdfs": hdfs.distinct,
            "hdfs_lines": hdfs.lines, "influx": int(raw[0]["n"]) if raw else 0}


def wait_reconciled(s: Settings, windows: list[Window], until: datetime) -> dict[Window, dict]:
    """Until each window's audit point says ok; a mismatch fails at once."""
    got: dict[Window, dict] = {}
    while len(got) < len(windows):
        for w in windows:
            a = audit(s, w)
            if a and a["status"] == "mismatch":
                pytest.fail(f"window {w} reconciled as mismatch: {a}")
            if a and a["status"] == "ok":
                got[w] = a
        if len(got) < len(windows):
            assert now() < until, f"not reconciled by {until:%H:%M:%S}: " + ", ".join(
                f"{w.label()}: {audit(s, w)}" for w in windows if w not in got)
            time.sleep(5)
    return got


# -- runs of one window ---------------------------------------------------------------------------
class PipelineRun(NamedTuple):
    s: Settings
    switched: datetime
    windows: list[Window]
    audits: dict[Window, dict]
    ui: tuple[dict, Window]
    faults: dict[str, dict]  # cluster profile: what was killed when (tests/cluster/airflow_faults.py)


@pytest.fixture(scope="module")
def two_windows(scratch, api, stack_up):
    """Two consecutive windows that started after the switch, through setup -> burst (+Flume) ->
    Spark -> reconcile, as the scheduler runs them; in the first one, also a burst triggered the way
    the UI's trigger form does it (REST API, custom params). On the cluster profile, with the
    scheduler's host lost mid-burst in the first window, and the host of the worker running the second
    window's Spark job lost under it."""
    from tests.cluster.airflow_faults import kill_scheduler_mid_run, kill_worker_under_spark

    s, switched = scratch
    cluster = stack_up.profile == "cluster"
    w1 = Window.containing(switched + timedelta(seconds=5), WINDOW).next()
    w2 = w1.next()
    sleep_until(w1.start + timedelta(seconds=1))
    ui_run = api.trigger(BURST_DAG, {"rate": UI_RATE, "duration": UI_DURATION, "seed": UI_SEED})
    faults: dict[str, dict] = {}
    if cluster:
        faults["scheduler"] = kill_scheduler_mid_run(api, stack_up, BURST_DAG, wait_run_at(api, BURST_DAG, w1.start),
                                                     "burst")
    # Unpaused once w1 has closed and the DAG processor has re-parsed (it keeps the next run of a
    # paused DAG at the latest closed interval): the scheduler's first run is w1's, then w2's.
    sleep_until(w1.end + timedelta(seconds=25))
    api.pause(SPARK_DAG, False)
    settle = SETTLE
    if cluster:
        sleep_until(w2.end)
        faults["worker"] = kill_worker_under_spark(api, stack_up, s.topic, SPARK_DAG,
                                                   wait_run_at(api, SPARK_DAG, w2.start), SPARK_TASK, w2,
                                                   timeout=GRACE + SETTLE)
        # The lost try is failed once its heartbeat is overdue, then retried.
        settle += stack_up.airflow_task_heartbeat_timeout + 60
    assert api.wait_run(BURST_DAG, ui_run["dag_run_id"], timeout=2 * WINDOW + settle)["state"] == "success", \
        api.task_states(BURST_DAG, ui_run["dag_run_id"])
    w_ui = Window.starting(api.xcom(BURST_DAG, ui_run["dag_run_id"], "plan", key="window_start"), WINDOW)
    audits = wait_reconciled(s, sorted({w1, w2, w_ui}), until=max(w2, w_ui).end + timedelta(seconds=settle))
    # Later windows are not needed: spare the CPU until the backfill test unpauses the DAG.
    api.pause(SPARK_DAG, True)
    return PipelineRun(s, switched, [w1, w2], audits, (ui_run, w_ui), faults)


def reports_for(api: AirflowApi, w: Window, ui: tuple[dict, Window]) -> list[dict]:
    """The burst reports aimed at ``w``: its scheduled run's, plus the UI run's if it chose ``w``."""
    ui_run, w_ui = ui
    runs = [run_at(api, BURST_DAG, w.start)["dag_run_id"]] + ([ui_run["dag_run_id"]] if w_ui == w else [])
    return [api.xcom(BURST_DAG, r, "burst") for r in runs]


def test_two_consecutive_windows_reconcile_across_every_tier(two_windows, api):
    s, switched, windows, audits, ui, _ = two_windows
    records = kafka_records(s)
    for w in windows:
        reports = reports_for(api, w, ui)
        scheduled = reports[0]
        assert (scheduled["requested"], scheduled["produced"], scheduled["acknowledged"], scheduled["failed"]) == (
            PER_WINDOW, PER_WINDOW, PER_WINDOW, 0), scheduled
        produced = sum(r["produced"] for r in reports)
        counts = independent_counts(s, w, records)
        assert counts == {"kafka": produced, "hdfs": produced, "hdfs_lines": produced, "influx": produced}, (
            w.label(), counts)
        a = audits[w]
        assert (a["produced"], a["acknowledged"], a["kafka"], a["hdfs"], a["influx"], a["dead_lettered"]) == (
            produced, produced, produced, produced, produced, 0), a
        assert run_at(api, SPARK_DAG, w.start)["state"] == "success"
        marks = timeline(api, s, w, switched)
        print(f"\ntimeline of window {w}, {produced} events (seconds after the window end):")
        for stage, seconds in marks.items():
            print(f"  {stage:<34} {seconds:+7.1f}")
        assert marks["burst end (last ack)"] < 0  # the whole burst inside its window
        assert marks["HDFS files closed (last mtime)"] <= marks["Flume runner exited"] + 1
        assert 0 < marks["Influx written (Spark task end)"] < marks["reconciled (ok)"]
        assert 0 < a["reconciled_lag_s"] <= marks["reconciled (ok)"] + 1  # the audit's own measure


def exact(a: dict) -> bool:
    """An audit point with every tier equal: nothing lost, nothing counted twice."""
    return a["status"] == "ok" and a["produced"] == a["acknowledged"] == a["kafka"] == a["hdfs"] == a["influx"] \
        and a["dead_lettered"] == a["conflicts"] == 0


@pytest.mark.profiles("cluster")
def test_the_scheduler_host_lost_mid_burst_the_runs_go_on_with_exact_counts(two_windows, api):
    """The running tasks are not the scheduler's: they finish in their first try, the new scheduler
    adopts them and carries the runs to the end."""
    s, _, windows, audits, _, faults = two_windows
    fault, w = faults["scheduler"], windows[0]
    assert fault["states_at_kill"]["burst"] == "running", fault
    run = run_at(api, BURST_DAG, w.start)
    tis = {t["task_id"]: t for t in api.task_instances(BURST_DAG, run["dag_run_id"])}
    assert run["state"] == "success"
    assert {k: (t["state"], t["try_number"]) for k, t in tis.items()} == {
        k: ("success", 1) for k in ("plan", "burst", "flume_agent")}
    assert parse_utc(tis["burst"]["end_date"]) > fault["killed_at"]  # the burst ran on through the loss
    assert run_at(api, SPARK_DAG, w.start)["state"] == "success"
    assert exact(audits[w]), audits[w]
    print(f"\nscheduler: {fault['processes']} process(es) killed {fault['killed_at']:%H:%M:%S} with the tasks "
          f"{fault['states_at_kill']}; a new scheduler heartbeat {fault['back_after_s']}s later; window {w.label()}: "
          f"{audits[w]['produced']} produced = Kafka = HDFS = InfluxDB")


@pytest.mark.profiles("cluster")
def test_a_celery_worker_host_lost_under_the_spark_job_the_task_is_retried_with_exact_counts(two_windows, api):
    """The lost try is failed when its heartbeat is overdue (airflow_task_heartbeat_timeout) and
    retried; the retry overwrites what the lost one may have written, so InfluxDB counts each event once."""
    s, _, windows, audits, _, faults = two_windows
    fault, w = faults["worker"], windows[1]
    run = run_at(api, SPARK_DAG, w.start)
    assert run["state"] == "success"
    path = f"/dags/{SPARK_DAG}/dagRuns/{run['dag_run_id']}/taskInstances/{SPARK_TASK}"
    tries = {t["try_number"]: t for t in api.get(f"{path}/tries")["task_instances"]}
    assert (sorted(tries), tries[1]["state"], tries[2]["state"]) == ([1, 2], "failed", "success"), tries
    assert parse_utc(tries[1]["start_date"]) < fault["killed_at"] < parse_utc(tries[2]["start_date"])
    retried_after = (parse_utc(tries[2]["start_date"]) - fault["killed_at"]).total_seconds()
    assert retried_after < s.airflow_task_heartbeat_timeout + 120, retried_after
    assert exact(audits[w]), audits[w]
    print(f"\n{fault['worker']}: {fault['processes']} process(es) killed {fault['killed_at']:%H:%M:%S} under the "
          f"Spark job of {w.label()}; it answered again {fault['back_after_s']}s later; try 2 started {retried_after:.0f}s after the kill and "
          f"succeeded; {audits[w]['produced']} produced = Kafka = HDFS = InfluxDB")


def test_ui_trigger_with_custom_params_produces_the_requested_events(two_windows, api):
    from generator.events import EventFactory, utc_now_text

    s, _, _, audits, (ui_run, w), _ = two_windows
    n = UI_RATE * UI_DURATION
    assert ui_run["run_type"] == "manual" and ui_run["logical_date"] is None
    assert ui_run["conf"] == {"rate": UI_RATE, "duration": UI_DURATION, "seed": UI_SEED}
    report = api.xcom(BURST_DAG, ui_run["dag_run_id"], "burst")
    assert (report["requested"], report["produced"], report["acknowledged"], report["failed"]) == (n, n, n, 0)
    assert (report["seed"], report["rate"], report["topic"]) == (UI_SEED, UI_RATE, s.topic)
    assert w.contains_ms(int(parse_utc(report["started_at"]).timestamp() * 1000))
    # The same seed makes the same events: every one of them went all the way to InfluxDB, in its window.
    factory = EventFactory(UI_SEED)
    ids = [factory.make(utc_now_text())["transaction_id"] for _ in range(n)]
    rows = client_from_settings(s).rows(
        f'SELECT count("transaction_id") AS n FROM "{s.raw_measurement}" WHERE '
        f"time >= {w.start_ms}ms AND time < {w.end_ms}ms AND "
        f'"transaction_id" =~ /^({"|".join(map(re.escape, ids))})$/')
    assert rows and rows[0]["n"] == n
    a = audits[w]
    assert a["status"] == "ok" and a["produced"] == a["kafka"] == a["hdfs"] == a["influx"] >= n


def pipeline_sales(windows: list[Window], records: list[tuple[int, bytes]]) -> list[dict]:
    """The events of ``windows`` with the time the dashboards see them at: the event time (ms) clamped
    into the window the broker stamped them in (spark_apps.transforms.with_point_ms)."""
    out = []
    for ts, value in records:
        w = next((w for w in windows if w.contains_ms(ts)), None)
        if w is not None:
            e = json.loads(value)
            ms = (parse_utc(e["event_time"]) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
            out.append({**e, "window": w, "point_ms": min(max(ms, w.start_ms), w.end_ms - 1)})
    return out


@pytest.mark.profiles("embedded")  # the same on any profile: run once
def test_every_dashboard_panel_shows_what_the_pipeline_run_produced(two_windows):
    """Each Grafana panel's query, expanded as Grafana does, over the two windows the DAGs ran: the
    numbers equal those worked out from the events read back from Kafka (and the audit points)."""
    from collections import Counter, defaultdict

    from carpipe.dashboards.definitions import dashboards
    from carpipe.dashboards.macros import TimeRange
    from carpipe.dashboards.panel_data import run_panel

    s, _, windows, _, _, _ = two_windows
    sales = pipeline_sales(windows, kafka_records(s))
    assert len(sales) >= 2 * PER_WINDOW
    influx = client_from_settings(s)
    rng = TimeRange(windows[0].start_ms, windows[-1].end_ms - 1)   # $timeFilter is inclusive
    got = {p.id: run_panel(influx, board, p, rng) for board in dashboards(s) for p in board.panels}

    def total(key=lambda e: "all", minute=False) -> dict:
        sums: dict = defaultdict(lambda: [0, 0.0])
        for e in sales:
            k = (key(e), e["point_ms"] // 60_000 * 60_000) if minute else key(e)
            sums[k][0] += 1
            sums[k][1] += e["transaction_price"]
        return sums

    def series(panel: str) -> dict:
        return {x.name: {t: v for t, v in x.points if v is not None} for x in got[panel].series}

    def table(panel: str, key: str) -> dict:
        d = got[panel]
        return {dict(zip(d.columns, r))[key]: r for r in d.rows}

    (n, revenue), = total().values()
    assert {x.name: x.points[0][1] for x in got["sales_totals"].series} == pytest.approx(
        {"transactions": n, "revenue": revenue, "average price": revenue / n})
    assert got["sales_tpm"].interval == "1m"
    assert {t: v for t, v in got["sales_tpm"].series[0].points if v} == {
        m: c for (_, m), (c, _) in total(minute=True).items()}
    bins = Counter(int(e["transaction_price"] // 10_000) * 10_000 for e in sales)
    assert {lo: c for lo, c in got["sales_price_distribution"].bins if c} == bins
    by_brand_minute = total(lambda e: e["car_brand"], minute=True)
    revenue_series, avg_series = defaultdict(dict), defaultdict(dict)
    for (brand, m), (c, r) in by_brand_minute.items():
        revenue_series[brand][m], avg_series[brand][m] = r, r / c
    for panel, expected in (("sales_revenue_by_brand", revenue_series), ("sales_avg_price_by_brand", avg_series)):
        got_series = series(panel)
        assert set(got_series) == set(expected), panel
        for brand, points in got_series.items():
            assert points == pytest.approx(expected[brand]), (panel, brand)
    for dim, field in (("brand", "car_brand"), ("country", "country"), ("branch", "branch")):
        rows = table(f"sales_by_{dim}", "value")
        expected = total(lambda e: e[field])
        assert set(rows) == set(expected), dim
        for k, (c, r) in expected.items():
            assert rows[k][2:] == [pytest.approx(r), pytest.approx(r / c)], (dim, k, rows[k])
    models = total(lambda e: e["car_model"])
    top = [(r[2], r[1], r[3]) for r in got["sales_top_models"].rows]
    assert [c for _, c, _ in top] == sorted((c for c, _ in models.values()), reverse=True)[:10]
    assert all(models[m] == [c, pytest.approx(r)] for m, c, r in top), (top, dict(models))

    per_window = Counter(e["window"] for e in sales)
    audits = {w: audit(s, w) for w in windows}
    assert got["health_mismatch_count"].series == [] and got["health_mismatched_windows"].rows == []
    assert series("health_tier_counts") == {
        tier: {w.start_ms: per_window[w] for w in windows} for tier in ("generator", "kafka", "hdfs", "influx")}
    assert series("health_dead_letters") == {"kafka": {w.start_ms: 0 for w in windows}}
    lags = series("health_reconcile_lag")["seconds"]
    assert lags == {w.start_ms: audits[w]["reconciled_lag_s"] for w in windows} and min(lags.values()) > 0


@pytest.mark.profiles("embedded")  # the same on any profile: run once
def test_the_dashboard_page_charts_the_pipeline_run(two_windows, tmp_path):
    """/dashboard in headless Chromium, served against the run's database over the two windows: the
    charts show the run's numbers; the screenshot is kept in tests/artifacts."""
    from collections import Counter

    from tests.dashboards.browser import ALL_LOADED, ARTIFACTS, CHART_DATA, TIMEOUT_MS, browser_page, stat_values
    from tests.dashboards.serving import dashboard_server

    s, _, windows, _, _, _ = two_windows
    sales = pipeline_sales(windows, kafka_records(s))
    per_window = [Counter(e["window"] for e in sales)[w] for w in windows]
    with dashboard_server(s) as url, browser_page(tmp_path / "profile") as page:
        page.goto(f"{url}/dashboard?from={windows[0].start_ms}&to={windows[-1].end_ms - 1}")
        page.wait_for_function(ALL_LOADED, timeout=TIMEOUT_MS)
        assert page.evaluate("window.carpipeDashboard.errors") == {}
        charts = page.evaluate(CHART_DATA)
        assert stat_values(page, "sales_totals")["transactions"] == f"{len(sales):,}"
        interval_min = int(page.evaluate("window.carpipeDashboard.loaded.sales_tpm.interval")[:-1])
        tpm = charts["sales_tpm"]["datasets"][0]["data"]
        assert sum(v or 0 for v in tpm) * interval_min == pytest.approx(len(sales))
        tiers = charts["health_tier_counts"]
        assert [d["label"] for d in tiers["datasets"]] == ["generator", "kafka", "hdfs", "influx"]
        assert [d["data"] for d in tiers["datasets"]] == [per_window] * 4
        assert stat_values(page, "health_mismatch_count") == {"Mismatched windows": "0"}  # the no-value text
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-pipeline-run.png"), full_page=True)


def influx_snapshot(s: Settings, w: Window) -> dict:
    influx = client_from_settings(s)
    r = f"time >= {w.start_ms}ms AND time < {w.end_ms}ms"
    raw = influx.rows(f'SELECT count("transaction_id") AS n, sum("transaction_price") AS revenue '
                      f'FROM "{s.raw_measurement}" WHERE {r}')
    rollups = influx.rows(f'SELECT sum("count") AS n, sum("revenue") AS revenue FROM "car_sales_1m" '
                          f'WHERE {r} GROUP BY "dimension"')
    summary = influx.rows(f'SELECT * FROM "window_summary" WHERE time = {w.start_ms}ms')
    a = audit(s, w)
    return {"raw": (raw[0]["n"], round(raw[0]["revenue"], 2)),
            "rollups": sorted((x["dimension"], x["n"], round(x["revenue"], 2)) for x in rollups),
            "summary": sorted((x["source"], x["read"], x["written"], x["dead_lettered"]) for x in summary),
            "audit": {k: a[k] for k in ("status", "produced", "kafka", "hdfs", "influx", "dead_lettered")}}


def test_backfill_reprocesses_the_windows_and_leaves_every_count_unchanged(two_windows, api):
    s, switched, windows, _, _, _ = two_windows
    before = {w: influx_snapshot(s, w) for w in windows}
    api.pause(SPARK_DAG, False)  # a backfill runs only while its DAG is unpaused
    started = now()
    out = airflow_cli("backfill", "create", "--dag-id", SPARK_DAG, "--from-date", iso(windows[0].start),
                      "--to-date", iso(windows[-1].start), "--reprocess-behavior", "completed",
                      "--max-active-runs", "1")
    print(out[-1500:])
    # The CLI only creates the runs; the scheduler executes them.
    deadline = time.monotonic() + 2 * SETTLE
    for w in windows:
        while True:
            run = run_at(api, SPARK_DAG, w.start)
            if run["run_type"] == "backfill" and run["state"] in ("success", "failed") and \
                    run["end_date"] and parse_utc(run["end_date"]) > started:
                break
            assert time.monotonic() < deadline, f"backfill run of {w.label()} not done: {run}"
            time.sleep(5)
        assert run["state"] == "success", api.task_states(SPARK_DAG, run["dag_run_id"])
        spark = task(api, SPARK_DAG, run["dag_run_id"], "spark_kafka_to_influx")
        assert parse_utc(spark["start_date"]) > started  # really re-ran, not left from before
    # The backfill's asset events trigger the reconciliation again: wait for it on both windows.
    for w in windows:
        while True:
            try:
                run, _ = reconcile_instance(api, w, started)
                break
            except AssertionError:
                assert time.monotonic() < deadline, f"no reconciliation of {w.label()} after the backfill"
                time.sleep(5)
    after = {w: influx_snapshot(s, w) for w in windows}
    assert after == before


def test_a_missing_hdfs_file_is_caught_naming_window_and_tier(two_windows, api):
    from carpipe.webhdfs import list_files, read_lines, webhdfs

    s, _, windows, audits, _, _ = two_windows
    w = windows[0]
    total = audits[w]["hdfs"]
    client = webhdfs(s)
    victim = sorted(list_files(client, w.hdfs_dir(s.hdfs_base_path)), key=lambda f: f.path)[0]
    lost = sum(1 for _ in read_lines(client, victim.path))
    client.delete(victim.path)
    run = api.trigger(RECONCILE_DAG, {"window_start": iso(w.start)})
    done = api.wait_run(RECONCILE_DAG, run["dag_run_id"], timeout=SETTLE)
    assert done["state"] == "failed"
    ti = task(api, RECONCILE_DAG, run["dag_run_id"], "reconcile_window")
    assert ti["state"] == "failed" and ti["try_number"] == 1  # a mismatch is not retried
    log = api.log(RECONCILE_DAG, run["dag_run_id"], "reconcile_window", 1, map_index=0)
    assert "reconciliation mismatch" in log and f"window {w.label()}" in log, log[-3000:]
    assert f"hdfs vs influx: HDFS has {total - lost} record(s), InfluxDB accounts for {total}" in log, log[-3000:]
    assert f"difference -{lost}" in log and "the hdfs tier is the odd one out" in log
    a = audit(s, w)
    assert (a["status"], a["hdfs"], a["influx"], a["kafka"]) == ("mismatch", total - lost, total, total)


@pytest.mark.profiles("embedded")  # the same on any profile: run once
def test_quiet_and_poisoned_windows_reconcile_ok(two_windows, api):
    """A window without records (here: one from before the scratch topic existed, triggered from the
    UI/REST) runs green with a zero audit; a window whose burst is joined by records another producer
    wrote (unparsable, breaking the contract, a transaction_id reused with other content) reconciles
    ok with every one of them accounted for as dead-lettered."""
    from generator.events import generate, utc_now_text
    from tests.spark.jobrun import produce

    s, switched, windows, _, _, _ = two_windows
    quiet = Window.starting(windows[0].start - timedelta(seconds=5 * WINDOW), WINDOW)
    poisoned = Window.containing(now(), WINDOW).next()
    sleep_until(poisoned.start + timedelta(seconds=BURST + 2))  # after the scheduled burst: its own records
    taken, other = generate(secrets.randbits(48), 2, utc_now_text())
    poison = [b"not json at all", json.dumps({**other, "color": "red\n"}).encode(),
              json.dumps(taken).encode(), json.dumps({**taken, "transaction_price": 1.25}).encode()]
    stamps = produce(s, poison)
    assert all(poisoned.contains_ms(t) for t in stamps), (poisoned, stamps)
    api.pause(SPARK_DAG, False)  # the scheduler runs the poisoned window; the quiet one is triggered
    run = api.trigger(SPARK_DAG, {"window_start": iso(quiet.start)})
    done = api.wait_run(SPARK_DAG, run["dag_run_id"], timeout=SETTLE)
    assert done["state"] == "success", api.task_states(SPARK_DAG, run["dag_run_id"])
    audits = wait_reconciled(s, [quiet, poisoned], until=poisoned.end + timedelta(seconds=SETTLE))
    fields = ("produced", "acknowledged", "kafka", "hdfs", "conflicts", "influx", "dead_lettered")
    assert {k: audits[quiet][k] for k in fields} == dict.fromkeys(fields, 0)
    a = audits[poisoned]
    produced = a["produced"]
    assert produced == PER_WINDOW, a
    # 4 foreign records: one unparsable, one breaking the tag rule, two versions of one id (one kept).
    assert {k: a[k] for k in fields} == {
        "produced": produced, "acknowledged": produced, "kafka": produced + 4, "hdfs": produced + 4,
        "conflicts": 1, "influx": produced + 1, "dead_lettered": 3}
    assert run_at(api, SPARK_DAG, poisoned.start)["state"] == "success"

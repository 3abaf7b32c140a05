"""
### car_transactions_burst

Every window (`:00 :15 :30 :45` UTC with the default 15-minute windows; the cron follows
`settings.window_seconds`), a generator burst of `settings.burst_seconds` followed by quiet, while the
Flume agent carries the window's records from Kafka to HDFS.

| task | does |
|---|---|
| `plan` | fixes the run's window and settings: a scheduled run targets the window starting at its logical date; a manual run targets the current window if the whole burst still fits in it, else the next one |
| `burst` | waits for the window start, produces `rate` events/s for `duration` s (cut so it ends inside the window), waits for every acknowledgement, records the counts in InfluxDB (`settings.burst_measurement`, summed per window by the reconciliation) and returns them as XCom |
| `flume_agent` | BashOperator: `python -m flume.runner --until <window end> --wait-turn <s>`: the runner drains everything stamped before the window end, stops the agent cleanly (no `.tmp` file left) and fails on any agent error. One runner per consumer group: a run's runner waits for its turn (on every try), since the previous window's runner drains after its window ends and a manual run's runner follows the scheduled one of the same window. Under Celery it runs on the one worker serving the Flume queue, whose disk holds the file channel and the group's lock |

**Trigger with params** (UI form or REST API `conf`): `rate` (events/s), `duration` (seconds, at most the
window minus a small margin), `seed` (integer for a reproducible burst, empty for a random one).
Delivery: the generator waits for every acknowledgement (`failed` = events Kafka did not confirm: the task
fails, and is not retried, since a retry would produce new events rather than deliver the lost ones);
Flume writes each Kafka offset into HDFS exactly once (see `flume/WindowSink.java`).
"""

from __future__ import annotations

import shlex
import sys
from datetime import timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import CronTriggerTimetable, Param, dag, task

from carpipe import cadence
from carpipe.dag_defaults import DEFAULT_ARGS, START_DATE
from carpipe.dag_settings import dag_settings

S = dag_settings()


@dag(
    dag_id="car_transactions_burst",
    schedule=CronTriggerTimetable(cadence.window_cron(S.window_seconds), timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    # A run lasts its window plus the Flume drain, so consecutive runs overlap briefly, and a retried
    # Flume task waits for the next window's runner: up to three scheduled runs at once, one more for a
    # manual run from the UI. (With catchup off, a window starting while all are taken gets no run.)
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    tags=["carpipe", "generator", "flume"],
    doc_md=__doc__,
    params={
        "rate": Param(S.burst_rate, type="integer", minimum=1, maximum=100_000,
                      title="rate", description="events per second"),
        "duration": Param(S.burst_seconds, type="integer", minimum=1,
                          maximum=cadence.max_burst_seconds(S.window_seconds),
                          title="duration", description="burst length in seconds (must fit in one window)"),
        "seed": Param(None, type=["null", "integer"], title="seed",
                      description="random seed for a reproducible burst; empty for a random one"),
    },
)
def car_transactions_burst():
    @task(multiple_outputs=True)
    def plan(**context) -> dict:
        from datetime import datetime, timezone

        from carpipe.dag_settings import current_overrides, task_settings

        overrides = current_overrides()
        s = task_settings(overrides)
        params, dag_run = context["params"], context["dag_run"]
        scheduled = dag_run.logical_date if dag_run.run_type == "scheduled" else None
        window = cadence.burst_window(datetime.now(timezone.utc), s.window_seconds,
                                      params["duration"], scheduled)
        print(f"window {window}; burst {params['rate']}/s for {params['duration']}s, seed {params['seed']}")
        # The Flume runner reads the config layer from its environment: this run's overrides plus the
        # endpoints of the Airflow connections.
        env = {f"CARPIPE_{k.upper()}": str(v) for k, v in overrides.items()}
        env |= {"CARPIPE_KAFKA_BOOTSTRAP": s.kafka_bootstrap, "CARPIPE_WEBHDFS_URL": s.webhdfs_url}
        return {"window_start": window.start.isoformat(), "window_seconds": window.seconds,
                "window_end": window.end.isoformat(), "overrides": overrides, "flume_env": env,
                "flume_turn_timeout": cadence.flume_turn_timeout(s.window_seconds, s.grace_seconds)}

    @task
    def burst(window_start: str, window_seconds: int, overrides: dict, **context) -> dict:
        import signal
        from datetime import datetime, timezone

        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from carpipe.dag_settings import task_settings
        from carpipe.influx import client_from_settings
        from carpipe.audit import burst_line
        from carpipe.windows import Window
        from generator.burst import run_burst

        s = task_settings(overrides)
        params = context["params"]
        window = Window.starting(window_start, window_seconds)
        now = datetime.now(timezone.utc)
        seconds = cadence.burst_seconds_left(now, window, params["duration"])
        if seconds == 0:
            raise AirflowSkipException(f"no time left in window {window} for a burst")
        if seconds < params["duration"]:
            print(f"burst cut to {seconds}s so that it ends inside window {window}")
        if window.start > now:
            print(f"waiting {(window.start - now).total_seconds():.1f}s for the window start "
                  f"{window.start.isoformat()}")
        # SIGTERM (make down, a cleared or marked task) ends the burst, or its wait, at once; the report
        # says so.
        report = run_burst(params["rate"], seconds, params["seed"], settings=s, progress=False,
                           stop_signal=signal.SIGTERM, start_at=window.start).as_dict()
        if datetime.fromisoformat(report["started_at"]) < window.start:
            # Stopped in its wait: nothing was produced, so the window gets no burst point; failing
            # (not retrying) keeps a later try from producing into a window it was not planned for.
            raise AirflowFailException(f"stopped before window {window} started: {report['error']}")
        client_from_settings(s).write([burst_line(s, report, window)])
        print("burst:", {k: report[k] for k in ("requested", "produced", "acknowledged", "failed",
                                                 "achieved_rate", "started_at", "ended_at")})
        if report["failed"]:
            why = report["error"] or f"not acknowledged by Kafka: {report['errors']}"
            raise AirflowFailException(f"{report['failed']} of {report['requested']} events missing ({why})")
        return report

    p = plan()
    # Everything the command needs comes from the run's plan; only the execution timeout (an operator
    # argument, not templated) follows the cadence this file was parsed with, like the timetable.
    turn_timeout = cadence.flume_turn_timeout(S.window_seconds, S.grace_seconds)
    BashOperator(
        task_id="flume_agent",
        # The worker that runs a task parses this file again: sys.executable is that worker's interpreter.
        bash_command=f"{shlex.quote(sys.executable)} -m flume.runner "
                     "--until {{ ti.xcom_pull(task_ids='plan', key='window_end') }} "
                     "--wait-turn {{ ti.xcom_pull(task_ids='plan', key='flume_turn_timeout') }}",
        env=p["flume_env"],
        append_env=True,
        # Under Celery, the one worker serving this queue runs every agent: the file channel and the
        # group's lock are on its local disk (LocalExecutor ignores queues).
        queue=S.flume_queue,
        execution_timeout=timedelta(seconds=turn_timeout + 2 * S.window_seconds + S.grace_seconds + 300),
    )
    burst(p["window_start"], p["window_seconds"], p["overrides"])


car_transactions_burst()

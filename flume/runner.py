"""Run the Flume agent for a bounded time, drain, stop it cleanly, verify: what the DAG's BashOperator calls.

    python -m flume.runner [--run-seconds N | --until ISO] [--channel file|memory] [--max-drain S] [--wait-turn S]

1. takes the consumer group's lock (one runner per group; a second one fails fast, or with
   ``--wait-turn`` waits for the first one to finish), commits any file a
   crashed agent left open, and resumes the group where HDFS ends, partition by partition
   (flume.recovery: HDFS, not the group, is the record of what is written);
2. starts the agent (topic, group, HDFS base and window length from carpipe.config; CARPIPE_* env),
   one lane per partition, its sinks told the same resume offsets;
3. runs until the deadline (default: the end of the current window), printing progress;
4. drains: waits, at most ``--max-drain`` seconds (default settings.grace_seconds), until every record
   the broker stamped before the deadline is committed by the group AND written by the sink;
5. stops the agent with SIGTERM (its sinks close and rename every open file) and verifies no ``.tmp``
   file is left under the base path.

Progress and the agent's log go to stdout (the Airflow task log); the last line is
``FLUME_RESULT {json}``. Exit codes: 0 done; 1 the agent failed (did not start, died, did not stop,
left open files) or the run was interrupted; 3 the agent is healthy but did not drain in time (the rest
is safe in Kafka / the file channel and the next run writes it; the reconciliation sees it as pending).
"""

from __future__ import annotations

import argparse
import fcntl
import faulthandler
import json
import signal
import sys
import threading
import time
import traceback
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timedelta

from carpipe.config import Settings, get_settings
from carpipe.windows import UTC, Window, parse_utc
from flume import agent_conf
from flume.agent import AgentError, FlumeAgent, component
from flume.agent_conf import CHANNELS
from flume.drain import DrainCheck, Snapshot
from carpipe.webhdfs import HdfsFile, WebHdfs, files_since, webhdfs
from carpipe.kafka_offsets import GroupLag, Stopped
from flume.recovery import recover_open_files, resume_offsets

EXIT_OK, EXIT_FAILED, EXIT_NOT_DRAINED = 0, 1, 3
PROGRESS_SECONDS = 10


def log(msg: str) -> None:
    print(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} runner | {msg}", flush=True)


class RunnerBusy(RuntimeError):
    pass


@contextmanager
def group_lock(s: Settings, wait: float = 0.0, stop: threading.Event | None = None):
    """One runner per consumer group: the file channel, the offsets and the orphan recovery are its.
    Held by another runner: fail at once, or wait up to ``wait`` seconds for it (until ``stop``). The
    lock is on this host's disk, next to the file channel it guards (agent_conf.state_dir)."""
    d = agent_conf.state_dir(s)
    d.mkdir(parents=True, exist_ok=True)
    path = d / "runner.lock"
    give_up, next_note = time.monotonic() + wait, 0.0
    with open(path, "w") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                busy = f"another runner holds {path} (group {s.flume_consumer_group})"
                if stop is not None and stop.is_set():
                    raise RunnerBusy(busy + ": stopped while waiting for its turn")
                if time.monotonic() >= give_up:
                    raise RunnerBusy(busy + (f", still after {wait:.0f}s" if wait else ""))
                if time.monotonic() >= next_note:
                    log(f"{busy}: waiting for its turn, at most {give_up - time.monotonic():.0f}s more")
                    next_note = time.monotonic() + 30
                time.sleep(1)
        yield


def recover(s: Settings, client: WebHdfs, since: datetime, when: str) -> list[dict]:
    orphans = [f for f in files_since(client, s.hdfs_base_path, since) if f.is_open]
    if orphans:
        log(f"{when}: {len(orphans)} open file(s) without a live agent, recovering: "
            + ", ".join(f.path for f in orphans))
    done = recover_open_files(s, client, orphans)
    for r in done:
        log(f"recovered {r.path} -> {r.committed or 'deleted (no complete line)'}"
            + (f" (dropped a partial last line of {r.dropped_bytes} bytes)" if r.dropped_bytes else ""))
    return [{"path": r.path, "dropped_bytes": r.dropped_bytes, "committed": r.committed} for r in done]


def resume(s: Settings, client: WebHdfs, lag: GroupLag, since: datetime) -> dict[int, int]:
    """Point the group at the first offset HDFS lacks, per partition; partitions without files keep the
    group's position (first run, or nothing written within retention)."""
    at = resume_offsets(files_since(client, s.hdfs_base_path, since), s.topic)
    committed = lag.positions()
    moves = {p: o for p, o in at.items() if p in committed and committed[p] != o}
    for p, o in sorted(moves.items()):
        log(f"partition {p}: HDFS holds offsets below {o}, the group was at {committed[p]}: resuming at {o}")
    if moves:
        lag.commit(moves, progress=log)
    return {p: o for p, o in at.items() if p in committed}


class Run:
    def __init__(self, s: Settings, deadline: datetime, channel: str, max_drain: float,
                 startup_timeout: float):
        self.s, self.deadline, self.channel = s, deadline, channel
        self.max_drain, self.startup_timeout = max_drain, startup_timeout
        self.stop_requested = threading.Event()
        self.result: dict = {"status": "failed", "channel": channel, "topic": s.topic,
                             "group": s.flume_consumer_group, "base": s.hdfs_base_path,
                             "window_seconds": s.window_seconds, "deadline": deadline.isoformat(),
                             "drained": False}

    def progress(self, agent: FlumeAgent, lag: GroupLag, started: float) -> dict:
        m = agent.metrics()
        src, ch, sink = (component(m, k) for k in ("SOURCE", "CHANNEL", "SINK"))
        row = {"accepted": int(src.get("EventAcceptedCount", 0)),
               "written": int(sink.get("EventDrainSuccessCount", 0)),
               "in_channel": int(ch.get("ChannelSize", 0)),
               "lag": lag.remaining(lag.targets()),
               "sink_failures": int(sink.get("ConnectionFailedCount", 0) + sink.get("EventWriteFail", 0))}
        log(f"t+{time.monotonic() - started:.0f}s " + " ".join(f"{k}={v}" for k, v in row.items()))
        return row

    def drain(self, agent: FlumeAgent, lag: GroupLag) -> bool:
        """True once every record stamped before the deadline is committed by the group and written
        by the sinks (see flume.drain)."""
        targets = lag.targets(int(self.deadline.timestamp() * 1000))
        give_up = time.monotonic() + self.max_drain
        check = None
        while time.monotonic() < give_up and agent.alive() and not self.stop_requested.is_set():
            if check is None and lag.remaining(targets) == 0:
                # Counters read after the commits were seen; an unanswered request tells nothing.
                if first := agent.metrics():
                    check = DrainCheck(Snapshot.of(first))
            elif check is not None and (m := agent.metrics()) and check.update(Snapshot.of(m)):
                return True
            time.sleep(1)
        log(f"not drained after {self.max_drain:.0f}s: {lag.remaining(targets)} record(s) before the "
            f"deadline not yet committed by the group" if check is None else
            f"not drained after {self.max_drain:.0f}s: the sinks have not written everything yet")
        return False

    def execute(self) -> int:
        with GroupLag(self.s, stop=self.stop_requested) as lag:
            return self.execute_with(lag)

    def execute_with(self, lag: GroupLag) -> int:
        s = self.s
        client = webhdfs(s)
        # Any record Flume can still read is within the topic's retention: so is any window it writes.
        since = datetime.now(UTC) - timedelta(milliseconds=s.topic_retention_ms)
        run_start = datetime.now(UTC)
        self.result["recovered"] = recover(s, client, since, "before start")
        at = resume(s, client, lag, since)
        self.result["resumed"] = {str(p): o for p, o in sorted(at.items())}
        agent = FlumeAgent(s, self.channel, partitions=len(lag.partitions), resume=at).start()
        log(f"agent pid={agent.pid} channel={self.channel} metrics=http://{s.bind_host}:{agent.port}/metrics")
        try:
            agent.wait_ready(self.startup_timeout)
            started = time.monotonic()
            log(f"agent ready; running until {self.deadline.isoformat()}")
            next_progress = 0.0
            while datetime.now(UTC) < self.deadline and agent.alive() and not self.stop_requested.is_set():
                if time.monotonic() >= next_progress:
                    self.progress(agent, lag, started)
                    next_progress = time.monotonic() + PROGRESS_SECONDS
                time.sleep(0.5)
            if agent.alive() and not self.stop_requested.is_set():
                self.result["drained"] = self.drain(agent, lag)
                self.result |= self.progress(agent, lag, started)
        except AgentError as exc:
            log(f"agent failed: {exc}")
        except Stopped as exc:  # the probe gave up on Kafka: the stop goes on as any other
            log(str(exc))
        finally:
            died = not agent.alive()
            try:
                code = agent.stop()
                log(f"agent stopped, exit code {code}")
                clean = not died and code in (0, 143)
            except AgentError as exc:
                log(str(exc))
                clean = False
        if died:
            log(f"agent died (exit code {agent.proc.returncode})")
        self.result["recovered"] += recover(s, client, since, "after stop")
        files = files_since(client, s.hdfs_base_path, since)
        left = [f.path for f in files if f.is_open]
        self.result["open_files"] = left
        self.result["windows"] = written_windows(files, run_start)
        for w in self.result["windows"]:
            log(f"window {w['path']}: {w['files']} file(s) closed this run, {w['bytes']} bytes")
        if self.stop_requested.is_set():
            log("interrupted")
        elif clean and not left and self.result["drained"]:
            self.result["status"] = "ok"
        elif clean and not left:
            self.result["status"] = "not_drained"
        code = {"ok": EXIT_OK, "not_drained": EXIT_NOT_DRAINED}.get(self.result["status"], EXIT_FAILED)
        self.result["exit_code"] = code
        return code


def written_windows(files: list[HdfsFile], since: datetime) -> list[dict]:
    by_dir: dict[str, dict] = defaultdict(lambda: {"files": 0, "bytes": 0})
    for f in files:
        if not f.is_open and f.modified >= since - timedelta(seconds=1):
            d = by_dir[f.path.rsplit("/", 1)[0]]
            d["files"] += 1
            d["bytes"] += f.length
    return [{"path": p, **v} for p, v in sorted(by_dir.items())]


def parse_args(argv: list[str] | None, s: Settings) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m flume.runner", description=__doc__.split("\n\n")[0],
        epilog="exit codes: 0 done (everything before the deadline written, all files closed); 1 the agent "
               "failed or the run was interrupted; 3 healthy but not drained within --max-drain")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--run-seconds", type=float, help="run this long, then drain and stop")
    when.add_argument("--until", type=_utc, help="run until this UTC time (ISO-8601 with Z/offset), "
                      "then drain and stop; default: the end of the current window")
    p.add_argument("--channel", choices=CHANNELS, default="file",
                   help="file (durable, default) or memory (the seed's: what it holds when the agent stops "
                        "or dies is read from Kafka again by the next run)")
    p.add_argument("--max-drain", type=float, default=float(s.grace_seconds),
                   help="seconds to wait after the deadline for the agent to catch up (default: grace_seconds)")
    p.add_argument("--startup-timeout", type=float, default=180.0)
    p.add_argument("--wait-turn", type=float, default=0.0, metavar="S",
                   help="another runner of the group is running: wait up to S seconds for it to finish "
                        "(default: fail at once)")
    args = p.parse_args(argv)
    if args.run_seconds is not None and args.run_seconds < 0:
        p.error("--run-seconds must be >= 0")
    return args


def _utc(text: str) -> datetime:
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def main(argv: list[str] | None = None) -> int:
    faulthandler.enable(all_threads=True)  # a native crash (a Kafka client's) leaves its stacks in the log
    s = get_settings()
    args = parse_args(argv, s)
    now = datetime.now(UTC)
    if args.run_seconds is not None:
        deadline = now + timedelta(seconds=args.run_seconds)
    else:
        deadline = args.until or Window.containing(now, s.window_seconds).end
    run = Run(s, deadline, args.channel, args.max_drain, args.startup_timeout)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: run.stop_requested.set())
    log(f"topic={s.topic} group={s.flume_consumer_group} base={s.hdfs_base_path} "
        f"window={s.window_seconds}s channel={args.channel} deadline={deadline.isoformat()}")
    try:
        with group_lock(s, args.wait_turn, run.stop_requested):
            code = run.execute()
    except (RunnerBusy, Stopped) as exc:
        log(str(exc))
        code = run.result["exit_code"] = EXIT_FAILED
    except Exception:  # Kafka or HDFS unreachable, recovery failed, ...: a failed task, with its cause
        log("runner failed:\n" + traceback.format_exc())
        code = run.result["exit_code"] = EXIT_FAILED
    log(f"done: status={run.result['status']} exit={code}")
    print("FLUME_RESULT " + json.dumps(run.result), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())

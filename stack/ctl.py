"""Start, stop and inspect the embedded stack: ``python -m stack.ctl up|down|status|logs|clean``.

supervisord owns the processes; this module renders their configs, formats storage once, waits
until each service answers a real request, creates the Airflow connections and prints where to look.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from carpipe.config import INSTALL_DIR, PROFILES, SECRETS_DIR, env_name, get_settings
from carpipe.connections import airflow_connections
from carpipe.influx import client_from_settings
from stack import health, influx_admin
from stack.services import AIRFLOW_PASSWORDS, Stack, store_secrets, venv_bin, write_private

s = get_settings()
stack = Stack(s)
# Set in supervisord's environment, so every process of the stack inherits it (how `down` finds strays).
STACK_MARKER = "CARPIPE_STACK"


def say(msg: str) -> None:
    print(f"\033[1m[stack]\033[0m {msg}", flush=True)


def supervisorctl(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv_bin() / "supervisorctl"), "-c", str(stack.supervisor_conf), *args],
                          capture_output=True, text=True, check=check)


def supervisord_running(state_dir: Path | None = None) -> bool:
    """Whether the supervisord of the stack in ``state_dir`` (this profile's by default) is alive."""
    pidfile = (state_dir or s.state_dir) / "supervisord.pid"
    if not pidfile.exists():
        return False
    try:
        os.kill(int(pidfile.read_text().strip()), 0)
    except (ValueError, ProcessLookupError):
        return False
    return state_dir is not None or supervisorctl("pid").returncode == 0


def run_once(done: Path, what: str, cmd: list[str], env: dict | None = None,
             stamp: bool = False) -> None:
    """Run a one-time initialisation (storage format, DB migration) unless ``done`` exists.
    ``done`` is a file the command itself creates, or with ``stamp`` one written after success."""
    if done.exists():
        return
    say(what)
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if out.returncode != 0:
        sys.exit(f"{what} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    if stamp:
        done.parent.mkdir(parents=True, exist_ok=True)
        done.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    elif not done.exists():
        sys.exit(f"{what} succeeded but did not create {done}")


def initialise() -> None:
    for name in stack.kafka_names():
        run_once(stack.kafka_data(name) / "meta.properties", f"formatting {name}'s KRaft storage",
                 stack.kafka_format_command(name))
    run_once(stack.namenode_dir / "current" / "VERSION", "formatting the HDFS NameNode",
             stack.namenode_format_command())
    if stack.postgres.prepare():
        say("initialised the PostgreSQL cluster for Airflow's metadata DB")


def migrate_airflow() -> None:
    """`airflow db migrate` once per Airflow version and metadata DB (the stamp lives with the DB)."""
    import airflow
    run_once(stack.postgres.home / f"airflow-migrated-{airflow.__version__}", "migrating the Airflow metadata DB",
             [str(venv_bin() / "airflow"), "db", "migrate"], env=stack.airflow_env(), stamp=True)


def create_connections() -> None:
    path = s.airflow_home / "connections.json"
    write_private(path, json.dumps(airflow_connections(s), indent=2))
    out = subprocess.run([str(venv_bin() / "airflow"), "connections", "import", "--overwrite", str(path)],
                         capture_output=True, text=True, env={**os.environ, **stack.airflow_env()})
    if out.returncode != 0:
        sys.exit(f"creating Airflow connections failed:\n{out.stdout}\n{out.stderr}")


def log_tail(name: str, lines: int = 40) -> str:
    log = s.logs_dir / f"{name}.log"
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def wait_healthy(names: list[str], timeout: float, probe=health.check) -> None:
    """Wait until each named service passes ``probe``; exit with its log tail when it dies or times out."""
    pending = list(names)
    deadline = time.monotonic() + timeout
    while pending:
        for name in list(pending):
            ok, detail = probe(name, s)
            if ok:
                say(f"{name:<22} healthy  {detail}")
                pending.remove(name)
        if not pending:
            return
        states = supervisor_states()
        dead = [n for n in pending if states.get(n) in ("FATAL", "EXITED", "STOPPED")]
        if dead or time.monotonic() > deadline:
            name = (dead or pending)[0]
            ok, detail = probe(name, s)
            sys.exit(f"\n{name} failed to start ({states.get(name, '?')}: {detail}). "
                     f"Last lines of {s.logs_dir / (name + '.log')}:\n{log_tail(name)}")
        time.sleep(1)


def supervisor_states() -> dict[str, str]:
    out = supervisorctl("status")
    states = {}
    programs = {p.name for p in stack.programs()}
    for line in out.stdout.splitlines():
        parts = line.split()
        # Only program rows: a supervisord shutting down answers with an error line instead.
        if len(parts) >= 2 and parts[0] in programs:
            states[parts[0]] = parts[1]
    return states


def generate_secrets() -> None:
    """First start: the generated credentials (kept in the secrets dir, so later starts reuse them)."""
    for name in ("generator_token", "influx_password", *(("redis_password",) if s.celery_workers else ())):
        if not getattr(s, name):
            setattr(s, name, secrets.token_urlsafe(32))
    store_secrets(s)
    if s.celery_workers:
        for path, text in stack.redis.secret_files(s.redis_password).items():
            write_private(path, text)
        stack.redis.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    passwords = json.loads(AIRFLOW_PASSWORDS.read_text()) if AIRFLOW_PASSWORDS.exists() else {}
    if s.airflow_user not in passwords:
        write_private(AIRFLOW_PASSWORDS, json.dumps({**passwords, s.airflow_user: secrets.token_urlsafe(16)}))


def start(names: list[str]) -> None:
    stopped = [n for n, st in supervisor_states().items() if n in names and st not in ("RUNNING", "STARTING")]
    if stopped:
        say("starting " + ", ".join(stopped))
        supervisorctl("start", *stopped)


def other_profile_running() -> str | None:
    """The profile whose stack runs on this machine now, if not this one: both bind the same ports."""
    for name, profile in PROFILES.items():
        state = Path(profile.get("state_dir", INSTALL_DIR))
        if name != s.profile and state != s.state_dir and supervisord_running(state):
            return name
    return None


def taken_ports(host: str, programs: list) -> list[str]:
    """The ports the stack would listen on that something else holds already, each with its program
    and, when this user may see it, the holder (say, another checkout's stack)."""
    import psutil

    holders = {}
    with contextlib.suppress(psutil.AccessDenied):
        holders = {c.laddr.port: c.pid for c in psutil.net_connections(kind="tcp")
                   if c.status == psutil.CONN_LISTEN and c.pid}
    taken = []
    for p in programs:
        for port in p.ports:
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((host, port))
                    continue
                except OSError:
                    pass
            holder = ""
            with contextlib.suppress(psutil.Error, KeyError):
                holder = f" by pid {holders[port]}: {' '.join(psutil.Process(holders[port]).cmdline())[:100]}"
            taken.append(f"{host}:{port} ({p.name}){holder}")
    return taken


def up(args) -> None:
    t0 = time.monotonic()
    if other := other_profile_running():
        sys.exit(f"the {other} profile's stack is running on this machine: `make down PROFILE={other}` first")
    say(f"profile {s.profile}: {s.kafka_brokers} Kafka broker(s), {s.hdfs_datanodes} DataNode(s), "
        f"Spark {s.spark_master}" + (f" with {s.spark_workers} worker(s)" if s.spark_workers else "")
        + f", Airflow {s.airflow_executor}" + (f" with {s.celery_workers} worker(s)" if s.celery_workers else "")
        + f"; state in {s.state_dir}")
    generate_secrets()
    programs = stack.render()
    if not supervisord_running() and (taken := taken_ports(s.bind_host, programs)):
        sys.exit("cannot start, ports taken:\n  " + "\n  ".join(taken) + "\nStop what holds them (another "
                 "checkout's stack: `make down` there), or move this stack's ports (CARPIPE_*_PORT).")
    initialise()
    if supervisord_running():
        supervisorctl("reread")
        supervisorctl("update")
    else:
        say("starting supervisord with " + ", ".join(p.name for p in programs if p.autostart))
        subprocess.run([str(venv_bin() / "supervisord"), "-c", str(stack.supervisor_conf)], check=True,
                       env={**os.environ, STACK_MARKER: str(s.state_dir)})
    start([p.name for p in programs if p.autostart])
    # Bootstrap what needs a running server, then start Airflow on its migrated metadata DB.
    wait_healthy(["postgres", "influxdb"], timeout=args.timeout, probe=health.reachable)
    stack.postgres.bootstrap()
    migrate_airflow()
    say(influx_admin.ensure_admin(s))
    start([p.name for p in programs if not p.autostart])
    wait_healthy([p.name for p in programs], timeout=args.timeout)
    client_from_settings(s).create_database(s.influx_retention)
    create_connections()
    say(f"up in {time.monotonic() - t0:.0f}s")
    print_urls()


def print_urls() -> None:
    pw = AIRFLOW_PASSWORDS
    print(f"""
  Airflow UI      {s.airflow_url}   login: {s.airflow_user}, password in {pw}
  Generator API   {s.generator_url}   (OpenAPI: {s.generator_url}/openapi.json)
                  write token (Authorization: Bearer) in {SECRETS_DIR / env_name("generator_token").lower()}
  Dashboard       {s.generator_url}/dashboard
  Kafka           {s.kafka_bootstrap}   topic {s.topic}
  HDFS            {s.hdfs_url}   WebHDFS {s.webhdfs_url}   base path {s.hdfs_base_path}
  InfluxDB        {s.influx_url}   database {s.influx_db}   login {s.influx_user}, password in {SECRETS_DIR / env_name("influx_password").lower()}
  PostgreSQL      {s.bind_host}:{s.postgres_port}   Airflow's metadata DB, login and password in {stack.postgres.pgpass}
  Logs            {s.logs_dir}   (make logs)
""")


def down(args) -> None:
    if not supervisord_running():
        say("not running")
        return
    pid = int((s.state_dir / "supervisord.pid").read_text().strip())
    say("stopping all services (data is kept)")
    # supervisord stops one program at a time and SIGKILLs (with its process group) whatever outlives its
    # stopwaitsecs, so the sum of those is the longest a shutdown can take.
    limit = sum(p.stopwaitsecs for p in stack.programs()) + 30
    start = last_report = time.monotonic()
    stop_kafka_quorum_together()
    supervisorctl("shutdown")
    while (elapsed := time.monotonic() - start) < limit:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        if time.monotonic() - last_report >= 10:
            busy = sorted(name for name, state in supervisor_states().items()
                          if state not in ("STOPPED", "EXITED", "FATAL"))
            say(f"waiting for {', '.join(busy) or 'supervisord'} to stop ({elapsed:.0f}s)")
            last_report = time.monotonic()
        time.sleep(0.5)
    else:
        sys.exit(f"supervisord did not exit within {limit} s; see {s.logs_dir / 'supervisord.log'}")
    say(f"all services stopped in {time.monotonic() - start:.0f}s")
    left = leftover_processes()
    if left:  # should not happen (process-group stop); say so loudly and clean up anyway
        say("killing left-over processes: " + ", ".join(f"{p.pid} {p.name()}" for p in left))
        for p in left:
            p.kill()
    say("stopped")


def stopped_before(programs: list, name: str) -> list[str]:
    """What supervisord's shutdown stops before program ``name``, in its order: by priority, highest
    first, and among equals the reverse of the config's."""
    ordered = sorted(reversed(programs), key=lambda p: -p.priority)
    limit = next(p.priority for p in ordered if p.name == name)
    return [p.name for p in ordered if p.priority > limit]


def stop_kafka_quorum_together() -> None:
    """supervisord stops one program after another; the nodes of a KRaft quorum must go together (one by
    one, the last voter's controlled shutdown waits for a quorum that is gone until its stop timeout kills
    it). So: stop what supervisord stops before Kafka, in its order, then the Kafka nodes at once; its
    shutdown does the rest."""
    names = stack.kafka_names()
    if len(names) < 2:
        return
    from xmlrpc.client import Fault, ServerProxy

    from supervisor.xmlrpc import SupervisorTransport

    programs = stack.programs()
    first = stopped_before(programs, names[0])
    say(f"stopping {len(first)} programs in supervisord's order, then the {len(names)} Kafka nodes together")
    supervisorctl("stop", *first)
    rpc = ServerProxy("http://localhost", transport=SupervisorTransport(None, None, stack.supervisor_url)).supervisor
    for name in names:
        try:
            rpc.stopProcess(name, False)  # no wait: the signal goes to each node now
        except Fault:  # not running
            pass
    deadline = time.monotonic() + max(p.stopwaitsecs for p in programs if p.name in names) + 10
    while any(rpc.getProcessInfo(n)["statename"] not in ("STOPPED", "EXITED", "FATAL") for n in names):
        if time.monotonic() > deadline:
            return  # supervisord's shutdown kills what is left
        time.sleep(0.5)


def leftover_processes() -> list:
    """Processes of this stack still alive: anything started with our state dir in its command line or
    descended from our supervisord (STACK_MARKER in its environment: Airflow's task processes and what
    they start in sessions of their own, such as the Flume agent)."""
    import psutil

    state, me = str(s.state_dir), os.getpid()
    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        if p.pid == me:
            continue
        try:
            if any(state in arg for arg in p.info["cmdline"] or []) or p.environ().get(STACK_MARKER) == state:
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def status(args) -> None:
    states = supervisor_states() if supervisord_running() else {}
    bad = 0
    print(f"{'service':<22} {'process':<10} health")
    for p in stack.programs():
        ok, detail = health.check(p.name, s)
        bad += not ok
        print(f"{p.name:<22} {states.get(p.name, 'DOWN'):<10} {'healthy' if ok else 'UNHEALTHY'}  {detail}")
    sys.exit(1 if bad else 0)


def logs(args) -> None:
    files = sorted(str(f) for f in s.logs_dir.glob("*.log"))
    os.execvp("tail", ["tail", "-n", "20", "-F", *files])


def clean(args) -> None:
    down(args)
    nodes = [p.name for p in stack.programs() if (s.state_dir / p.name).exists()]  # kafka-N, spark-worker-N, ...
    for sub in ("kafka", "hdfs", *nodes, "influxdb", "postgres", "airflow", "logs", "conf", "flume",
                "supervisor.sock"):
        path = s.state_dir / sub
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    say(f"wiped service data under {s.state_dir} (venv and jars kept)")


def airflow_cli(args) -> None:
    """The Airflow CLI with the stack's environment (AIRFLOW_HOME, DAG folder, metadata DB)."""
    os.execvpe(str(venv_bin() / "airflow"), ["airflow", *args.args], {**os.environ, **stack.airflow_env()})


def main() -> None:
    parser = argparse.ArgumentParser(prog="stack.ctl", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up")
    p_up.add_argument("--timeout", type=float, default=240, help="seconds to wait for health")
    for name in ("down", "status", "logs", "clean", "urls"):
        sub.add_parser(name)
    sub.add_parser("airflow", help="the Airflow CLI with the stack's environment").add_argument(
        "args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    {"up": up, "down": down, "status": status, "logs": logs, "clean": clean,
     "urls": lambda a: print_urls(), "airflow": airflow_cli}[args.cmd](args)


if __name__ == "__main__":
    main()

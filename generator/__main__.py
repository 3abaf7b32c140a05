"""Command line: ``python -m generator burst --rate R --duration S [--seed N]`` and
``python -m generator schema [--check]``.

``burst`` prints a summary and, as its last line, ``BURST_RESULT {json}`` for callers (Airflow tasks)
to parse; it exits 1 when any event was not acknowledged by the broker.
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.table import Table


def _burst(args: argparse.Namespace) -> int:
    from generator.burst import run_burst
    from generator.producer import get_producer

    from carpipe.config import get_settings

    settings = get_settings()
    report = run_burst(args.rate, args.duration, seed=args.seed, settings=settings, progress=not args.quiet)
    remainder = get_producer(settings).close()  # flush; anything left here is already counted as failed
    console = Console(stderr=False)
    table = Table(title=f"burst {report.id} -> {report.topic}", show_header=False)
    for key, value in report.as_dict().items():
        table.add_row(key, f"{value:.1f}" if isinstance(value, float) else str(value))
    console.print(table)
    if not report.ok:
        console.print(f"[bold red]{report.failed} event(s) NOT acknowledged by the broker[/] "
                      f"(requested {report.requested}, produced {report.produced}, acknowledged "
                      f"{report.acknowledged}, still queued at exit {remainder}): {report.error or report.errors}",
                      soft_wrap=True)
    print("BURST_RESULT " + json.dumps(report.as_dict()), flush=True)
    return 0 if report.ok else 1


def _schema(args: argparse.Namespace) -> int:
    from generator.events import SCHEMA_PATH, json_schema_text

    text = json_schema_text()
    if args.check:
        current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
        if current != text:
            print(f"{SCHEMA_PATH} is stale: run `python -m generator schema`", file=sys.stderr)
            return 1
        print(f"{SCHEMA_PATH} is up to date")
        return 0
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
    return 0


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    burst = sub.add_parser("burst", help="produce events at a held rate and wait for every acknowledgement")
    burst.add_argument("--rate", type=_positive, required=True, help="events per second")
    burst.add_argument("--duration", type=_positive, required=True, help="seconds")
    burst.add_argument("--seed", type=int, default=None, help="seed for reproducible events (default: random)")
    burst.add_argument("--quiet", action="store_true", help="no progress bar")
    burst.set_defaults(func=_burst)
    schema = sub.add_parser("schema", help="write the event JSON schema file (or --check that it is current)")
    schema.add_argument("--check", action="store_true")
    schema.set_defaults(func=_schema)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""``python -m carpipe.flume_turn --timeout S``: wait until no Flume runner of the consumer group runs.

flume.runner takes its consumer group's lock and fails fast when another runner holds it. In the burst
DAG that is normal, not an error: the previous window's runner drains for a while after its window
ends, and a retried or manual run can start while the current window's runner is still going. So the
DAG's Flume task waits for its turn here first (its BashOperator: ``flume_turn && flume.runner``), on
every try. Exits 0 once the lock is free, 1 after the timeout. The group comes from the config layer
(CARPIPE_* environment), like the runner's.
"""

from __future__ import annotations

import argparse
import sys
import time

from carpipe.config import Settings, get_settings


def wait_turn(s: Settings, timeout: float, poll: float = 2.0) -> bool:
    from flume.runner import RunnerBusy, group_lock

    deadline = time.monotonic() + timeout
    while True:
        try:
            with group_lock(s):
                return True
        except RunnerBusy:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m carpipe.flume_turn", description=__doc__.split("\n\n")[0])
    p.add_argument("--timeout", type=float, required=True, help="seconds to wait at most")
    args = p.parse_args(argv)
    s = get_settings()
    started = time.monotonic()
    if not wait_turn(s, args.timeout):
        print(f"another Flume runner of group {s.flume_consumer_group} still runs after {args.timeout:.0f}s",
              flush=True)
        return 1
    print(f"Flume group {s.flume_consumer_group} free after {time.monotonic() - started:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

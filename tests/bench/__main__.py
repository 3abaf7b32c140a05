"""`make bench`: run every benchmark module (tests/bench/bench_*.py), or those named in BENCH.

Each module has a ``main()`` that measures its subject and a baseline in the same run and prints
a table. Benchmarks are not tests: pytest does not collect them (file names start with bench_).
"""

import importlib
import os
import pkgutil
import sys
import time

import tests.bench as pkg

SETTLE_IDLE = 0.6     # a benchmark starts once the machine is this idle over a second ...
SETTLE_TIMEOUT = 90   # ... or after this many seconds (then says so): the previous one's cleanup and
                      # the stack's own background work would otherwise be measured with it


def idle_share(seconds: float = 1.0) -> float:
    def sample() -> tuple[int, int]:
        fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, total
    i0, t0 = sample()
    time.sleep(seconds)
    i1, t1 = sample()
    return (i1 - i0) / max(t1 - t0, 1)


def settle() -> None:
    start = time.monotonic()
    while (idle := idle_share()) < SETTLE_IDLE:
        if time.monotonic() - start < 1.5:
            print(f"waiting for the machine to settle (idle {idle:.0%}, want {SETTLE_IDLE:.0%}) ...", flush=True)
        if time.monotonic() - start > SETTLE_TIMEOUT:
            print(f"machine still busy after {SETTLE_TIMEOUT}s (idle {idle:.0%}): measuring anyway", flush=True)
            return


def main() -> int:
    wanted = [w for w in os.environ.get("BENCH", "").split(",") if w]
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name.startswith("bench_"))
    if wanted:
        names = [n for n in names if n.removeprefix("bench_") in wanted]
    if not names:
        print(f"no benchmark matches BENCH={wanted}", file=sys.stderr)
        return 2
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        settle()
        importlib.import_module(f"tests.bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main())

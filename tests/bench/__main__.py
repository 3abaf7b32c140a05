"""`make bench`: run every benchmark module (tests/bench/bench_*.py), or those named in BENCH.

Each module has a ``main()`` that measures its subject and a baseline in the same run and prints
a table. Benchmarks are not tests: pytest does not collect them (file names start with bench_).
"""

import importlib
import os
import pkgutil
import sys

import tests.bench as pkg


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
        importlib.import_module(f"tests.bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main())

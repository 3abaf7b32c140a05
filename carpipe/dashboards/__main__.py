"""``python -m carpipe.dashboards [--check]``: regenerate the Grafana JSON and alert rules checked in
under docker/grafana from the definitions, or (--check) exit 1 listing the files that are stale."""

from __future__ import annotations

import argparse
import sys

from carpipe.config import REPO_ROOT
from carpipe.dashboards.grafana import stale_files, write_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m carpipe.dashboards", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale files (exit 1 if any)")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path.relative_to(REPO_ROOT)}")
        return 1 if stale else 0
    for path in write_files():
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

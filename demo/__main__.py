"""`python -m demo [--days N]`: what `swiftbolt demo` runs after it has set up the database and instance."""

import argparse
import sys

from demo.console import run_demo
from swiftbolt.errors import SwiftboltError


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m demo")
    parser.add_argument("--days", type=int, default=10, help="closed sessions per market (default 10)")
    parser.add_argument("--history", type=int, default=0,
                        help="closed sessions of d1 history before them (bars, features, weekly models)")
    args = parser.parse_args()
    try:
        return run_demo(days=args.days, history=args.history)
    except SwiftboltError as exc:
        print(f"swiftbolt: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

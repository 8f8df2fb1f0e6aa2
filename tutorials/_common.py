"""Command-line options shared by the tutorial scripts (--quick, --output)."""

from __future__ import annotations

import argparse
from pathlib import Path


def tutorial_args(description: str) -> argparse.Namespace:
    """Parse ``--quick`` (a tiny run, used by the tests) and ``--output DIR``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny run (seconds), as in the tests")
    parser.add_argument("--output", default="tutorial-output", help="folder for plots and files")
    args = parser.parse_args()
    args.output = Path(args.output)
    args.output.mkdir(parents=True, exist_ok=True)
    return args


def require_bench() -> None:
    """Stop at once, with one line naming the install extra, when AnalogNAS-Bench (the
    ``analog-nasbench`` distribution) is missing, rather than after the tutorial's other work."""
    from surrogate.bench import find_bench_file

    try:
        find_bench_file()
    except ImportError:
        raise SystemExit("this tutorial needs AnalogNAS-Bench: install it with "
                         "pip install 'analognas[bench]' (or pip install analog-nasbench)") from None

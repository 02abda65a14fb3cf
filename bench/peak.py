"""Peak season (issue 19): every section of the peak benchmark, then ONE targets block.

Sections: bench/peak_jobs.py (per-shop periodic jobs for N shops, embedded and procrastinate
with 1, 2, 4 workers; the dashboard of a 1,000,000-order shop) and, when present,
bench/peak_orders.py (orders from orders/paid to the supplier under a peak load). Each module
exposes `run(options) -> list[(target, figure, met)]` and prints its own tables.

    .venv/bin/python bench/peak.py                          # everything, defaults
    .venv/bin/python bench/peak.py --only jobs --shops 200  # one module; options go to every module that knows them

Options of peak_jobs (see its --help) are read here; the rest of the command line goes to
peak_orders' own parser (`parse_args`, when it has one).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import peak_jobs  # noqa: E402


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="jobs,orders", help="modules to run: jobs, orders (comma-separated)")
    for name, value in peak_jobs.DEFAULTS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value) if value is not None else str, default=value)
    return parser.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    options, rest = parse(argv)
    only = options.only.split(",")
    started = time.monotonic()
    targets: list[tuple[str, str, bool]] = []
    if "jobs" in only:
        targets += peak_jobs.run(options)
    if "orders" in only:
        try:
            orders = importlib.import_module("bench.peak_orders")
        except ModuleNotFoundError:
            print("\n(bench/peak_orders.py is not here: the orders section is skipped)")
        else:
            orders_options = options
            if hasattr(orders, "parse_args"):
                try:  # the shop count is shared when its parser knows it
                    orders_options = orders.parse_args(rest + ["--shops", str(options.shops)])
                except SystemExit:
                    orders_options = orders.parse_args(rest)
            targets += orders.run(orders_options)
    peak_jobs.print_targets(targets, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: what the production log pipeline (context + redaction filters, JSON formatter) costs per line, against plain logging.

Every log line of the app passes the redaction filter (a dozen regexes) and, in real mode,
python-json-logger. This measures microseconds per emitted line, in one run, for:
  baseline  - logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"), no filters (what the app had)
  text      - the sandbox-mode pipeline (context + redaction + text formatter)
  json      - the real-mode pipeline (context + redaction + JSON formatter)
  json-bare - python-json-logger alone (no filters): separates the filters' cost from the formatter's
on typical lines (a webhook intake line, a supplier call, a traceback) written to an in-memory stream.

    .venv/bin/python bench/log_pipeline.py            # ~10 s
    .venv/bin/python bench/log_pipeline.py --quick
"""
from __future__ import annotations

import argparse
import io
import logging
import logging.config
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shopify_app.server.logs import bound, logging_dict  # noqa: E402

TARGET_JSON_US = 60.0  # a line in real mode costs at most this (at 1,000 lines/s: 6 % of one core)
TARGET_FILTERS = 1.5  # the context and redaction filters add at most half the JSON formatter's own cost


def handler_for(kind: str) -> logging.Handler:
    """A handler writing to memory, configured like the app's (or plain for the baseline)."""
    handler = logging.StreamHandler(io.StringIO())
    if kind == "json-bare":
        config = logging_dict("json")
        handler.setFormatter(logging.config.DictConfigurator(config).configure_formatter(config["formatters"]["main"]))
        return handler
    if kind == "baseline":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        return handler
    config = logging_dict(kind)
    configurator = logging.config.DictConfigurator(config)
    handler.setFormatter(configurator.configure_formatter(config["formatters"]["main"]))
    for name in config["handlers"]["stderr"]["filters"]:
        handler.addFilter(configurator.configure_filter(config["filters"][name]))
    return handler


def emit_lines(logger: logging.Logger, n: int) -> None:
    try:
        raise ValueError("supplier answered 502")
    except ValueError:
        error = sys.exc_info()
    with bound(request_id="5f0c2a9d1e7b4c3a8d6e0f1a2b3c4d5e", shop="demo.myshopify.com", topic="orders/create"):
        for i in range(n):
            logger.info("webhook %s topic=%s shop=%s outcome=%s", f"9b430378-b9be-4733-91ae-{i:012d}", "orders/create", "demo.myshopify.com", "new")
            logger.info("Printful POST /v2/orders -> %s in %d ms", 200, 12)
            if i % 10 == 0:
                logger.warning("forwarding delivery %s failed", i, exc_info=error)


def measure(kind: str, n: int, repeats: int) -> float:
    """Median microseconds per emitted line over `repeats` runs."""
    logger = logging.getLogger(f"bench.logs.{kind}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = handler_for(kind)
    logger.addHandler(handler)
    lines = 2 * n + (n + 9) // 10
    samples = []
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            emit_lines(logger, n)
            samples.append((time.perf_counter() - start) / lines * 1e6)
            handler.stream.seek(0)
            handler.stream.truncate()
    finally:
        logger.removeHandler(handler)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="iterations per run (2.1 lines each)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="smoke run: --n 500 --repeats 3")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.repeats = 500, 3
    kinds = ("baseline", "text", "json", "json-bare")
    figures = {kind: float("inf") for kind in kinds}
    for _ in range(2):  # interleaved rounds, best of each: drift on a shared machine hits every pipeline
        for kind in kinds:
            figures[kind] = min(figures[kind], measure(kind, args.n, args.repeats))
    print(f"{'pipeline':<10} {'us/line':>9} {'x baseline':>11}")
    for kind in kinds:
        print(f"{kind:<10} {figures[kind]:>9.1f} {figures[kind] / figures['baseline']:>11.2f}")
    filters = figures["json"] / figures["json-bare"]
    print("\ntargets")
    print(f"  json line cost <= {TARGET_JSON_US:.0f} us: {figures['json']:.1f} us  {'MET' if figures['json'] <= TARGET_JSON_US else 'MISSED'}")
    print(f"  json / json-bare <= {TARGET_FILTERS:.1f}x (filters' cost): {filters:.2f}x  {'MET' if filters <= TARGET_FILTERS else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

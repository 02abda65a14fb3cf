"""Where an order's CPU goes: py-spy samples of the app, grouped by the part of the order's path.

Record the app process during a phase of bench/order_flow.py (the app's pid is printed
when it is ready), holding the GIL only, so the shares are Python CPU:

    py-spy record --pid PID --subprocesses --threads --gil --format raw --rate 200 -d 40 -o app.raw
    .venv/bin/python bench/profile_shares.py app.raw

Each sample is put in the first part whose marker (a thread name or a function on the
stack) it carries; the table prints each part's share of all samples.
"""
from __future__ import annotations

import argparse
import collections
import re
import sys

# (part, thread name prefixes or None for any, functions of which one must be on the stack or None)
PARTS: tuple[tuple[str, tuple[str, ...] | None, tuple[str, ...] | None], ...] = (
    ("supplier webhooks in: POST /suppliers/<id>/webhooks", ("ThreadPoolExecutor",), ("receive_supplier_webhook",)),
    ("Shopify webhooks in: POST /webhooks and the group-commit writer", ("ThreadPoolExecutor", "inbox-writer"), None),
    ("routing: reading an order's fulfillment orders from Shopify (prefetch)", ("inbox-pump",), ("read_for_order_webhook",)),
    ("routing: orders/* handlers (upsert, fulfillment orders stored, route, changes)", ("inbox-pump",), ("order_changed",)),
    ("orders lane: claims, payload parsing, delivery bookkeeping", ("inbox-pump",), None),
    ("placing at the supplier (forwarding threads and pump)", ("forwarding",), None),
    ("way back: shipments read from the supplier, fulfillments pushed to Shopify", ("supplier-events-pump",), ("refresh_shipments", "push_shipments")),
    ("way back: Shopify's fulfillments/* webhooks (delivery status read)", ("supplier-events-pump",), ("fulfillment_changed", "fetch_fulfillment")),
    ("way back: supplier events applied, claims and bookkeeping", ("supplier-events-pump",), None),
)
OTHER = "other (scheduler, periodic jobs, gunicorn)"


def thread_of(frames: list[str]) -> str:
    """The thread name of a py-spy raw stack ('thread (123): name' -> 'name')."""
    for frame in frames[:3]:
        match = re.match(r"thread \(\d+\): (.*)", frame)
        if match:
            return match.group(1)
    return ""


def part_of(frames: list[str]) -> str:
    """The part of the path a sample belongs to."""
    thread = thread_of(frames)
    functions = {frame.split(" (")[0] for frame in frames}
    for part, threads, markers in PARTS:
        if threads is not None and not thread.startswith(threads):
            continue
        if markers is not None and functions.isdisjoint(markers):
            continue
        return part
    return OTHER


def shares(lines) -> tuple[int, collections.Counter]:
    """(samples, samples per part) of py-spy's raw format: 'frame;frame;... count' per line."""
    parts: collections.Counter = collections.Counter()
    total = 0
    for line in lines:
        line = line.rstrip("\n")
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        parts[part_of(stack.split(";"))] += int(count)
        total += int(count)
    return total, parts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("raw", help="py-spy record --format raw output")
    args = p.parse_args(argv)
    with open(args.raw, encoding="utf-8", errors="replace") as f:
        total, parts = shares(f)
    if not total:
        print("no samples", file=sys.stderr)
        return 2
    print(f"| part of the path | share ({total} samples) |\n|---|---|")
    for part, _, _ in (*PARTS, (OTHER, None, None)):
        if parts[part]:
            print(f"| {part} | {parts[part] / total * 100:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

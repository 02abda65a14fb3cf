"""How many supplier calls one process keeps in flight: FORWARDING_THREADS, FORWARDING_CALLS_PER_SUPPLIER.

Supplier calls are I/O (100-500 ms each, two per order), so a process's order throughput is
about calls-in-flight / (2 x latency): the defaults (8 threads, 4 per supplier) carry some
13 orders/s in all and 6-7 for one shop's burst (bench/peak_orders.py). A deployment that
expects a sale raises them; the per-supplier cap still keeps one slow supplier from holding
every thread.
"""
from __future__ import annotations

import os

from shopify_app.config import ConfigError
from shopify_app.suppliers.forwarding import PER_SUPPLIER_CALLS, THREADS, ForwardingWorker
from shopify_app.suppliers.resilience import SupplierSlots

MAX_THREADS = 256


def _whole(env, name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_THREADS:
        raise ConfigError(f"{name} must be a whole number from 1 to {MAX_THREADS} (default {default})")
    return value


def forwarding_capacity(env=None) -> tuple[int, int]:
    """(threads per process, calls in flight per supplier) from the environment, else the defaults."""
    env = os.environ if env is None else env
    threads = _whole(env, "FORWARDING_THREADS", THREADS)
    per_supplier = _whole(env, "FORWARDING_CALLS_PER_SUPPLIER", PER_SUPPLIER_CALLS)
    return threads, min(per_supplier, threads)


def forwarding_worker(services) -> ForwardingWorker:
    """The forwarding worker of this process, sized by forwarding_capacity()."""
    threads, per_supplier = forwarding_capacity()
    return ForwardingWorker(services.session_factory, services.box, threads=threads, slots=SupplierSlots(per_supplier))

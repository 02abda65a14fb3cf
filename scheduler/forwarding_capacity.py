"""How much order work one process keeps going: supplier calls in flight, worker slots, database connections.

Supplier calls are I/O (100-500 ms each, two per order), so a process's order throughput is
about calls-in-flight / (2 x latency). The forwarding module's own sizes (8 threads, 4 per
supplier) carried some 13 orders/s in all and 6-7 for one shop's burst (bench/peak_orders.py):
a sale needs more, and a thread waiting on a supplier costs little memory and no CPU. So
the defaults here are 48 threads (about 80 orders/s at 300 ms a call) and 16 calls per
supplier (a burst of some 25 orders/s on one shop); the per-supplier cap still keeps one
slow supplier from holding every thread, and the breaker still parks a failing one.

    FORWARDING_THREADS              supplier calls in flight per process (default 48)
    FORWARDING_CALLS_PER_SUPPLIER   of those, at most this many to one supplier (default 16)
    DATABASE_POOL_SIZE              database connections kept open per process (default 10)
    DATABASE_MAX_OVERFLOW           more opened under a burst, closed again after (default 20,
                                    or 10 + SHOP_JOB_NETWORK_THREADS when that is more)
"""
from __future__ import annotations

import os

from shopify_app.config import whole_number
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.resilience import SupplierSlots

MAX_THREADS = 256
DEFAULT_THREADS = 48
DEFAULT_CALLS_PER_SUPPLIER = 16
# Connections: a forwarding thread holds one only for its short transactions (never during the
# call), so 48 threads need a handful at once; SQLAlchemy's 5 + 10 made a burst open and close
# connections over and over (a PostgreSQL backend per connect) or wait for one.
DEFAULT_POOL_SIZE = 10
DEFAULT_MAX_OVERFLOW = 20


def forwarding_capacity(env=None) -> tuple[int, int]:
    """(threads per process, calls in flight per supplier) from the environment, else the defaults."""
    env = os.environ if env is None else env
    threads = whole_number(env, "FORWARDING_THREADS", DEFAULT_THREADS, high=MAX_THREADS)
    per_supplier = whole_number(env, "FORWARDING_CALLS_PER_SUPPLIER", DEFAULT_CALLS_PER_SUPPLIER, high=MAX_THREADS)
    return threads, min(per_supplier, threads)


def database_pool(env=None, overflow_floor: int = 0) -> dict[str, int]:
    """The engine's pool_size and max_overflow, from DATABASE_POOL_SIZE and DATABASE_MAX_OVERFLOW.

    Unset, max_overflow is at least `overflow_floor` (the caller's other threads that hold a
    connection briefly, such as the per-shop network lane); a value set is taken as it is.
    """
    env = os.environ if env is None else env
    default_overflow = max(DEFAULT_MAX_OVERFLOW, min(overflow_floor, 200))
    return {"pool_size": whole_number(env, "DATABASE_POOL_SIZE", DEFAULT_POOL_SIZE, high=200),
            "max_overflow": whole_number(env, "DATABASE_MAX_OVERFLOW", default_overflow, low=0, high=200)}


def forwarding_worker(services) -> ForwardingWorker:
    """The forwarding worker of this process, sized by forwarding_capacity()."""
    threads, per_supplier = forwarding_capacity()
    return ForwardingWorker(services.session_factory, services.box, threads=threads, slots=SupplierSlots(per_supplier))

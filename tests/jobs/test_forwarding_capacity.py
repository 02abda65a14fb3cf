"""FORWARDING_THREADS and FORWARDING_CALLS_PER_SUPPLIER size a process's supplier calls in flight."""
from __future__ import annotations

import pytest

from scheduler.forwarding_capacity import forwarding_capacity, forwarding_worker
from shopify_app.config import ConfigError
from scheduler.forwarding_capacity import DEFAULT_CALLS_PER_SUPPLIER, DEFAULT_THREADS, database_pool


def test_defaults_fit_io_bound_suppliers():
    """Two calls an order at 300 ms: the defaults keep enough in flight for 50 orders/s, 15 of them on one shop."""
    threads, per_supplier = forwarding_capacity({})
    assert (threads, per_supplier) == (DEFAULT_THREADS, DEFAULT_CALLS_PER_SUPPLIER)
    assert threads / (2 * 0.3) >= 50 and per_supplier / (2 * 0.3) >= 15
    assert per_supplier < threads  # one slow supplier never holds every thread


def test_the_database_pool_is_settable_and_checked():
    assert database_pool({}) == {"pool_size": 10, "max_overflow": 20}
    assert database_pool({"DATABASE_POOL_SIZE": "30", "DATABASE_MAX_OVERFLOW": "0"}) == {"pool_size": 30, "max_overflow": 0}
    # Unset, the overflow makes room for the caller's other threads; set, it is taken as it is.
    assert database_pool({}, overflow_floor=42) == {"pool_size": 10, "max_overflow": 42}
    assert database_pool({"DATABASE_MAX_OVERFLOW": "5"}, overflow_floor=42)["max_overflow"] == 5
    with pytest.raises(ConfigError, match="DATABASE_POOL_SIZE"):
        database_pool({"DATABASE_POOL_SIZE": "lots"})


def test_a_process_engine_gets_the_pool(monkeypatch, app_factory, sqlite_url):
    monkeypatch.setenv("DATABASE_POOL_SIZE", "17")
    services = app_factory(sqlite_url).extensions["services"]
    assert services.engine.pool.size() == 17


def test_a_deployment_raises_both_and_the_per_supplier_cap_never_exceeds_the_threads():
    assert forwarding_capacity({"FORWARDING_THREADS": "48", "FORWARDING_CALLS_PER_SUPPLIER": "12"}) == (48, 12)
    assert forwarding_capacity({"FORWARDING_THREADS": "6", "FORWARDING_CALLS_PER_SUPPLIER": "12"}) == (6, 6)


@pytest.mark.parametrize("value", ["0", "-3", "many", "1.5", "100000"])
def test_a_bad_value_is_refused_with_its_name(value):
    with pytest.raises(ConfigError, match="FORWARDING_THREADS"):
        forwarding_capacity({"FORWARDING_THREADS": value})


def test_the_worker_of_a_process_gets_the_capacity(monkeypatch, app_factory, sqlite_url):
    monkeypatch.setenv("FORWARDING_THREADS", "24")
    monkeypatch.setenv("FORWARDING_CALLS_PER_SUPPLIER", "9")
    services = app_factory(sqlite_url).extensions["services"]
    worker = forwarding_worker(services)
    assert worker.threads == 24 and worker.slots.limit == 9

"""FORWARDING_THREADS and FORWARDING_CALLS_PER_SUPPLIER size a process's supplier calls in flight."""
from __future__ import annotations

import pytest

from scheduler.forwarding_capacity import forwarding_capacity, forwarding_worker
from shopify_app.config import ConfigError
from shopify_app.suppliers.forwarding import PER_SUPPLIER_CALLS, THREADS


def test_defaults_are_the_forwarding_modules_own():
    assert forwarding_capacity({}) == (THREADS, PER_SUPPLIER_CALLS)


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

"""Whole-number settings are read by one parser (config.whole_number): the same rules and message everywhere."""
from __future__ import annotations

import pytest

from conftest import API_KEY, API_SECRET, FERNET_KEY
from scheduler import shop_jobs
from scheduler.forwarding_capacity import forwarding_capacity
from shopify_app.config import SHOP_JOB_NETWORK_THREADS, ConfigError, Settings, load_settings, whole_number
from shopify_app.server.gunicorn_app import server_options


def _env(**more) -> dict:
    return {"SHOPIFY_API_KEY": API_KEY, "SHOPIFY_API_SECRET": API_SECRET, "DATABASE_URL": "sqlite://", "ENCRYPTION_KEYS": FERNET_KEY,
            "APP_URL": "http://127.0.0.1:9", "RUN_SCHEDULER": "0", **more}


def test_the_network_thread_default_is_one_constant():
    assert SHOP_JOB_NETWORK_THREADS == 32
    assert load_settings(_env()).shop_job_network_threads == SHOP_JOB_NETWORK_THREADS
    assert Settings.__dataclass_fields__["shop_job_network_threads"].default == SHOP_JOB_NETWORK_THREADS
    assert shop_jobs.NETWORK_THREADS == SHOP_JOB_NETWORK_THREADS  # scheduler/shop_jobs.py's fallback for settings without it


@pytest.mark.parametrize(("raw", "expected"), [(None, 7), ("", 7), ("  ", 7), ("1", 1), (" 12 ", 12), ("256", 256)])
def test_unset_or_blank_is_the_default_and_a_number_in_range_is_taken(raw, expected):
    env = {} if raw is None else {"N": raw}
    assert whole_number(env, "N", 7) == expected


@pytest.mark.parametrize("raw", ["0", "-3", "257", "2.5", "lots", "1e3", "10" * 30])
def test_anything_else_is_refused_naming_the_setting_its_range_and_default(raw):
    with pytest.raises(ConfigError) as refused:
        whole_number({"N": raw}, "N", 7)
    assert str(refused.value).startswith("N must be a whole number from 1 to 256 (default 7)")


def test_every_reader_uses_it():
    assert load_settings(_env(SHOP_JOB_NETWORK_THREADS="64")).shop_job_network_threads == 64
    with pytest.raises(ConfigError, match="SHOP_JOB_NETWORK_THREADS must be a whole number from 1 to 256"):
        load_settings(_env(SHOP_JOB_NETWORK_THREADS="0"))
    with pytest.raises(ConfigError, match="FORWARDING_THREADS must be a whole number from 1 to 256"):
        forwarding_capacity({"FORWARDING_THREADS": "many"})
    settings = load_settings(_env())
    assert server_options(settings, "127.0.0.1", {"WEB_WORKERS": "1"})["workers"] == 1
    with pytest.raises(ConfigError, match="WEB_WORKERS must be a whole number from 1 to"):
        server_options(settings, "127.0.0.1", {"WEB_WORKERS": "0"})

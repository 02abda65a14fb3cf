"""Scraping /metrics the way Prometheus does, and reading the figures with prometheus_client's own parser."""
from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-token-for-tests-0123456789"


def scrape(base_url: str, token: str = TOKEN) -> dict[tuple[str, tuple], float]:
    """GET /metrics over HTTP with the bearer token: {(sample name, sorted labels): value}."""
    response = httpx.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of an exposition text keyed by name and labels (parsing fails on malformed text)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text) for s in family.samples}


def value(figures: dict, name: str, **labels) -> float:
    """One sample's value (0 when absent: a counter that never moved has no series yet)."""
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


def total(figures: dict, name: str, **labels) -> float:
    """The sum of a family's samples whose labels include `labels`."""
    return sum(v for (n, ls), v in figures.items() if n == name and set(labels.items()) <= set(ls))


def family_names(text: str) -> set[str]:
    """Names of every family and sample in an exposition text."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(s.name for s in family.samples)
    return names


SAMPLE_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"), "summary": ("_count", "_sum", "_created"), "gauge": ("",), "info": ("_info",)}


def exported_names(text: str) -> set[str]:
    """Every series name a scraper can query, from the families (with or without samples yet) of an exposition text."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SAMPLE_SUFFIXES.get(family.type, ("",)))
        names.update(s.name for s in family.samples)
    return names

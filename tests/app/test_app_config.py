"""shopify.app.toml agrees with the code: scopes, and topics <-> handlers."""
from __future__ import annotations

import tomllib

from conftest import REPO
from shopify_app.config import DEFAULT_SCOPES
from shopify_app.webhooks.registry import COMPLIANCE_TOPICS, INTERNAL_TOPICS, load_handlers


def toml():
    return tomllib.loads((REPO / "shopify.app.toml").read_text())


def test_toml_has_what_shopify_cli_requires():
    conf = toml()
    for key in ("name", "client_id", "application_url", "embedded"):
        assert key in conf
    assert conf["embedded"] is True
    assert conf["webhooks"]["api_version"] == "2026-10"
    assert all(url.endswith("/auth/callback") for url in conf["auth"]["redirect_urls"])


def test_scopes_match_the_code():
    assert toml()["access_scopes"]["scopes"] == DEFAULT_SCOPES


def test_subscribed_topics_and_handlers_agree():
    subs = toml()["webhooks"]["subscriptions"]
    topics = {t for s in subs for t in s.get("topics", [])}
    compliance = {t for s in subs for t in s.get("compliance_topics", [])}
    assert compliance == COMPLIANCE_TOPICS
    handled = set(load_handlers()) - INTERNAL_TOPICS
    assert topics | compliance == handled

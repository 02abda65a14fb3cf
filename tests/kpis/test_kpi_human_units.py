"""KPI targets in percent and hours: the conversion round trip, the API, and the Settings page showing them with their defaults."""
from __future__ import annotations

import pytest

from conftest import API_KEY, install_shop
from shopify_app.kpis.targets import DEFAULT_TARGETS, RATE_KEYS
from shopify_app.kpis.units import from_human, human_targets, to_human

SHOP = "demo.myshopify.com"


@pytest.mark.parametrize("percent", [0, 0.5, 10, 12.5, 33.3, 95, 99.9, 100])
def test_a_percentage_survives_the_round_trip_exactly(percent):
    for key in RATE_KEYS:
        stored = from_human(key, percent)
        assert 0 <= stored <= 1
        assert to_human(key, stored) == percent


@pytest.mark.parametrize("stored", [0.1, 0.95, 0.333, 0.07])
def test_a_stored_fraction_reads_as_a_clean_percentage(stored):
    shown = to_human("return_rate_max", stored)
    assert shown == round(stored * 100, 4) and from_human("return_rate_max", shown) == stored
    assert str(to_human("return_rate_max", 0.1)) == "10.0"  # not 10.000000000000002


def test_hours_stay_hours_and_bounds_are_checked():
    assert from_human("forward_hours", 4) == 4.0 and to_human("forward_hours", 4.0) == 4.0
    for key, bad in (("on_time_min", 101), ("on_time_min", -1), ("forward_hours", 0), ("forward_hours", 10_000), ("nonsense", 1)):
        with pytest.raises(ValueError):
            from_human(key, bad)


def test_every_target_is_listed_with_its_unit_and_default():
    rows = {r["key"]: r for r in human_targets(dict(DEFAULT_TARGETS))}
    assert set(rows) == set(DEFAULT_TARGETS)
    assert (rows["on_time_min"]["unit"], rows["on_time_min"]["default"]) == ("%", 95.0)
    assert (rows["return_rate_max"]["unit"], rows["return_rate_max"]["default"]) == ("%", 10.0)
    assert (rows["forward_hours"]["unit"], rows["forward_hours"]["default"]) == ("h", 4.0)


def test_the_api_stores_fractions_and_the_settings_page_shows_percent(sandboxed_app, sandbox_shopify):
    install_shop(sandboxed_app, SHOP)
    headers = {"Authorization": f"Bearer {sandbox_shopify.mint_session_token(SHOP, API_KEY)}"}
    client = sandboxed_app.test_client()
    saved = client.put("/api/settings/kpi-targets/human", json={"on_time_min": 97.5, "return_rate_max": 8, "forward_hours": 6}, headers=headers)
    assert saved.status_code == 200, saved.get_json()
    assert {k: saved.get_json()["targets"][k] for k in ("on_time_min", "return_rate_max", "forward_hours")} == {"on_time_min": 0.975, "return_rate_max": 0.08, "forward_hours": 6.0}
    raw = client.get("/api/settings/kpi-targets", headers=headers).get_json()["targets"]
    assert raw["on_time_min"] == 0.975  # the fraction API and the KPI checks read the same stored value
    refused = client.put("/api/settings/kpi-targets/human", json={"on_time_min": 950}, headers=headers)
    assert refused.status_code == 400 and refused.get_json()["fields"][0]["field"] == "on_time_min"
    page = client.get(f"/settings?shop={SHOP}&host=abc&id_token={sandbox_shopify.mint_session_token(SHOP, API_KEY)}").get_data(as_text=True)
    on_time = page.split('data-kpi="on_time_min"')[1].split("</label>")[0]
    assert 'value="97.5"' in on_time and "Default: 95.0 %" in on_time

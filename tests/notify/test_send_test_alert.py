"""'Send test alert': one message to every configured channel right away, the outcome per channel, nothing stored."""
from __future__ import annotations

from sqlalchemy import func, select

from channels_kit import free_port
from conftest import API_KEY, install_shop
from shopify_app.notify.models import AlertNotification
from shopify_app.suppliers.models import Alert
from ui.test_kpi_alerts import mail_and_slack  # noqa: F401 (fixture: a real SMTP server and Slack receiver)

SHOP = "demo.myshopify.com"


def headers(sandbox, shop=SHOP):
    return {"Authorization": f"Bearer {sandbox.mint_session_token(shop, API_KEY)}"}


def test_a_test_alert_reaches_email_and_slack_and_reports_each(app_factory, sqlite_url, sandbox_shopify, mail_and_slack):
    inbox, port, slack = mail_and_slack
    app = app_factory(sqlite_url, sandbox_shopify_url=sandbox_shopify.base_url, smtp_host="127.0.0.1", smtp_port=port)
    sandbox_shopify.add_shop("other.myshopify.com")
    install_shop(app, SHOP, "other.myshopify.com")
    client = app.test_client()
    assert client.post("/api/settings/alert-channels/test", json={}, headers=headers(sandbox_shopify)).status_code == 409  # nothing set up yet
    client.put("/api/settings/alert-channels", json={"emails": ["ops@example.com"], "slack_webhook_url": slack.url}, headers=headers(sandbox_shopify))
    response = client.post("/api/settings/alert-channels/test", headers=headers(sandbox_shopify))
    assert response.status_code == 200, response.get_json()
    assert [(r["channel"], r["ok"]) for r in response.get_json()["results"]] == [("email", True), ("slack", True)]
    assert slack.secret not in response.get_data(as_text=True)
    assert len(inbox.messages) == 1 and "ops@example.com" in inbox.messages[0][0] and "test alert" in inbox.messages[0][1]
    assert len(slack.posts) == 1 and SHOP in slack.posts[0]["json"]["text"]
    with app.extensions["services"].session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 0
        assert session.scalar(select(func.count()).select_from(AlertNotification)) == 0
    # Another shop has its own (no) channels.
    assert client.post("/api/settings/alert-channels/test", headers=headers(sandbox_shopify, "other.myshopify.com")).status_code == 409


def test_a_failing_channel_is_reported_with_its_reason(app_factory, sqlite_url, sandbox_shopify, mail_and_slack):
    _, _, slack = mail_and_slack
    app = app_factory(sqlite_url, sandbox_shopify_url=sandbox_shopify.base_url, smtp_host="127.0.0.1", smtp_port=free_port())
    install_shop(app, SHOP)
    client = app.test_client()
    client.put("/api/settings/alert-channels", json={"emails": ["ops@example.com"], "slack_webhook_url": slack.url}, headers=headers(sandbox_shopify))
    slack.statuses.append(404)
    results = client.post("/api/settings/alert-channels/test", headers=headers(sandbox_shopify)).get_json()["results"]
    assert [(r["channel"], r["ok"]) for r in results] == [("email", False), ("slack", False)]
    assert results[1]["detail"] == "HTTP 404" and results[0]["detail"]  # the error class, never the webhook URL


def test_test_alerts_are_limited_to_one_per_shop_every_30_seconds(app_factory, sqlite_url, sandbox_shopify, mail_and_slack):
    # Review finding 14: every click emails all addresses and posts to Slack.
    _, _, slack = mail_and_slack
    app = app_factory(sqlite_url, sandbox_shopify_url=sandbox_shopify.base_url)
    sandbox_shopify.add_shop("other.myshopify.com")
    install_shop(app, SHOP, "other.myshopify.com")
    client = app.test_client()
    for shop in (SHOP, "other.myshopify.com"):
        client.put("/api/settings/alert-channels", json={"slack_webhook_url": slack.url}, headers=headers(sandbox_shopify, shop))
    assert client.post("/api/settings/alert-channels/test", headers=headers(sandbox_shopify)).status_code == 200
    again = client.post("/api/settings/alert-channels/test", headers=headers(sandbox_shopify))
    assert again.status_code == 429
    assert 0 < int(again.headers["Retry-After"]) <= 30
    assert f"try again in {again.headers['Retry-After']} seconds" in again.get_json()["error"]
    assert client.post("/api/settings/alert-channels/test", headers=headers(sandbox_shopify, "other.myshopify.com")).status_code == 200  # per shop
    assert len(slack.posts) == 2

"""A KPI that misses its target, end to end: the dashboard shows it missed, one alert is raised, one email and one Slack post go out."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from channels_kit import Inbox, SlackReceiver, start_smtp
from conftest import API_KEY
from shopify_app.kpis.evaluate import check_installed_shops
from shopify_app.notify.alert_channels import deliver_alert_notifications
from shopify_app.suppliers.models import Alert
from ui.ui_world import SHOP, serve


@pytest.fixture
def mail_and_slack():
    inbox, slack = Inbox(), SlackReceiver()
    controller, port = start_smtp(inbox)
    slack.thread.start()
    yield inbox, port, slack
    controller.stop()
    slack.server.shutdown()


@pytest.fixture
def shop(app_factory, sqlite_url, sandbox_shopify, mail_and_slack):
    app = app_factory(sqlite_url, sandbox_shopify_url=sandbox_shopify.base_url, smtp_host="127.0.0.1", smtp_port=mail_and_slack[1])
    yield from serve(app, sandbox_shopify)


def test_a_missed_return_rate_shows_on_the_dashboard_and_is_sent_once(shop, mail_and_slack) -> None:
    inbox, _, slack = mail_and_slack
    # Hand-computed: 2 orders x 2 mugs + 1 tee = 5 units sold this week, 1 mug asked back: 1/5 = 20.0 %, target below 10 %.
    dashboard = shop.page("/").get_data(as_text=True)
    row = dashboard.split('data-kpi="return_rate"')[1].split("</tr>")[0]
    assert "20.0 %" in row and "below 10 %" in row and 'class="badge missed"' in row
    headers = {"Authorization": f"Bearer {shop.shopify.mint_session_token(SHOP, API_KEY)}"}
    saved = shop.app.test_client().put("/api/settings/alert-channels", json={"emails": ["ops@example.com"], "slack_webhook_url": slack.url, "min_severity": "warning"}, headers=headers)
    assert saved.status_code == 200 and slack.url not in saved.get_data(as_text=True)
    for _ in range(2):  # two daily checks, two notification passes: still one of each
        check_installed_shops(shop.services)
        deliver_alert_notifications(shop.services)
    with shop.services.session_factory() as session:
        [alert] = session.scalars(select(Alert).where(Alert.kind == "kpi_missed")).all()
        assert (alert.subject, alert.count, alert.resolved_at) == ("Return rate", 2, None)
    kpi_mails = [body for to, body in inbox.messages if "Return rate" in body]
    kpi_posts = [p for p in slack.posts if "Return rate" in p["json"]["text"]]
    assert len(kpi_mails) == 1 and len(kpi_posts) == 1
    assert "ops@example.com" in [to for to, body in inbox.messages if "Return rate" in body][0]

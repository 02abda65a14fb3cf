"""Alerts reach the merchant by email (a real aiosmtpd server) and Slack (a real local HTTP receiver): once per occurrence and channel."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import logging
import socket
import threading
import time
import uuid

import jwt
import pytest
from sqlalchemy import select

from channels_kit import Inbox, SlackReceiver, free_port, start_smtp
from conftest import API_KEY, API_SECRET, install_shop
from shopify_app.alerts import raise_alert, resolve_alert
from shopify_app.models import ShopSetting, utcnow
from shopify_app.notify.alert_channels import _insert_once, deliver_alert_notifications
from shopify_app.notify.models import AlertNotification
from shopify_app.suppliers.models import Alert

SHOP = "demo.myshopify.com"
OTHER_SHOP = "other.myshopify.com"
SECRET = "XyZ-s3cr3t-webhook-token"
ADMIN_LINK = "https://admin.shopify.com/store/demo/apps/test-client-id"
KEY = "supplier_failed:1"
MESSAGE = "Order #1077: Printful could not fulfil it (out of ink)."
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def smtp_inbox():
    inbox = Inbox()
    controller, port = start_smtp(inbox)
    yield inbox, port
    controller.stop()


@pytest.fixture
def slack():
    receiver = SlackReceiver(SECRET)
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def app(app_factory, database_url, smtp_inbox):
    app = app_factory(database_url, smtp_host="127.0.0.1", smtp_port=smtp_inbox[1])
    install_shop(app, SHOP, OTHER_SHOP)  # /api/* serves installed shops only
    return app


@pytest.fixture
def inbox(smtp_inbox):
    return smtp_inbox[0]


def auth(shop: str = SHOP) -> dict:
    """A session token as App Bridge gives it (HS256 with the app's secret, Shopify's claims)."""
    now = int(time.time())
    claims = {"iss": f"https://{shop}/admin", "dest": f"https://{shop}", "aud": API_KEY, "sub": "1", "exp": now + 60, "nbf": now, "iat": now,
              "jti": str(uuid.uuid4()), "sid": uuid.uuid4().hex}
    return {"Authorization": f"Bearer {jwt.encode(claims, API_SECRET, algorithm='HS256')}"}


def parse_mail(content: str):
    return email.message_from_string(content.replace("\r\n", "\n"), policy=email.policy.default)


def services_of(app):
    return app.extensions["services"]


def configure(app, **channels) -> dict:
    response = app.test_client().put("/api/settings/alert-channels", json=channels, headers=auth())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def raise_(app, key: str = KEY, message: str = MESSAGE, severity: str = "critical", subject: str | None = "#1077", shop: str = SHOP) -> None:
    with services_of(app).session_factory.begin() as session:
        raise_alert(session, shop, key.partition(":")[0], key, message, severity=severity, subject=subject)


def resolve(app, key: str = KEY) -> None:
    with services_of(app).session_factory.begin() as session:
        resolve_alert(session, key)


def deliver(app, now: dt.datetime | None = None):
    return deliver_alert_notifications(services_of(app), now=now)


def rows(app) -> list[tuple]:
    with services_of(app).session_factory() as session:
        found = session.scalars(select(AlertNotification).order_by(AlertNotification.occurrence, AlertNotification.channel, AlertNotification.alert_id))
        return [(r.channel, r.occurrence, r.status, r.attempts, r.last_error) for r in found]


def alert_id(app, key: str = KEY) -> int:
    with services_of(app).session_factory() as session:
        return session.scalar(select(Alert.id).where(Alert.dedupe_key == key))


def test_an_alert_seen_three_times_is_told_once_by_email_and_once_on_slack(app, inbox, slack):
    configure(app, emails=["ops@example.com", "Owner@Example.com"], slack_webhook_url=slack.url, min_severity="warning")
    for _ in range(3):
        raise_(app)
    raise_(app, "stock_note:1", "Stock feed is a little late.", severity="info", subject=None)  # below min_severity

    report = deliver(app)
    assert (report.planned, report.sent, report.retrying, report.failed, report.skipped) == (2, 2, 0, 0, 0)
    raise_(app)  # a fourth sighting: counted, not told again
    report = deliver(app)
    assert (report.planned, report.sent) == (0, 0)

    [(recipients, content)] = inbox.messages
    assert recipients == ["ops@example.com", "Owner@Example.com"]
    mail = parse_mail(content)
    assert mail["Subject"] == "[Dropship Ops] critical: supplier failed (#1077)"
    body = mail.get_content().split("\n")
    assert body[0] == MESSAGE and body[2].startswith("Seen 3 times, first on ") and body[3] == "Shop: demo.myshopify.com"
    assert body[5] == f"Open the app in your Shopify admin: {ADMIN_LINK}"
    [post] = slack.posts
    assert post["path"] == f"/services/T000/B000/{SECRET}" and post["content_type"] == "application/json"
    lines = post["json"]["text"].split("\n")
    assert lines[0] == "*[Dropship Ops] critical: supplier failed (#1077)*"
    assert lines[1] == MESSAGE and lines[2].startswith("Seen 3 times, first on ")
    assert lines[3] == f"<{ADMIN_LINK}|Open in Shopify admin>"
    assert rows(app) == [("email", 0, "sent", 1, None), ("slack", 0, "sent", 1, None)]


def test_a_resolved_alert_that_comes_back_is_told_again(app, inbox, slack):
    configure(app, emails=["ops@example.com"], slack_webhook_url=slack.url)
    raise_(app)
    assert deliver(app).sent == 2
    resolve(app)
    raise_(app, message="Order #1077: Printful failed again.")  # reopened: a new occurrence
    raise_(app, message="Order #1077: Printful failed again.")  # and seen once more within it

    assert deliver(app).sent == 2
    assert deliver(app).sent == 0
    assert len(inbox.messages) == 2 and len(slack.posts) == 2
    again = parse_mail(inbox.messages[1][1]).get_content()
    assert again.startswith("Order #1077: Printful failed again.\n\nSeen 3 times, first on ")
    assert slack.posts[1]["json"]["text"].split("\n")[1] == "Order #1077: Printful failed again."
    assert rows(app) == [("email", 0, "sent", 1, None), ("slack", 0, "sent", 1, None), ("email", 1, "sent", 1, None), ("slack", 1, "sent", 1, None)]


def test_an_alert_grown_critical_is_told_again_and_reaches_a_critical_only_channel(app, inbox, slack):
    configure(app, emails=["ops@example.com"], slack_webhook_url=slack.url, min_severity="warning")
    raise_(app, "case_due:7", "Case 7 is due in 2 hours.", severity="warning", subject="case 7")
    assert deliver(app).sent == 2
    raise_(app, "case_due:7", "Case 7 is due in 1 hour.", severity="warning", subject="case 7")  # the same level: not told again
    assert deliver(app).sent == 0
    raise_(app, "case_due:7", "Case 7 is late.", severity="critical", subject="case 7")  # grown worse: told again
    raise_(app, "case_due:7", "Case 7 is late.", severity="critical", subject="case 7")  # still critical: once
    assert deliver(app).sent == 2
    assert deliver(app).sent == 0
    assert parse_mail(inbox.messages[1][1])["Subject"] == "[Dropship Ops] critical: case due (case 7)"
    assert slack.posts[1]["json"]["text"].split("\n")[1] == "Case 7 is late."
    raise_(app, "case_due:7", "Case 7 is due soon.", severity="warning", subject="case 7")  # milder again: no news
    assert deliver(app).sent == 0

    configure(app, emails=["ops@example.com"], slack_webhook_url=slack.url, min_severity="critical")  # channels told only critical ones
    raise_(app, "case_due:8", "Case 8 is due in 2 hours.", severity="warning", subject="case 8")
    assert deliver(app).sent == 0
    raise_(app, "case_due:8", "Case 8 is late.", severity="critical", subject="case 8")
    assert deliver(app).sent == 2
    assert parse_mail(inbox.messages[-1][1]).get_content().startswith("Case 8 is late.")


def test_a_slack_500_is_retried_later_and_then_sent(app, slack):
    configure(app, slack_webhook_url=slack.url)
    slack.statuses = [500]
    raise_(app)
    t0 = utcnow()

    report = deliver(app, now=t0)
    assert (report.sent, report.retrying) == (0, 1)
    with services_of(app).session_factory() as session:
        row = session.scalars(select(AlertNotification)).one()
        assert (row.status, row.attempts, row.last_error, row.next_attempt_at) == ("pending", 1, "HTTP 500", t0 + MINUTE)
    assert deliver(app, now=t0 + dt.timedelta(seconds=30)).sent == 0  # not due yet
    assert len(slack.posts) == 1

    assert deliver(app, now=t0 + MINUTE).sent == 1
    assert len(slack.posts) == 2 and slack.posts[0]["json"] == slack.posts[1]["json"]
    with services_of(app).session_factory() as session:
        row = session.scalars(select(AlertNotification)).one()
        assert (row.status, row.attempts, row.last_error, row.sent_at) == ("sent", 2, None, t0 + MINUTE)
    [alert] = app.test_client().get("/api/alerts", headers=auth()).get_json()["alerts"]
    assert alert["notifications"] == {"slack": {"status": "sent", "attempts": 2, "sent_at": (t0 + MINUTE).isoformat(), "next_attempt_at": None, "last_error": None}}


def test_a_webhook_that_keeps_failing_is_given_up_after_five_attempts_and_shown_failed(app, slack):
    configure(app, slack_webhook_url=slack.url)
    slack.statuses = [503] * 10
    raise_(app)
    t0 = utcnow()
    outcomes = []
    for i in range(6):
        report = deliver(app, now=t0 + i * dt.timedelta(hours=2))
        outcomes.append((report.retrying, report.failed))
    assert outcomes == [(1, 0), (1, 0), (1, 0), (1, 0), (0, 1), (0, 0)]
    assert len(slack.posts) == 5
    assert rows(app) == [("slack", 0, "failed", 5, "HTTP 503")]
    [alert] = app.test_client().get("/api/alerts", headers=auth()).get_json()["alerts"]
    assert alert["notifications"]["slack"] == {"status": "failed", "attempts": 5, "sent_at": None, "next_attempt_at": None, "last_error": "HTTP 503"}


def test_a_webhook_that_is_gone_fails_at_once(app, slack):
    configure(app, slack_webhook_url=slack.url)
    slack.statuses = [404]
    raise_(app)
    assert deliver(app).failed == 1
    assert deliver(app, now=utcnow() + dt.timedelta(hours=2)).failed == 0
    assert len(slack.posts) == 1 and rows(app) == [("slack", 0, "failed", 1, "HTTP 404")]


def test_the_slack_url_never_appears_in_logs_errors_or_the_api(app, slack, caplog):
    caplog.set_level(logging.DEBUG)
    configure(app, slack_webhook_url=slack.url)
    slack.statuses = [500]
    raise_(app)
    t0 = utcnow()
    assert deliver(app, now=t0).retrying == 1
    assert deliver(app, now=t0 + MINUTE).sent == 1
    dead = f"http://127.0.0.1:{free_port()}/services/T000/B000/{SECRET}"
    configure(app, slack_webhook_url=dead)
    raise_(app, "supplier_failed:2", "Order #1078: Printful could not fulfil it.", subject="#1078")
    assert deliver(app, now=t0 + 2 * MINUTE).retrying == 1
    bad = app.test_client().put("/api/settings/alert-channels", json={"slack_webhook_url": f"http://hooks.example.com/services/T000/B000/{SECRET}"}, headers=auth())
    shown = app.test_client().get("/api/settings/alert-channels", headers=auth())
    listed = app.test_client().get("/api/alerts", headers=auth())

    assert bad.status_code == 400 and SECRET not in bad.get_data(as_text=True)
    assert shown.get_json() == {"emails": [], "min_severity": "warning", "slack_webhook_configured": True, "slack_webhook_host": "127.0.0.1"}
    assert SECRET not in listed.get_data(as_text=True)
    assert rows(app) == [("slack", 0, "sent", 2, None), ("slack", 0, "pending", 1, "could not connect")]
    assert SECRET not in caplog.text and "/services/" not in caplog.text
    ours = [r.getMessage() for r in caplog.records if r.name == "shopify_app.notify.alert_channels"]
    assert len(ours) == 3 and all("to host 127.0.0.1" in m for m in ours)
    assert "attempt 1 failed (HTTP 500), will retry" in ours[0] and "sent by slack" in ours[1] and "(could not connect)" in ours[2]


def test_bad_settings_are_refused_with_400_and_good_ones_kept(app, monkeypatch):
    client = app.test_client()
    real_getaddrinfo = socket.getaddrinfo

    def public_dns(host, *args, **kwargs):  # no DNS here: hooks.slack.com answers a public address
        return real_getaddrinfo("93.184.215.14" if host in ("hooks.slack.com", "hooks.example.com") else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", public_dns)

    def put(body):
        return client.put("/api/settings/alert-channels", json=body, headers=auth())

    problems = {
        "emails": (["not-an-email", "ok@example.com"], ["emails[0]: 'not-an-email' is not an email address"]),
        "plain_http": ("http://hooks.example.com/services/T/B/x", ["slack_webhook_url must be an https:// URL to a public host"]),
        "credentials": ("https://user:pw@hooks.slack.com/services/T/B/x", ["slack_webhook_url must be an https:// URL to a public host"]),
    }
    for case, (value, expected) in problems.items():
        field = {"plain_http": "slack_webhook_url", "credentials": "slack_webhook_url"}.get(case, case)
        response = put({field: value})
        assert (response.status_code, response.get_json()) == (400, {"error": "invalid alert channel settings", "problems": expected}), case
    # Types, enums and unknown fields are refused by the API's JSON Schema, naming the field.
    schema_refusals = {
        "emails": ("ops@example.com", "must be a list"),
        "min_severity": ("loud", "must be one of info, warning, critical"),
        "colour": ("red", "is not a known field"),
    }
    for field, (value, message) in schema_refusals.items():
        response = put({field: value})
        assert (response.status_code, response.get_json()) == (400, {"error": "invalid request", "fields": [{"field": field, "message": message}]}), field
    not_json = client.put("/api/settings/alert-channels", data="nope", headers={**auth(), "Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.get_json()["fields"][0]["message"].startswith("malformed JSON")
    assert client.get("/api/settings/alert-channels").status_code == 401
    assert client.get("/api/settings/alert-channels", headers=auth()).get_json() == {"emails": [], "min_severity": "warning", "slack_webhook_configured": False, "slack_webhook_host": None}

    url = "https://hooks.slack.com/services/T000/B000/abc"
    saved = put({"emails": [" ops@example.com ", "OPS@example.com", "owner@example.com"], "slack_webhook_url": url, "min_severity": "critical"}).get_json()
    assert saved == {"emails": ["ops@example.com", "owner@example.com"], "min_severity": "critical", "slack_webhook_configured": True, "slack_webhook_host": "hooks.slack.com"}
    assert put({"emails": ["team@example.com"]}).get_json()["slack_webhook_configured"] is True  # left out: kept
    with services_of(app).session_factory() as session:
        stored = session.scalar(select(ShopSetting.value).where(ShopSetting.shop_domain == SHOP, ShopSetting.key == "alert_channels"))
    # At rest the URL is encrypted with the app's keys, like supplier credentials; only its host is in clear.
    assert url not in str(stored) and services_of(app).box.decrypt(stored.pop("slack_webhook_enc").encode()) == url
    assert stored == {"emails": ["team@example.com"], "slack_webhook_host": "hooks.slack.com", "min_severity": "critical"}
    assert put({"slack_webhook_url": None}).get_json()["slack_webhook_configured"] is False


def test_resolving_through_the_api_stops_unsent_notifications_and_only_for_the_own_shop(app, slack):
    configure(app, slack_webhook_url=slack.url)
    slack.statuses = [500, 500]
    raise_(app)
    raise_(app, "supplier_hold:2", "Order #1078: Printful put it on hold.", severity="warning", subject="#1078")
    raise_(app, "supplier_hold:3", "Another shop's alert.", severity="warning", subject="#9", shop=OTHER_SHOP)
    t0 = utcnow()
    assert deliver(app, now=t0).retrying == 2
    client = app.test_client()
    first, other = alert_id(app), alert_id(app, "supplier_hold:3")

    assert client.post(f"/api/alerts/{first}/resolve", headers=auth(OTHER_SHOP)).status_code == 404
    assert client.post(f"/api/alerts/{other}/resolve", headers=auth()).status_code == 404
    assert client.post("/api/alerts/999999/resolve", headers=auth()).status_code == 404
    resolved = client.post(f"/api/alerts/{first}/resolve", headers=auth())
    assert resolved.status_code == 200 and resolved.get_json()["alert"]["status"] == "resolved"

    report = deliver(app, now=t0 + MINUTE)
    assert (report.sent, report.skipped) == (1, 1)
    assert len(slack.posts) == 3 and slack.posts[2]["json"]["text"].startswith("*[Dropship Ops] warning: supplier hold (#1078)*")
    listed = client.get("/api/alerts", headers=auth()).get_json()["alerts"]
    assert [(a["kind"], a["status"], a["notifications"]["slack"]["status"]) for a in listed] == [("supplier_hold", "open", "sent"), ("supplier_failed", "resolved", "skipped")]
    assert listed[1]["notifications"]["slack"]["last_error"] == "alert resolved before it was sent" and listed[1]["resolved_at"] is not None
    assert [a["kind"] for a in client.get("/api/alerts", headers=auth(OTHER_SHOP)).get_json()["alerts"]] == ["supplier_hold"]
    assert client.get("/api/alerts", headers=auth(OTHER_SHOP)).get_json()["alerts"][0]["notifications"] == {}  # no channels there


def test_two_workers_at_once_send_each_notification_once(app, inbox, slack):
    configure(app, emails=["ops@example.com"], slack_webhook_url=slack.url)
    raise_(app)
    start = threading.Barrier(2)
    reports, errors = [], []

    def worker():
        try:
            start.wait()
            reports.append(deliver(app))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sum(r.planned for r in reports) == 2 and sum(r.sent for r in reports) == 2
    assert len(inbox.messages) == 1 and len(slack.posts) == 1
    # The loser of the insert race gets the unique key's IntegrityError and leaves the row alone.
    with services_of(app).session_factory.begin() as session:
        assert _insert_once(session, alert_id(app), "email", 0, utcnow()) == 0
    assert rows(app) == [("email", 0, "sent", 1, None), ("slack", 0, "sent", 1, None)]


def test_without_smtp_configured_email_notifications_wait(app_factory, database_url):
    app = app_factory(database_url)
    install_shop(app, SHOP)
    configure(app, emails=["ops@example.com"])
    raise_(app)
    report = deliver(app)
    assert (report.planned, report.sent, report.waiting) == (1, 0, 1)
    assert rows(app) == [("email", 0, "pending", 0, None)]


def test_the_job_runs_every_minute():
    from scheduler.embedded import PERIODIC_JOBS

    assert ("alert-notifications", MINUTE, deliver_alert_notifications) in PERIODIC_JOBS

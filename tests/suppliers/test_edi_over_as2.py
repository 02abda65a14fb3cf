"""An EDI partner over AS2 end to end: sandbox Shopify -> app -> 850 as a signed, encrypted AS2 message to the sandbox AS2 partner (pyas2lib on its side) -> signed MDN -> its 997/855/856 back over AS2 to /as2/<token> -> a Shopify fulfillment."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import update
from werkzeug.serving import make_server

from conftest import API_KEY, API_SECRET
from edi_testkit import edi_settings
from integrations.suppliers.edi_x12.x12 import Party
from sandbox.supplier.as2_partner import As2Partner, make_certificate
from scheduler.embedded import PERIODIC_JOBS
from shopify_app.suppliers.as2_models import As2Message
from shopify_app.suppliers.edi_models import EdiDocument, EdiInterchange
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import Alert, ProductMapping, Supplier, SupplierOrder
from shopify_app.webhooks.worker import InboxWorker
from test_email_supplier_loop import shopify_order

SHOP = "demo.myshopify.com"
OUR_AS2_ID = "DROPSHIPAPP-AS2"
PARTNER_AS2_ID = "WHOLESALE-AS2"


def as2_transport(partner: As2Partner, **overrides) -> dict:
    """The transport settings a merchant saves for an AS2 partner."""
    return {"kind": "as2", "our_as2_id": OUR_AS2_ID, "partner_as2_id": PARTNER_AS2_ID, "url": partner.url,
            "partner_certificate": partner.certificate_pem.decode(), "encryption": "aes_256_cbc", "digest": "sha256", "mdn_mode": "sync",
            "timeout_seconds": 20, **overrides}


def served_app(app_factory, database_url, sandbox_shopify):
    """(app, services, server): the app served on loopback, installed on SHOP; the server first (port 0), then the app whose APP_URL is that server
    (our AS2 URL and MDN URL derive from it)."""
    built = {}
    server = make_server("127.0.0.1", 0, lambda environ, start_response: built["app"](environ, start_response), threaded=True)
    app = built["app"] = app_factory(database_url, sandbox_shopify_url=sandbox_shopify.base_url, app_url=f"http://127.0.0.1:{server.server_port}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sandbox_shopify.register_app(API_KEY, API_SECRET, f"http://127.0.0.1:{server.server_port}", webhook_topics=["orders/create", "orders/paid", "orders/updated"])
    services = app.extensions["services"]
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "write_orders")
    return app, services, server


def change_transport(services, supplier_id: int, **changes) -> None:
    """Change keys of the AS2 partner's transport settings (as the merchant's edit would)."""
    with services.session_factory.begin() as session:
        supplier = session.get(Supplier, supplier_id)
        supplier.settings = {**supplier.settings, "transport": {**supplier.settings["transport"], **changes}}


@pytest.fixture
def world(app_factory, database_url, sandbox_shopify, tmp_path):
    app, services, server = served_app(app_factory, database_url, sandbox_shopify)
    code = f"APP{tmp_path.name[-10:]}".replace("_", "")[:15]  # adapters are cached per process by their settings: unique per test
    partner = As2Partner(tmp_path / "partner", as2_id=PARTNER_AS2_ID, app_as2_id=OUR_AS2_ID, partner=Party("01", "123456789", "WHOLESALE"),
                         us=Party("ZZ", "DROPSHIPAPP", code), known_skus={"W-TEE-S": 30, "W-MUG": 4}).start()
    with services.session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name="EDI Wholesale (AS2)", kind="edi_x12",
                            settings={**edi_settings(our_application_code=code), "transport": as2_transport(partner)})
        session.add(supplier)
        session.flush()
        session.add(ProductMapping(shop_domain=SHOP, sku="TEE-S", supplier_id=supplier.id, supplier_sku="W-TEE-S", cost="4.50"))
        session.add(ProductMapping(shop_domain=SHOP, sku="MUG-WHT", supplier_id=supplier.id, supplier_sku="W-MUG", cost="3.25"))
        supplier_id = supplier.id
    # The merchant downloads our certificate and gives it, with our URL, to the partner.
    headers = {"Authorization": f"Bearer {sandbox_shopify.mint_session_token(SHOP, API_KEY, ttl=600)}"}
    setup = app.test_client().get(f"/api/suppliers/{supplier_id}/as2", headers=headers).get_json()["as2"]
    pem = app.test_client().get(f"/api/suppliers/{supplier_id}/as2/certificate.pem", headers=headers)
    assert pem.status_code == 200 and pem.data.decode() == setup["certificate_pem"] and "attachment" in pem.headers["Content-Disposition"]
    partner.app_certificate_pem = pem.data
    assert setup["inbound_url"].startswith(f"http://127.0.0.1:{server.server_port}/as2/")
    partner.app_url = setup["inbound_url"]
    yield app, sandbox_shopify, partner, supplier_id, headers
    partner.stop()
    server.shutdown()


def run_job(app, name):
    [job] = [fn for job_id, _, fn in PERIODIC_JOBS if job_id == name]
    return job(app.extensions["services"])


def make_due(app) -> None:
    """Pretend the forwarding backoff has run out."""
    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(SupplierOrder).values(next_attempt_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1), lease_until=None))


def place(app, shopify, lines):
    services = app.extensions["services"]
    order = shopify.place_order(SHOP, lines, email="buyer@example.com")
    InboxWorker(services.session_factory, services.settings, services).drain()
    return order


def messages(app, direction):
    with app.extensions["services"].session_factory() as session:
        return [(m.file_name, m.status, m.attempts) for m in session.query(As2Message).filter_by(direction=direction).order_by(As2Message.id)]


def test_an_850_goes_out_over_as2_its_mdn_confirms_it_and_the_partners_856_becomes_a_fulfillment(world):
    app, shopify, partner, supplier_id, headers = world
    services = app.extensions["services"]
    order = place(app, shopify, [{"sku": "TEE-S", "quantity": 2}, {"sku": "MUG-WHT", "quantity": 1}])
    ForwardingWorker(services.session_factory, services.box).drain()
    with services.session_factory() as session:
        [delivery] = session.query(SupplierOrder).all()
        assert delivery.state == "placed"
        po = delivery.supplier_order_id
    # The partner's pyas2lib decrypted and verified it; the signed MDN's MIC matched ours.
    [received] = partner.received
    assert (received.status, received.file_name) == ("processed", f"850_{po}.x12")
    assert received.payload.startswith(b"ISA")
    assert messages(app, "out") == [(f"850_{po}.x12", "delivered", 1)]

    # 997 + 855 back over AS2; the poll applies them and answers with our 997 over AS2.
    sent = partner.step()
    assert [(s.http_status, s.mdn_status) for s in sent] == [(200, "processed"), (200, "processed")]
    run_job(app, "edi-partners")
    partner.edi.run_once()
    assert [status for _, status in partner.edi.acks_received] == ["A"]  # our 997 for its 855 came over AS2
    tracking = partner.edi.ship(po)
    partner.send_outbox()
    run_job(app, "edi-partners")

    status = shopify_order(shopify, order["id"])
    assert status["displayFulfillmentStatus"] == "FULFILLED"
    assert status["fulfillments"][0]["trackingInfo"][0]["number"] == tracking
    assert partner.purchase_orders() == {po: 1}
    with services.session_factory() as session:
        assert [run.outcome for run in session.query(EdiInterchange).order_by(EdiInterchange.id)] == ["applied"] * 3
    assert [status for _, status, _ in messages(app, "in")] == ["received"] * 3
    setup = app.test_client().get(f"/api/suppliers/{supplier_id}/as2", headers=headers).get_json()["as2"]
    sent_kinds = sorted(m["file_name"].split("_")[0] for m in setup["messages"] if m["direction"] == "out")
    assert sent_kinds == ["850", "997", "997"] and setup["partner_as2_id"] == PARTNER_AS2_ID  # our 997s for its 855 and 856 went over AS2 too
    assert {m["status"] for m in setup["messages"] if m["direction"] == "out"} == {"delivered"}


def test_a_crash_before_the_mdn_resends_the_same_message_id_and_the_partner_sees_one_po(world):
    app, shopify, partner, supplier_id, _ = world
    services = app.extensions["services"]
    place(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    partner.drop_before_mdn_next = True  # the partner takes the 850, the connection drops before its MDN
    worker = ForwardingWorker(services.session_factory, services.box)
    worker.drain()
    with services.session_factory() as session:
        [delivery] = session.query(SupplierOrder).all()
        assert delivery.state != "placed"
    assert [name.split("_")[0] for name, status, _ in messages(app, "out")] == ["850"] and messages(app, "out")[0][1] == "failed"
    for _ in range(3):
        make_due(app)
        worker.drain()
    with services.session_factory() as session:
        [delivery] = session.query(SupplierOrder).all()
        assert delivery.state == "placed"
        assert session.query(EdiDocument).filter_by(kind="850").count() == 1
    ids = {r.message_id for r in partner.received}
    partner.edi.run_once()
    assert len(partner.received) == 2 and len(ids) == 1  # the resend carried the SAME Message-ID ...
    assert [r.status for r in partner.received] == ["processed", "processed/Warning"]  # ... which the partner's AS2 server deduped
    assert partner.purchase_orders() == {delivery.supplier_order_id: 1}
    [(name, status, attempts)] = messages(app, "out")
    assert (status, attempts) == ("delivered", 2)


def test_a_negative_mdn_or_a_partner_down_is_retried_and_alerted_like_an_outage(world):
    app, shopify, partner, supplier_id, _ = world
    services = app.extensions["services"]
    place(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    partner.negative_mdn_next = True
    worker = ForwardingWorker(services.session_factory, services.box)
    worker.drain()
    [(_, status, _)] = messages(app, "out")
    assert status == "failed"
    with services.session_factory() as session:
        assert "processed/Error" in session.query(As2Message).one().detail
    partner.down = True
    make_due(app)
    worker.drain()
    with services.session_factory() as session:
        assert "HTTP 503" in session.query(As2Message).one().detail
        [delivery] = session.query(SupplierOrder).all()
        assert delivery.state != "placed" and delivery.attempts >= 2
    partner.down = False
    make_due(app)
    worker.drain()
    with services.session_factory() as session:
        [delivery] = session.query(SupplierOrder).all()
        assert delivery.state == "placed"
    partner.edi.run_once()
    assert partner.purchase_orders() == {delivery.supplier_order_id: 1}
    assert [r.status for r in partner.received] == ["processed", "processed/Warning"]  # taken once (then a negative MDN), resent under the same id


def test_a_duplicate_inbound_message_is_applied_once(world):
    app, shopify, partner, supplier_id, _ = world
    services = app.extensions["services"]
    place(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    ForwardingWorker(services.session_factory, services.box).drain()
    partner.edi.run_once()
    partner.duplicate_next = True  # the 997 is posted twice under one Message-ID
    sent = partner.send_outbox()
    assert [(s.http_status, s.mdn_status, s.mdn_detail) for s in sent][:2] == [(200, "processed", None), (200, "processed/Warning", "duplicate-document")]
    assert sent[0].message_id == sent[1].message_id
    run_job(app, "edi-partners")
    assert len(messages(app, "in")) == 2  # the 997 and the 855, once each
    with services.session_factory() as session:
        assert [run.outcome for run in session.query(EdiInterchange)] == ["applied", "applied"]


@pytest.mark.parametrize("fault", ["bad_signature_next", "tamper_next"])
def test_a_tampered_or_wrongly_signed_message_is_refused_with_an_error_mdn_and_nothing_applied(world, fault):
    app, shopify, partner, supplier_id, _ = world
    services = app.extensions["services"]
    place(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    ForwardingWorker(services.session_factory, services.box).drain()
    partner.edi.run_once()
    setattr(partner, fault, True)
    sent = partner.send_outbox()
    assert sent[0].http_status == 200 and sent[0].mdn_status == "processed/Error"
    assert sent[0].mdn_detail in ("authentication-failed", "decryption-failed", "unexpected-processing-error")
    assert sent[1].mdn_status == "processed"  # the next, untouched message is taken
    run_job(app, "edi-partners")
    assert len(messages(app, "in")) == 1
    with services.session_factory() as session:
        assert session.query(EdiInterchange).count() == 1


def test_unknown_endpoint_wrong_as2_to_and_oversized_bodies_are_refused(world, monkeypatch):
    from shopify_app.web import as2_api

    app, shopify, partner, supplier_id, _ = world
    client = app.test_client()
    assert client.post("/as2/" + "x" * 43, data=b"hello", headers={"AS2-From": PARTNER_AS2_ID, "AS2-To": OUR_AS2_ID}).status_code == 404
    assert client.post("/as2/../etc", data=b"x").status_code == 404
    token = partner.app_url.rsplit("/", 1)[1]
    monkeypatch.setattr(as2_api, "MAX_MESSAGE_BYTES", 1000)
    too_big = client.post(f"/as2/{token}", data=b"x" * 1001, headers={"AS2-From": PARTNER_AS2_ID, "AS2-To": OUR_AS2_ID})
    assert too_big.status_code == 413
    # A message addressed to another AS2 id than ours: an error MDN, nothing kept.
    partner.app_as2_id = "SOMEONE-ELSE"
    partner.edi.advise_stock({"W-TEE-S": 3})
    [sent] = partner.send_outbox()
    assert sent.mdn_status is None or sent.mdn_status.startswith(("processed/Error", "failed"))
    assert messages(app, "in") == []


@pytest.mark.parametrize("name", ["AS2-From", "AS2-To", "Message-ID"])
def test_a_message_without_its_as2_from_as2_to_or_message_id_is_a_400_without_an_mdn_and_nothing_kept(world, name):
    import httpx

    app, shopify, partner, supplier_id, _ = world
    _, headers, body = partner._build(b"ISA*00*~", "846_1.x12")  # what the partner would send, signed and encrypted to us
    for changed in ({key: value for key, value in headers.items() if key.lower() != name.lower()}, {**headers, name: '""'}):
        answer = httpx.post(partner.app_url, content=body, headers=changed, timeout=30)
        assert answer.status_code == 400 and answer.headers["content-type"].startswith("text/plain"), (answer.status_code, answer.text)
        assert answer.text == f"refused: processed/Error missing-header: {name} missing or empty"
    assert messages(app, "in") == []
    taken = httpx.post(partner.app_url, content=body, headers=headers, timeout=30)  # the same message with its headers: taken
    assert taken.status_code == 200 and "multipart" in taken.headers["content-type"] and len(messages(app, "in")) == 1


def test_a_partner_certificate_expired_is_refused_at_save_and_alerted_when_it_expires_later(world):
    app, shopify, partner, supplier_id, headers = world
    services = app.extensions["services"]
    now = dt.datetime.now(dt.timezone.utc)
    _, expired = make_certificate("old partner", not_before=now - dt.timedelta(days=400), not_after=now - dt.timedelta(days=1))
    _, no_encipherment = make_certificate("sign-only partner", key_encipherment=False)
    settings = {**edi_settings(), "transport": as2_transport(partner)}
    for certificate, reason in ((expired, "expired on"), (no_encipherment, "key encipherment"), (b"not a certificate", "PEM")):
        body = {"name": "AS2 partner", "kind": "edi_x12", "settings": {**settings, "transport": {**settings["transport"], "partner_certificate": certificate.decode()}}}
        response = app.test_client().post("/api/suppliers", json=body, headers=headers)
        assert response.status_code in (400, 422), response.get_data(as_text=True)
        assert "partner_certificate" in response.get_data(as_text=True) and reason in response.get_data(as_text=True)
    saved = app.test_client().post("/api/suppliers", json={"name": "AS2 partner", "kind": "edi_x12", "settings": settings}, headers=headers)
    assert saved.status_code == 201, saved.get_data(as_text=True)
    # The edit page shows the AS2 form (the certificate in a text box), not the SFTP one.
    token = shopify.mint_session_token(SHOP, API_KEY, ttl=600)
    html = app.test_client().get(f"/suppliers/{saved.get_json()['supplier']['id']}?shop={SHOP}&host=abc&embedded=1&id_token={token}").get_data(as_text=True)
    assert '<textarea id="f-settings-transport-partner_certificate"' in html and "settings.transport.host" not in html
    # A certificate that was valid when saved and has expired since: an error alert, closed once a new one is saved.
    run_job(app, "as2-partners")
    with services.session_factory.begin() as session:
        assert session.query(Alert).filter(Alert.resolved_at.is_(None)).count() == 0
        supplier = session.get(Supplier, supplier_id)
        supplier.settings = {**supplier.settings, "transport": {**supplier.settings["transport"], "partner_certificate": expired.decode()}}
    run_job(app, "as2-partners")
    with services.session_factory() as session:
        [alert] = session.query(Alert).filter(Alert.resolved_at.is_(None)).all()
        assert alert.severity == "error" and "expired" in alert.message
    change_transport(services, supplier_id, partner_certificate=partner.certificate_pem.decode())
    run_job(app, "as2-partners")
    with services.session_factory() as session:
        assert session.query(Alert).filter(Alert.resolved_at.is_(None)).count() == 0


def test_a_private_address_as_the_partners_url_is_refused_at_save(world, monkeypatch):
    from integrations import egress

    app, shopify, partner, supplier_id, headers = world
    monkeypatch.setattr(egress, "_current", egress.EgressPolicy.from_allow_list(()))  # production: no loopback allowed
    body = {"name": "AS2 partner", "kind": "edi_x12", "settings": {**edi_settings(), "transport": as2_transport(partner, url="http://169.254.169.254/as2")}}
    response = app.test_client().post("/api/suppliers", json=body, headers=headers)
    assert response.status_code in (400, 422) and "transport.url" in response.get_data(as_text=True)


def wait_for(check, what: str):
    """Poll `check` until it is true (an asynchronous MDN arrives on another thread); fail after 20 s."""
    import time

    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_asynchronous_mdns_both_ways(world):
    app, shopify, partner, supplier_id, _ = world
    services = app.extensions["services"]
    change_transport(services, supplier_id, mdn_mode="async")
    place(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    ForwardingWorker(services.session_factory, services.box).drain()
    # Our 850 asked for an asynchronous MDN at our /as2/<token> URL: taken at once, confirmed when the partner's MDN arrives.
    wait_for(lambda: messages(app, "out") and messages(app, "out")[0][1] == "delivered", "the partner's asynchronous MDN")
    wait_for(lambda: partner.async_mdns_posted == [200], "the app's answer to the MDN")
    # The partner asks us for asynchronous MDNs too: we answer 200 at once and post a signed MDN to its URL.
    partner.async_mdn_url = partner.url
    partner.edi.run_once()
    sent = partner.send_outbox()
    assert [s.http_status for s in sent] == [200, 200] and all(s.mdn_status is None for s in sent)
    wait_for(lambda: len(partner.async_mdns_received) == 2, "our asynchronous MDNs")
    assert {status for _, status, _ in partner.async_mdns_received} == {"processed"}
    assert {message_id for message_id, _, _ in partner.async_mdns_received} == {s.message_id for s in sent}
    assert len(messages(app, "in")) == 2


def test_a_negative_asynchronous_mdn_is_alerted(world):
    app, shopify, partner, supplier_id, _ = world
    services = app.extensions["services"]
    change_transport(services, supplier_id, mdn_mode="async")
    place(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    partner.negative_mdn_next = True
    ForwardingWorker(services.session_factory, services.box).drain()
    wait_for(lambda: messages(app, "out") and messages(app, "out")[0][1] == "failed", "the negative MDN")

    def open_alerts():
        with services.session_factory() as session:
            return session.query(Alert).filter(Alert.resolved_at.is_(None)).all()

    # The MDN's message status and its alert are two transactions of the receiving request: wait for the alert.
    wait_for(open_alerts, "the alert of the negative MDN")
    [alert] = open_alerts()
    assert alert.dedupe_key.startswith(f"as2_mdn_failed:{supplier_id}:850_") and "processed/Error" in alert.message
    assert alert.kind == "supplier_unreachable"  # an undelivered PO, not an out-of-stock complaint


def test_an_order_for_a_partner_whose_certificate_expired_since_fails_its_attempt_with_the_reason(world):
    app, shopify, partner, supplier_id, _ = world
    services = app.extensions["services"]
    now = dt.datetime.now(dt.timezone.utc)
    _, expired = make_certificate("old partner", not_before=now - dt.timedelta(days=400), not_after=now - dt.timedelta(days=1))
    change_transport(services, supplier_id, partner_certificate=expired.decode())
    place(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    ForwardingWorker(services.session_factory, services.box).drain()
    with services.session_factory() as session:
        [delivery] = session.query(SupplierOrder).all()
        assert delivery.state != "placed"
        [message] = session.query(As2Message).all()
        assert message.status == "failed" and "expired" in message.detail.lower()
    assert partner.received == []


def test_make_runs_sandbox_as2_partner_is_seeded_and_trades_an_order(app_factory, database_url, sandbox_shopify, tmp_path, monkeypatch):
    """`make run`'s sandbox AS2 partner and its demo supplier record (shopify_app/devserver.py)."""
    from shopify_app import devserver

    app, services, server = served_app(app_factory, database_url, sandbox_shopify)
    monkeypatch.setenv("SANDBOX_AS2_ROOT", str(tmp_path / "as2"))
    partner = devserver.start_as2_partner()
    partner.loop_stop.set()  # driven step by step here
    try:
        supplier_id = devserver.seed_as2_supplier(services, partner, SHOP)
        assert devserver.seed_as2_supplier(services, partner, SHOP) == supplier_id  # idempotent across restarts
        with services.session_factory.begin() as session:
            session.add(ProductMapping(shop_domain=SHOP, sku="TEE-S", supplier_id=supplier_id, supplier_sku="TEE-S", cost="4.50"))
        order = place(app, sandbox_shopify, [{"sku": "TEE-S", "quantity": 1}])
        ForwardingWorker(services.session_factory, services.box).drain()
        assert [r.status for r in partner.received] == ["processed"]
        partner.step(ship_after=0)  # 997 + 855, and the 856 at once
        partner.step(ship_after=0)
        run_job(app, "edi-partners")
        assert shopify_order(sandbox_shopify, order["id"])["displayFulfillmentStatus"] == "FULFILLED"
        banner = devserver.banner(type("S", (), {"app_url": "http://app"})(), (), type("F", (), {"as2_partner": partner, "host": "h", "port": 1, "fingerprint": "f",
                                                                                              "home": lambda self, user: user})())
        assert f"Sandbox AS2 partner (the same X12 over AS2, signed + encrypted, signed MDNs): {partner.url}" in banner
    finally:
        partner.stop()
        server.shutdown()


def test_an_asynchronous_mdn_that_never_comes_is_alerted_and_the_alert_closes_when_it_does(world):
    from shopify_app.suppliers.as2_watch import MDN_WAIT, missing_mdn_key

    app, shopify, partner, supplier_id, _ = world
    services = app.extensions["services"]
    change_transport(services, supplier_id, mdn_mode="async")
    with services.session_factory.begin() as session:  # an 850 the partner took over an hour ago, its asynchronous MDN still awaited
        session.add(As2Message(shop_domain=SHOP, supplier_id=supplier_id, direction="out", message_id="edi-x@dropshipapp-as2", folder="to_partner",
                               file_name="850_LATE.x12", status="awaiting_mdn", attempts=1,
                               updated_at=dt.datetime.now(dt.timezone.utc) - MDN_WAIT - dt.timedelta(minutes=1)))

    def open_alerts():
        with services.session_factory() as session:
            return [a.dedupe_key for a in session.query(Alert).filter(Alert.resolved_at.is_(None))]

    run_job(app, "as2-partners")
    assert open_alerts() == [missing_mdn_key(supplier_id, "850_LATE.x12")]
    with services.session_factory.begin() as session:
        session.execute(update(As2Message).where(As2Message.file_name == "850_LATE.x12").values(status="delivered"))
    run_job(app, "as2-partners")
    assert open_alerts() == []


def test_the_supplier_page_shows_what_to_give_the_partner_and_the_messages(world):
    app, shopify, partner, supplier_id, headers = world
    services = app.extensions["services"]
    place(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    ForwardingWorker(services.session_factory, services.box).drain()
    token = shopify.mint_session_token(SHOP, API_KEY, ttl=600)
    html = app.test_client().get(f"/suppliers/{supplier_id}?shop={SHOP}&host=abc&embedded=1&id_token={token}").get_data(as_text=True)
    section = html.split('id="as2-setup"', 1)[1].split('<div class="card"', 1)[0]
    assert partner.app_url in section and OUR_AS2_ID in section and PARTNER_AS2_ID in section
    assert partner.app_certificate_pem.decode().strip() in section.replace("&#43;", "+").replace("&#x2B;", "+")
    assert section.count('data-status="delivered"') == 1 and "850_" in section


def test_the_as2_views_are_for_this_shops_as2_partners_only(world):
    app, shopify, partner, supplier_id, headers = world
    services = app.extensions["services"]
    with services.session_factory.begin() as session:
        sftp_partner = Supplier(shop_domain=SHOP, name="EDI over SFTP", kind="edi_x12", settings={**edi_settings(), "transport": {"kind": "local"}})
        mail = Supplier(shop_domain=SHOP, name="Mail", kind="email", settings={"to_addresses": ["po@example.com"]})
        other_shop = Supplier(shop_domain="other.myshopify.com", name="Theirs", kind="edi_x12", settings={"transport": as2_transport(partner)})
        session.add_all([sftp_partner, mail, other_shop])
        session.flush()
        ids = sftp_partner.id, mail.id, other_shop.id
    client = app.test_client()
    for path in ("as2", "as2/certificate.pem"):
        assert client.get(f"/api/suppliers/{ids[0]}/{path}", headers=headers).status_code == 409
        assert client.get(f"/api/suppliers/{ids[1]}/{path}", headers=headers).status_code == 409
        assert client.get(f"/api/suppliers/{ids[2]}/{path}", headers=headers).status_code == 404
        assert client.get(f"/api/suppliers/{supplier_id}/{path}").status_code == 401


def test_the_certificate_download_reads_the_public_certificate_only(world, monkeypatch):
    app, shopify, partner, supplier_id, headers = world
    from shopify_app.crypto import SecretBox

    decrypted = []
    real = SecretBox.decrypt
    monkeypatch.setattr(SecretBox, "decrypt", lambda self, blob: decrypted.append(1) or real(self, blob))
    pem = app.test_client().get(f"/api/suppliers/{supplier_id}/as2/certificate.pem", headers=headers)
    assert pem.status_code == 200 and pem.data == partner.app_certificate_pem  # the same certificate the partner holds
    assert decrypted == []  # the private key (and the supplier's credentials) stay encrypted


def test_a_shop_without_a_key_pair_yet_gets_one_made_at_its_first_download(app_factory, database_url, sandbox_shopify):
    from cryptography import x509

    app, services, server = served_app(app_factory, database_url, sandbox_shopify)
    try:
        with services.session_factory.begin() as session:
            supplier = Supplier(shop_domain=SHOP, name="EDI (AS2)", kind="edi_x12", settings={**edi_settings(), "transport": {
                "kind": "as2", "our_as2_id": OUR_AS2_ID, "partner_as2_id": PARTNER_AS2_ID, "url": "https://as2.partner.example/as2",
                "partner_certificate": make_certificate("PARTNER")[1].decode(), "encryption": "aes_256_cbc", "digest": "sha256", "mdn_mode": "sync"}})
            session.add(supplier)
            session.flush()
            supplier_id = supplier.id
        headers = {"Authorization": f"Bearer {sandbox_shopify.mint_session_token(SHOP, API_KEY, ttl=600)}"}
        pem = app.test_client().get(f"/api/suppliers/{supplier_id}/as2/certificate.pem", headers=headers)
        assert pem.status_code == 200
        assert x509.load_pem_x509_certificate(pem.data).subject.rfc4514_string().startswith("OU=AS2,CN=demo.myshopify.com AS2")
        again = app.test_client().get(f"/api/suppliers/{supplier_id}/as2/certificate.pem", headers=headers)
        assert again.data == pem.data  # made once, then read
    finally:
        server.shutdown()


def test_the_as2_route_takes_messages_up_to_its_own_limit_above_the_app_wide_cap_and_refuses_more_with_a_clear_413(world, monkeypatch):
    import io

    from integrations.suppliers.edi_x12.as2 import MAX_MESSAGE_BYTES
    from shopify_app.web import as2_api

    app, shopify, partner, supplier_id, _ = world
    token = partner.app_url.rsplit("/", 1)[1]
    client = app.test_client()
    assert app.config["MAX_CONTENT_LENGTH"] < MAX_MESSAGE_BYTES  # what made two checks dead: the route's limit is set on the request now
    between = client.post(f"/as2/{token}", data=b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1024),
                          headers={"AS2-From": PARTNER_AS2_ID, "AS2-To": OUR_AS2_ID, "Content-Type": "application/pkcs7-mime"})
    assert between.status_code not in (413, 500)  # read and judged as AS2 (garbage: refused as such), not cut off by the app-wide cap
    monkeypatch.setattr(as2_api, "MAX_MESSAGE_BYTES", 1000)
    sized = client.post(f"/as2/{token}", data=b"x" * 1001, headers={"AS2-From": PARTNER_AS2_ID, "AS2-To": OUR_AS2_ID})
    chunked = client.post(f"/as2/{token}", input_stream=io.BytesIO(b"x" * 1001), headers={"AS2-From": PARTNER_AS2_ID, "AS2-To": OUR_AS2_ID},
                          environ_overrides={"wsgi.input_terminated": True})
    for answer in (sized, chunked):
        assert answer.status_code == 413 and answer.mimetype == "text/plain"
        assert answer.get_data(as_text=True) == "an AS2 message may be at most 1000 bytes"
    assert messages(app, "in") == []


def post_chunked(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST the body chunked (no Content-Length) over real HTTP: (status, text)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=20)
    try:
        connection.request("POST", parts.path, body=iter([body[i:i + 300] for i in range(0, len(body), 300)]), headers=headers, encode_chunked=True)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_a_chunked_message_over_the_limit_is_a_413_whatever_its_headers_and_is_never_stored(world, monkeypatch):
    from shopify_app.web import as2_api

    app, shopify, partner, supplier_id, _ = world
    monkeypatch.setattr(as2_api, "MAX_MESSAGE_BYTES", 1000)
    base = partner.app_url.rsplit("/", 1)[0]
    as2_headers = {"AS2-From": PARTNER_AS2_ID, "AS2-To": OUR_AS2_ID, "Content-Type": "application/pkcs7-mime"}
    for headers in (as2_headers, {}):
        for size in (1001, 5000):
            assert post_chunked(partner.app_url, b"x" * size, headers) == (413, "an AS2 message may be at most 1000 bytes"), (headers, size)
    # A token no endpoint has (well-formed or not) is refused before its body is read, whatever its size.
    for token in ("a" * 30, "short"):
        assert post_chunked(f"{base}/{token}", b"x" * 5000, as2_headers) == (404, "unknown AS2 endpoint"), token
    status, _ = post_chunked(partner.app_url, b"x" * 1000, as2_headers)
    assert status == 400  # at the limit: read and judged as AS2 (garbage: refused as such)
    assert messages(app, "in") == []


def answer_while_the_body_is_still_coming(url: str, headers: dict[str, str], wait_seconds: float) -> int | None:
    """POST the first 4 KiB of a chunked body that never ends over real HTTP: the status the server answers meanwhile (None: it waited for more)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    head = "".join(f"{name}: {value}\r\n" for name, value in {"Host": parts.netloc, "Transfer-Encoding": "chunked", **headers}.items())
    with socket.create_connection((parts.hostname, parts.port), timeout=wait_seconds) as connection:
        connection.sendall(f"POST {parts.path} HTTP/1.1\r\n{head}\r\n".encode() + b"1000\r\n" + b"x" * 4096 + b"\r\n")
        try:
            status_line = connection.recv(64)
        except socket.timeout:
            return None
    return int(status_line.split()[1])


def test_an_endpoint_that_is_not_ours_is_answered_before_its_body_is_read(world):
    app, shopify, partner, supplier_id, _ = world
    base = partner.app_url.rsplit("/", 1)[0]
    as2_headers = {"AS2-From": PARTNER_AS2_ID, "AS2-To": OUR_AS2_ID, "Content-Type": "application/pkcs7-mime"}
    # Ours reads the body: it is still waiting for the rest (what an unauthenticated caller could make it do for any token before).
    assert answer_while_the_body_is_still_coming(partner.app_url, as2_headers, wait_seconds=1) is None
    # A well-formed token no endpoint has: 404 at once, nothing of the body read.
    assert answer_while_the_body_is_still_coming(f"{base}/{'a' * 43}", as2_headers, wait_seconds=30) == 404
    # The endpoint of a deleted supplier: the same.
    with app.extensions["services"].session_factory.begin() as session:
        session.get(Supplier, supplier_id).deleted_at = dt.datetime.now(dt.timezone.utc)
    assert answer_while_the_body_is_still_coming(partner.app_url, as2_headers, wait_seconds=30) == 404
    assert messages(app, "in") == []


def assert_stock_advice_taken(partner: As2Partner, quantity: int) -> None:
    """The partner sends an 846 over AS2 with the certificate it has installed for us; our signed MDN says processed."""
    partner.edi.advise_stock({"W-TEE-S": quantity})
    [sent] = partner.send_outbox()
    assert sent.mdn_status == "processed", (sent.mdn_status, sent.mdn_detail)


def test_a_new_key_pair_is_used_at_once_and_the_old_one_still_decrypts_until_the_partner_switches(world):
    app, shopify, partner, supplier_id, headers = world
    services = app.extensions["services"]
    old_certificate = partner.app_certificate_pem
    client = app.test_client()
    rolled = client.post(f"/api/suppliers/{supplier_id}/as2/key-pair", headers=headers)
    assert rolled.status_code == 200, rolled.get_json()
    setup = rolled.get_json()["as2"]
    assert setup["certificate_pem"].encode() != old_certificate and setup["previous_certificate_not_after"]
    assert client.get(f"/api/suppliers/{supplier_id}/as2/certificate.pem", headers=headers).data.decode() == setup["certificate_pem"]
    # The partner has not installed the new certificate yet: what it encrypts to the old one is still taken.
    assert_stock_advice_taken(partner, 3)
    # Then it switches: our new signatures verify and what it encrypts to the new certificate is taken.
    partner.app_certificate_pem = setup["certificate_pem"].encode()
    assert_stock_advice_taken(partner, 4)
    assert len(messages(app, "in")) == 2
    place(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    ForwardingWorker(services.session_factory, services.box).drain()
    assert [status for _, status, _ in messages(app, "out")] == ["delivered"]  # signed with the new key, the partner's MDN says processed
    # Someone else's key: still refused.
    partner.app_certificate_pem = make_certificate("STRANGER")[1]
    partner.edi.advise_stock({"W-TEE-S": 5})
    [sent] = partner.send_outbox()
    assert sent.mdn_status != "processed" and len(messages(app, "in")) == 2


def test_a_new_key_pair_with_a_switch_date_signs_from_that_day_and_the_old_one_signs_until_then(world):
    from shopify_app.suppliers.as2_models import As2Identity

    app, shopify, partner, supplier_id, headers = world
    services = app.extensions["services"]
    client = app.test_client()
    url = f"/api/suppliers/{supplier_id}/as2/key-pair"
    today = dt.datetime.now(dt.timezone.utc).date()
    for refused in ({"sign_from": f"{today + dt.timedelta(days=61)}"}, {"sign_from": "2026-02-30"}, {"sign_from": "soon"}):
        answer = client.post(url, json=refused, headers=headers)
        assert answer.status_code == 400 and answer.get_json()["fields"][0]["field"] == "sign_from", (refused, answer.get_json())
    old_certificate = partner.app_certificate_pem
    switch = today + dt.timedelta(days=10)
    rolled = client.post(url, json={"sign_from": f"{switch}"}, headers=headers)
    assert rolled.status_code == 200, rolled.get_json()
    setup = rolled.get_json()["as2"]
    assert setup["certificate_pem"].encode() != old_certificate  # the new certificate, to give every partner before the switch
    assert setup["sign_from"].startswith(f"{switch}") and setup["previous_certificate_not_after"]
    # Before the switch date the partner still has only the old certificate: our 850 signed with the old key is taken ...
    place(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    ForwardingWorker(services.session_factory, services.box).drain()
    assert [status for _, status, _ in messages(app, "out")] == ["delivered"]
    # ... and so are its messages encrypted to the old certificate (the MDN signed with the old key verifies).
    assert_stock_advice_taken(partner, 3)
    # A partner that installed the new certificate early: what it encrypts to the new one is taken too.
    partner.app_certificate_pem = setup["certificate_pem"].encode()
    assert_stock_advice_taken(partner, 4)
    # The switch date comes: the new key signs, so a partner still on the old certificate refuses our messages.
    with services.session_factory.begin() as session:
        session.query(As2Identity).filter_by(shop_domain=SHOP).one().sign_from = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    assert client.get(f"/api/suppliers/{supplier_id}/as2", headers=headers).get_json()["as2"]["sign_from"] is None
    partner.app_certificate_pem = old_certificate
    place(app, shopify, [{"sku": "MUG-WHT", "quantity": 1}])
    ForwardingWorker(services.session_factory, services.box).drain()
    assert [status for _, status, _ in messages(app, "out")][1] != "delivered"


def test_rolling_again_before_the_switch_date_replaces_the_pending_pair_and_keeps_the_pair_in_use(world):
    from shopify_app.suppliers.as2_keys import SwitchDateRefused, roll_key_pair
    from shopify_app.suppliers.as2_models import As2Identity

    app, shopify, partner, supplier_id, headers = world
    services = app.extensions["services"]
    now = dt.datetime.now(dt.timezone.utc)
    with services.session_factory() as session:
        in_use = session.query(As2Identity).filter_by(shop_domain=SHOP).one().certificate_pem
    first = roll_key_pair(services.session_factory, services.box, SHOP, sign_from=now + dt.timedelta(days=5))
    second = roll_key_pair(services.session_factory, services.box, SHOP, sign_from=now + dt.timedelta(days=7))
    with services.session_factory() as session:
        row = session.query(As2Identity).filter_by(shop_domain=SHOP).one()
        assert row.previous_certificate_pem == in_use and row.certificate_pem == second != first  # the pair partners have stays in use
        row_not_after = row.previous_not_after
    with pytest.raises(SwitchDateRefused):  # the pair in use would have expired by then
        roll_key_pair(services.session_factory, services.box, SHOP, now=row_not_after - dt.timedelta(days=1), sign_from=row_not_after + dt.timedelta(days=1))


def test_a_switch_date_after_the_pair_in_use_expires_is_refused_before_a_key_pair_is_made(world, monkeypatch):
    from shopify_app.suppliers import as2_keys
    from shopify_app.suppliers.as2_models import As2Identity

    app, shopify, partner, supplier_id, headers = world
    services = app.extensions["services"]
    today = dt.datetime.now(dt.timezone.utc)
    with services.session_factory.begin() as session:  # the pair in use expires in 5 days
        session.query(As2Identity).filter_by(shop_domain=SHOP).one().not_after = today + dt.timedelta(days=5)
    made = []
    generate = as2_keys.generate_key_pair
    monkeypatch.setattr(as2_keys, "generate_key_pair", lambda *args, **kwargs: made.append(args) or generate(*args, **kwargs))
    url = f"/api/suppliers/{supplier_id}/as2/key-pair"
    refused = app.test_client().post(url, json={"sign_from": f"{(today + dt.timedelta(days=10)).date()}"}, headers=headers)
    assert refused.status_code == 400 and refused.get_json()["fields"][0]["field"] == "sign_from"
    assert made == []  # refused before the RSA key was generated (a merchant could otherwise burn CPU with refused dates)
    rolled = app.test_client().post(url, json={"sign_from": f"{(today + dt.timedelta(days=3)).date()}"}, headers=headers)
    assert rolled.status_code == 200 and len(made) == 1


def test_our_own_certificate_is_alerted_ahead_of_its_expiry_and_the_alert_closes_once_rolled(world):
    from shopify_app.suppliers.as2_keys import roll_key_pair
    from shopify_app.suppliers.as2_models import As2Identity
    from shopify_app.suppliers.as2_watch import OWN_CERTIFICATE_WARNING, own_certificate_alert_key, watch_as2_partners

    app, shopify, partner, supplier_id, headers = world
    services = app.extensions["services"]
    with services.session_factory() as session:
        not_after = session.query(As2Identity).filter_by(shop_domain=SHOP).one().not_after

    def alert():
        with services.session_factory() as session:
            return session.query(Alert).filter_by(dedupe_key=own_certificate_alert_key(SHOP), resolved_at=None).one_or_none()

    watch_as2_partners(services, not_after - OWN_CERTIFICATE_WARNING - dt.timedelta(days=1))
    assert alert() is None  # not yet
    watch_as2_partners(services, not_after - dt.timedelta(days=59))
    assert alert().severity == "warning" and f"{not_after:%Y-%m-%d}" in alert().message
    watch_as2_partners(services, not_after + dt.timedelta(hours=1))
    assert alert().severity == "error"
    roll_key_pair(services.session_factory, services.box, SHOP, now=not_after)
    watch_as2_partners(services, not_after + dt.timedelta(hours=2))
    assert alert() is None  # the new certificate is valid for three years
    with services.session_factory() as session:
        assert session.query(Alert).filter_by(dedupe_key=own_certificate_alert_key("other.myshopify.com")).count() == 0

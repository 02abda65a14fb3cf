"""The store page is public: signatures, tenants, lookups, rate limits, uploads and text are each checked (issue 17, "Bad input and abuse")."""
from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import func, select

from conftest import API_SECRET, OLD_SECRET, install_shop
from proxy_kit import OTHER_SHOP, SHOP, add_order, jpeg_with_gps, png_bytes, signed_query
from shopify_app.cases.models import Case, CaseMessage, CasePhoto
from shopify_app.proxy import lookup as lookup_module


@pytest.fixture(autouse=True)
def mid_window(monkeypatch):
    """The limits' clock stays inside one fixed window: a test that crossed a quarter hour saw its count start again."""
    from shopify_app.proxy import rate_limit

    now = rate_limit.utcnow()
    start = rate_limit.window_start(now, lookup_module.WINDOW)
    monkeypatch.setattr(rate_limit, "utcnow", lambda: start + lookup_module.WINDOW / 2)


@pytest.fixture
def app(app_factory, sqlite_url):
    app = app_factory(sqlite_url, trusted_proxy_hops=1)  # Shopify's app proxy in front, nothing else
    install_shop(app, SHOP, OTHER_SHOP)
    return app


def _lookup(client, order="1001", email="ana@example.com", ip="203.0.113.7", shop=SHOP):
    return client.post(f"/proxy/lookup?{signed_query(shop)}", data={"order": order, "email": email}, headers={"X-Forwarded-For": f"198.51.100.1, {ip}"})


def _token(html: str) -> str:
    return re.search(r'name="t" value="([^"]+)"', html).group(1)


def _cases(app) -> int:
    with app.extensions["services"].session_factory() as session:
        return session.scalar(select(func.count(Case.id)))


@pytest.mark.parametrize("query, why", [
    (lambda: "", "no signature at all"),
    (lambda: signed_query().replace("signature=", "signature=0"), "a changed signature"),
    (lambda: signed_query(secret="not-the-app-secret"), "signed with another secret"),
    (lambda: signed_query(timestamp=int(time.time()) - 300), "an expired timestamp (replay)"),
    (lambda: signed_query() .replace("logged_in_customer_id=", "logged_in_customer_id=42"), "a customer id added after signing"),
])
def test_an_unsigned_or_tampered_request_is_refused(app, query, why) -> None:
    response = app.test_client().get(f"/proxy?{query()}")
    assert response.status_code == 401, why
    assert b"Track your order" not in response.data


def test_a_signed_request_gets_liquid_and_the_previous_secret_still_works_during_a_rotation(app) -> None:
    for secret in (API_SECRET, OLD_SECRET):
        response = app.test_client().get(f"/proxy?{signed_query(secret=secret)}")
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/liquid")
        assert b'<form method="post" action="/apps/orders/lookup"' in response.data  # plain HTML form: works without JavaScript
        assert b"<script" not in response.data


def test_a_shop_that_has_not_installed_the_app_gets_nothing(app) -> None:
    response = app.test_client().get(f"/proxy?{signed_query('stranger.myshopify.com')}")
    assert response.status_code == 404


def test_a_wrong_email_gets_the_same_answer_as_an_order_that_does_not_exist(app) -> None:
    add_order(app, name="#5501", email="ana@example.com")
    client = app.test_client()
    wrong_email = _lookup(client, "5501", "eve@example.com", ip="203.0.113.1")
    no_such_order = _lookup(client, "5502", "eve@example.com", ip="203.0.113.2")
    assert wrong_email.status_code == no_such_order.status_code == 404
    assert wrong_email.get_data(as_text=True).replace("5501", "N") == no_such_order.get_data(as_text=True).replace("5502", "N")
    right = _lookup(client, "#5501", " Ana@Example.com ", ip="203.0.113.3")
    assert right.status_code == 200 and "Order #5501" in right.get_data(as_text=True)


def test_another_shops_order_is_never_found_nor_opened_with_its_token(app) -> None:
    add_order(app, shop=OTHER_SHOP, name="#1001", email="ana@example.com")
    client = app.test_client()
    assert _lookup(client, "1001", "ana@example.com").status_code == 404  # same number and email, other shop
    other_page = _lookup(client, "1001", "ana@example.com", shop=OTHER_SHOP, ip="203.0.113.9")
    assert other_page.status_code == 200
    token = _token(other_page.get_data(as_text=True))
    # The other shop's view token, presented on this shop's page.
    response = client.get(f"/proxy/order?{signed_query(SHOP, t=token)}")
    assert response.status_code == 403 and "Order #1001" not in response.get_data(as_text=True)


def test_a_forged_or_expired_view_token_opens_nothing(app, monkeypatch) -> None:
    add_order(app)
    client = app.test_client()
    token = _token(_lookup(client).get_data(as_text=True))
    assert client.get(f"/proxy/order?{signed_query(t=token)}").status_code == 200
    assert client.get(f"/proxy/order?{signed_query(t=token[:-2] + 'xx')}").status_code == 403
    assert client.get(f"/proxy/order?{signed_query(t='WzEsMl0')}").status_code == 403  # an unsigned guess at an id
    monkeypatch.setattr(lookup_module, "TOKEN_MAX_AGE", -1)
    assert client.get(f"/proxy/order?{signed_query(t=token)}").status_code == 403


def test_lookups_are_limited_per_ip(app) -> None:
    client = app.test_client()
    answers = [_lookup(client, str(2000 + n), "x@example.com", ip="203.0.113.50").status_code for n in range(lookup_module.MAX_PER_IP + 1)]
    assert answers[:-1] == [404] * lookup_module.MAX_PER_IP and answers[-1] == 429
    assert _lookup(client, "3000", "x@example.com", ip="203.0.113.51").status_code == 404  # another shopper is not locked out


def test_lookups_are_limited_per_order_even_from_many_ips_and_even_with_the_right_email(app) -> None:
    add_order(app, name="#1001", email="ana@example.com")
    client = app.test_client()
    for n in range(lookup_module.MAX_PER_ORDER):
        assert _lookup(client, "1001", f"guess{n}@example.com", ip=f"203.0.113.{100 + n}").status_code == 404
    # The limit does not tell that the order exists: the right email is refused too until the window passes.
    assert _lookup(client, "1001", "ana@example.com", ip="203.0.113.200").status_code == 429
    assert _lookup(client, "9999", "ana@example.com", ip="203.0.113.201").status_code == 404


def test_the_limit_holds_across_processes(app_factory, database_url) -> None:
    # Two app instances on one database stand for two web processes: the counter is in the database.
    first, second = app_factory(database_url), app_factory(database_url)
    install_shop(first, SHOP)
    half = lookup_module.MAX_PER_ORDER // 2 + 1
    for n in range(half):
        assert _lookup(first.test_client(), "1001", f"a{n}@example.com", ip=f"198.51.100.{n + 10}").status_code == 404
    answers = [_lookup(second.test_client(), "1001", f"b{n}@example.com", ip=f"198.51.100.{n + 50}").status_code for n in range(half)]
    assert 429 in answers and answers.index(429) == lookup_module.MAX_PER_ORDER - half


def _open_order_page(app, **order):
    add_order(app, **order)
    client = app.test_client()
    return client, _token(_lookup(client, ip="192.0.2.77").get_data(as_text=True))


def _report(client, token, message="The mug arrived broken.", files=(), kind="damaged"):
    data = {"t": token, "kind": kind, "message": message, "photos": list(files)}
    return client.post(f"/proxy/report?{signed_query()}", data=data, content_type="multipart/form-data")


def test_too_many_oversize_or_disguised_uploads_are_refused_and_nothing_is_kept(app) -> None:
    import io

    from shopify_app.cases.photos import MAX_PHOTO_BYTES, MAX_PHOTOS

    client, token = _open_order_page(app)
    html_with_png_header = b"\x89PNG\r\n\x1a\n" + b"<html><script>alert(1)</script></html>"
    attempts = {
        "too many": [(io.BytesIO(png_bytes()), f"p{n}.png") for n in range(MAX_PHOTOS + 1)],
        "too large": [(io.BytesIO(b"\xff\xd8\xff" + b"0" * MAX_PHOTO_BYTES), "big.jpg")],
        "a PNG header on an HTML file": [(io.BytesIO(html_with_png_header), "photo.png")],
        "a text file": [(io.BytesIO(b"hello"), "notes.jpg")],
    }
    for why, files in attempts.items():
        response = _report(client, token, files=files)
        assert response.status_code == 422, why
        assert 'id="dso-error"' in response.get_data(as_text=True), why
    assert _cases(app) == 0


def test_a_photo_is_reencoded_without_its_metadata_and_only_its_order_can_see_it(app) -> None:
    import io

    from PIL import Image

    client, token = _open_order_page(app)
    response = _report(client, token, files=[(io.BytesIO(jpeg_with_gps()), "IMG_0001.JPG")])
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    photo_path = re.search(r'src="/apps/orders(/photo/\d+)\?([^"]+)"', html)
    with app.extensions["services"].session_factory() as session:
        stored = session.scalars(select(CasePhoto)).one()
        assert b"SecretCam" not in stored.data and b"GPS" not in stored.data
        assert Image.open(io.BytesIO(stored.data)).getexif() == {}
    photo = client.get(f"/proxy{photo_path.group(1)}?{signed_query(t=token)}")
    assert photo.status_code == 200 and photo.content_type == "image/jpeg" and photo.headers["X-Content-Type-Options"] == "nosniff"
    # Another customer's order token does not open it.
    _, other_token = _open_order_page(app, name="#1002", email="bob@example.com")
    other = app.test_client().post(f"/proxy/lookup?{signed_query()}", data={"order": "1002", "email": "bob@example.com"}, headers={"X-Forwarded-For": "192.0.2.99"})
    other_token = _token(other.get_data(as_text=True))
    assert client.get(f"/proxy{photo_path.group(1)}?{signed_query(t=other_token)}").status_code == 404


def test_html_and_liquid_in_a_message_are_shown_as_typed_never_run(app) -> None:
    client, token = _open_order_page(app)
    typed = "<script>alert(1)</script> {{ shop.email }} {% render 'x' %}"
    html = _report(client, token, message=typed, kind="question").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{" not in html and "{%" not in html
    assert "&#123;&#123; shop.email }}" in html


def test_a_customer_never_sees_another_customers_case_or_writes_on_it(app) -> None:
    client, token = _open_order_page(app)
    _report(client, token, message="Ana's private question", kind="question")
    bob = app.test_client()
    add_order(app, name="#1002", email="bob@example.com")
    bob_page = bob.post(f"/proxy/lookup?{signed_query()}", data={"order": "1002", "email": "bob@example.com"}, headers={"X-Forwarded-For": "192.0.2.5"})
    bob_token = _token(bob_page.get_data(as_text=True))
    assert "Ana's private question" not in bob_page.get_data(as_text=True)
    with app.extensions["services"].session_factory() as session:
        ana_case = session.scalars(select(Case)).one().id
    answer = bob.post(f"/proxy/message?{signed_query()}", data={"t": bob_token, "case": str(ana_case), "message": "hijack"})
    assert answer.status_code == 404
    with app.extensions["services"].session_factory() as session:
        assert session.scalar(select(func.count(CaseMessage.id)).where(CaseMessage.body == "hijack")) == 0


def test_a_logged_in_customer_sees_only_their_own_orders_without_a_lookup(app) -> None:
    add_order(app, name="#4101", email="ana@example.com", customer_id="501")
    add_order(app, name="#4102", email="bob@example.com", customer_id="777")
    add_order(app, shop=OTHER_SHOP, name="#4103", email="ana@example.com", customer_id="501")
    html = app.test_client().get(f"/proxy?{signed_query(customer='501')}").get_data(as_text=True)
    assert "#4101" in html and "#4102" not in html and "#4103" not in html
    token = re.search(r'href="/apps/orders/order\?t=([^"&]+)"', html).group(1)
    page = app.test_client().get(f"/proxy/order?{signed_query(t=token)}")
    assert page.status_code == 200 and "Order #4101" in page.get_data(as_text=True)
    assert "#4101" not in app.test_client().get(f"/proxy?{signed_query()}").get_data(as_text=True)  # signed out: nothing listed


def test_the_client_address_is_taken_only_from_trusted_hops() -> None:
    from shopify_app.proxy.views import client_address

    chain = "6.6.6.6, 198.51.100.9, 203.0.113.4"  # typed by the client, added by Shopify, added by a load balancer
    assert client_address(chain, "10.0.0.1", 0) == "10.0.0.1"  # trust none: the peer
    assert client_address(chain, "10.0.0.1", 1) == "203.0.113.4"
    assert client_address(chain, "10.0.0.1", 2) == "198.51.100.9"
    assert client_address("198.51.100.9", "10.0.0.1", 2) == "10.0.0.1"  # fewer entries than trusted proxies: believe none


def test_with_no_trusted_proxy_a_forged_forwarded_for_gets_no_fresh_bucket(app_factory, sqlite_url) -> None:
    app = app_factory(sqlite_url)  # the default: TRUSTED_PROXY_HOPS=0
    install_shop(app, SHOP)
    client = app.test_client()
    answers = [_lookup(client, str(2000 + n), "x@example.com", ip=f"203.0.113.{n}").status_code for n in range(lookup_module.MAX_PER_IP + 1)]
    assert answers[-1] == 429  # every forged address counted against the real peer


def test_a_customer_of_one_shop_cannot_exhaust_another_shops_lookups(app) -> None:
    client = app.test_client()
    answers = [_lookup(client, str(2000 + n), "x@example.com", ip="203.0.113.60").status_code for n in range(lookup_module.MAX_PER_IP + 1)]
    assert answers[-1] == 429
    # The same address (one proxy egress, one NAT) in another store still looks up.
    assert _lookup(client, "3000", "x@example.com", ip="203.0.113.60", shop=OTHER_SHOP).status_code == 404


def test_reports_and_messages_are_limited_per_order_before_any_photo_is_decoded(app, monkeypatch) -> None:
    import io

    from shopify_app.proxy import views

    decoded = []
    real_clean = views.clean_photos
    monkeypatch.setattr(views, "clean_photos", lambda uploads: decoded.append(len(uploads)) or real_clean(uploads))
    client, token = _open_order_page(app)
    assert _report(client, token, kind="question").status_code == 200
    with app.extensions["services"].session_factory() as session:
        case_id = session.scalars(select(Case)).one().id
    for n in range(lookup_module.MAX_CASE_POSTS_PER_ORDER - 1):
        answer = client.post(f"/proxy/message?{signed_query()}", data={"t": token, "case": str(case_id), "message": f"again {n}"})
        assert answer.status_code == 200
    calls = len(decoded)
    refused = _report(client, token, files=[(io.BytesIO(png_bytes()), "p.png")])
    assert refused.status_code == 429 and "Too many messages" in refused.get_data(as_text=True)
    again = client.post(f"/proxy/message?{signed_query()}", data={"t": token, "case": str(case_id), "message": "one more"})
    assert again.status_code == 429
    assert len(decoded) == calls  # refused before the photos were read
    assert _cases(app) == 1
    with app.extensions["services"].session_factory() as session:
        assert session.scalar(select(func.count(CaseMessage.id))) == lookup_module.MAX_CASE_POSTS_PER_ORDER


def test_reports_are_limited_per_address_across_orders(app) -> None:
    tokens = []
    for n in range(3):
        add_order(app, name=f"#50{n}", email="eve@example.com")
        client = app.test_client()
        tokens.append(_token(_lookup(client, f"50{n}", "eve@example.com", ip="192.0.2.88").get_data(as_text=True)))
    answers = []
    for token in tokens:
        for _ in range(lookup_module.MAX_CASE_POSTS_PER_ORDER):
            answers.append(_report(client, token, kind="question").status_code)
    assert answers.count(200) == lookup_module.MAX_CASE_POSTS_PER_IP and set(answers[lookup_module.MAX_CASE_POSTS_PER_IP:]) == {429}


def test_a_photo_over_24_megapixels_is_refused_from_its_header() -> None:
    import io

    from PIL import Image

    from shopify_app.cases.photos import PhotoRefused, clean_photo

    out = io.BytesIO()
    Image.new("1", (5000, 5000)).save(out, "PNG")  # 25 MP in a few kB: a decompression bomb's shape
    with pytest.raises(PhotoRefused):
        clean_photo("big.png", out.getvalue())


def test_a_tracking_link_that_is_not_http_never_reaches_the_store_page(app) -> None:
    from shopify_app.proxy.customer_view import _parcel

    with app.test_request_context():
        bad = _parcel("DPD", "X1", "javascript:alert(document.cookie)", None, None, None, {})
        good = _parcel("DPD", "X1", "https://tracking.dpd.pl/X1", None, None, None, {})
    assert bad["tracking_url"] is None and good["tracking_url"] == "https://tracking.dpd.pl/X1"


def test_a_superscript_case_number_in_a_customers_message_is_a_404(app_factory, database_url):
    """/proxy/message took case=² for a number ('²'.isdigit()) and int() raised: a 500 on the public store page."""
    app = app_factory(database_url, trusted_proxy_hops=1)  # both databases: the id reaches a query
    install_shop(app, SHOP)
    add_order(app, name="#1001", email="ana@example.com")
    client = app.test_client()
    page = client.post(f"/proxy/lookup?{signed_query()}", data={"order": "1001", "email": "ana@example.com"}, headers={"X-Forwarded-For": "203.0.113.7"})
    token = _token(page.get_data(as_text=True))
    for case in ("²", "①", "9" * 19, "9" * 40):  # (a fifth post would meet the rate limit)
        assert client.post(f"/proxy/message?{signed_query()}", data={"t": token, "case": case, "message": "hello"}).status_code == 404, case

"""Encrypted tokens and the rotate-keys command."""
from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import create_engine, select

from conftest import REPO
from shopify_app.crypto import SecretBox
from shopify_app.models import ShopSetting, ShopToken
from shopify_app.suppliers.models import Supplier


def test_tokens_are_encrypted_at_rest(app_factory, sqlite_url):
    app = app_factory(sqlite_url)
    app.extensions["services"].tokens.save("demo.myshopify.com", "shpat_plaintext", "shprt_plain", None, None, "read_orders")
    raw = create_engine(sqlite_url).connect().execute(select(ShopToken.access_token_enc, ShopToken.refresh_token_enc)).one()
    assert b"shpat_plaintext" not in raw[0] and b"shprt_plain" not in raw[1]
    assert app.extensions["services"].tokens.access_token("demo.myshopify.com") == "shpat_plaintext"


def test_rotate_keys_command_reencrypts_under_the_newest_key(sqlite_url):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    from shopify_app.db import make_engine, make_session_factory
    from shopify_app.models import Shop

    engine = make_engine(sqlite_url)
    with make_session_factory(engine).begin() as session:
        shop = Shop(domain="demo.myshopify.com")
        session.add(shop)
        session.flush()
        session.add(ShopToken(shop_id=shop.id, access_token_enc=SecretBox([old]).encrypt("shpat_1"), refresh_token_enc=SecretBox([old]).encrypt("shprt_1")))
        session.add(Supplier(shop_domain=shop.domain, name="Printful", kind="printful", credentials_enc=SecretBox([old]).encrypt('{"token": "pf_1"}')))
        session.add(ShopSetting(shop_domain=shop.domain, key="alert_channels",
                                value={"emails": [], "min_severity": "warning", "slack_webhook_enc": SecretBox([old]).encrypt("https://hooks.slack.com/x").decode()}))
    env = {"DATABASE_URL": sqlite_url, "ENCRYPTION_KEYS": f"{new},{old}", "SHOPIFY_API_KEY": "k", "SHOPIFY_API_SECRET": "s", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "shopify_app.cli", "rotate-keys"], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "re-encrypted 3 token rows" in out.stdout  # the shop token, the supplier's credentials, the alert webhook
    with make_session_factory(engine)() as session:
        row = session.scalars(select(ShopToken)).one()
        supplier = session.scalars(select(Supplier)).one()
        channels = session.scalar(select(ShopSetting.value).where(ShopSetting.key == "alert_channels"))
    only_new = SecretBox([new])
    assert only_new.decrypt(row.access_token_enc) == "shpat_1" and only_new.decrypt(row.refresh_token_enc) == "shprt_1"
    assert only_new.decrypt(supplier.credentials_enc) == '{"token": "pf_1"}'
    assert only_new.decrypt(channels["slack_webhook_enc"].encode()) == "https://hooks.slack.com/x"
    with pytest.raises(InvalidToken):
        SecretBox([old]).decrypt(row.access_token_enc)

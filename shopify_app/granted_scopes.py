"""The access scopes a shop granted the app (app/scopes_update), checked against what the app needs."""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .alerts import raise_alert, resolve_alert
from .models import Shop, ShopSetting, ShopToken

SETTING_KEY = "granted_scopes"


def scope_list(scopes: str | Iterable[str] | None) -> list[str]:
    """'a, b' or ['a', 'b'] -> ['a', 'b'] (blanks dropped, order kept, no duplicates)."""
    parts = scopes.split(",") if isinstance(scopes, str) else list(scopes or ())
    return list(dict.fromkeys(p.strip() for p in parts if isinstance(p, str) and p.strip()))


def effective_scopes(granted: Iterable[str]) -> set[str]:
    """What a grant allows: Shopify's write_x includes read_x (and lists only write_x)."""
    held = set(granted)
    return held | {"read_" + s.removeprefix("write_") for s in held if s.startswith("write_")}


def missing_scopes(required: str | Iterable[str], granted: Iterable[str]) -> list[str]:
    """Required scopes the grant does not cover, in the required order."""
    held = effective_scopes(granted)
    return [s for s in scope_list(required) if s not in held]


def missing_alert_key(shop_domain: str) -> str:
    """Dedupe key of the shop's "missing access" alert."""
    return f"scopes_missing:{shop_domain}"


def record_granted_scopes(session: Session, shop_domain: str, granted: list[str], updated_at: dt.datetime | None, required: str | Iterable[str]) -> list[str] | None:
    """Store the shop's grant and raise (or resolve) the missing-access alert; the missing scopes, or None when a newer grant is held."""
    setting = session.scalar(select(ShopSetting).where(ShopSetting.shop_domain == shop_domain, ShopSetting.key == SETTING_KEY))
    held_at = (setting.value or {}).get("updated_at") if setting is not None else None
    if updated_at is not None and held_at and dt.datetime.fromisoformat(held_at) > updated_at:
        return None  # a late delivery of an earlier change
    value = {"scopes": granted, "updated_at": updated_at.isoformat() if updated_at else held_at}
    if setting is None:
        session.add(ShopSetting(shop_domain=shop_domain, key=SETTING_KEY, value=value))
    else:
        setting.value = value
    shop = session.scalar(select(Shop).where(Shop.domain == shop_domain))
    if shop is not None:
        # The token in hand carries the new grant too (Shopify changes it in place).
        shop.scopes = ",".join(granted)
        token = session.scalar(select(ShopToken).where(ShopToken.shop_id == shop.id))
        if token is not None:
            token.scope = shop.scopes
    missing = missing_scopes(required, granted)
    if missing:
        raise_alert(session, shop_domain, "scopes_missing", missing_alert_key(shop_domain),
                    f"The app is missing access it needs: {', '.join(missing)}. Features that use it stop until the store approves it: "
                    "open the app in the Shopify admin and accept the requested access.",
                    severity="critical", subject=", ".join(missing)[:255])
    else:
        resolve_alert(session, missing_alert_key(shop_domain))
    return missing

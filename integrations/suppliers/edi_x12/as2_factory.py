"""Builds an EDI partner's AS2 transport from its settings (`transport.kind` "as2") and checks those settings at save time."""
from __future__ import annotations

from typing import Any, Callable

from ... import egress
from .. import runtime
from ..runtime import SupplierRef
from .as2 import As2Settings, parse_as2_settings
from .as2_transport import As2Transport
from .config import InvalidEdiSettings

MDN_MAX_BYTES = 1 << 20  # a synchronous MDN is a few kilobytes


def check_as2_settings(transport: dict[str, Any], policy: egress.EgressPolicy) -> As2Settings:
    """At save: AS2 ids, the partner's URL (public, per the egress policy), its certificate (readable, RSA, valid now, usable), algorithms."""
    return parse_as2_settings(transport, lambda url: policy.check_url(url, what="the partner's AS2 URL"), runtime.current().clamp_timeout)


def url_shape(url: str) -> str:
    """The URL's form only (at run time the egress transport checks the address when it connects)."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("must be an https:// URL")
    return url


def as2_opener(transport: dict[str, Any], owner: SupplierRef | None) -> Callable[[], As2Transport]:
    """A function opening the partner's AS2 transport (the shop's key pair and ledger from the app's runtime)."""
    station_for = getattr(runtime.current(), "as2_station_for", None)
    if owner is None or station_for is None:
        raise InvalidEdiSettings("AS2 partners need the app's AS2 station (build the adapter with its shop and supplier)")
    settings = parse_as2_settings(transport, url_shape, runtime.current().clamp_timeout, check_dates=False)
    scope = f"{owner.shop_domain}/{owner.supplier_id}"

    def open_transport() -> As2Transport:
        station = station_for(owner)
        policy = egress.current()
        return As2Transport(settings, station.identity, station.ledger, lambda: policy.client(total_seconds=settings.timeout_seconds, max_bytes=MDN_MAX_BYTES),
                            scope=scope, mdn_url=station.inbound_url)

    return open_transport

"""What an EDI partner's AS2 transport needs from the app: the shop's key pair, the partner's ledger, and our URLs (inbound messages, asynchronous MDNs)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import sessionmaker

from integrations.suppliers.edi_x12.as2 import Identity
from integrations.suppliers.runtime import SupplierRef

from ..crypto import SecretBox
from .as2_keys import shop_identity
from .as2_store import DatabaseAs2Ledger, endpoint_token


@dataclass(frozen=True)
class As2Station:
    """One shop's partner as the AS2 transport sees it."""

    identity: Identity
    ledger: DatabaseAs2Ledger
    inbound_url: str  # where the partner posts its messages and asynchronous MDNs


def inbound_url(app_url: str, token: str) -> str:
    """The partner's URL for messages to us (give it to the partner with our certificate)."""
    return f"{app_url.rstrip('/')}/as2/{token}"


def as2_station_factory(session_factory: sessionmaker, box: SecretBox, app_url: str):
    """The runtime's `as2_station_for`: builds a partner's station (the shop's key pair made on first use)."""

    def station_for(owner: SupplierRef) -> As2Station:
        return As2Station(shop_identity(session_factory, box, owner.shop_domain), DatabaseAs2Ledger(session_factory, owner),
                          inbound_url(app_url, endpoint_token(session_factory, owner)))

    return station_for

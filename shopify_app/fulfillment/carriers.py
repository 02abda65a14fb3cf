"""Carrier names as Shopify knows them.

Shopify builds the customer's tracking link (and follows the shipment) only for tracking
companies written exactly as in its list ("Supported tracking companies" under
FulfillmentTrackingInfo.company in the Admin API reference; capitalisation matters).
Suppliers spell carriers their own way ("dhl", "DHL_EXPRESS", "inpost_paczkomaty"), so the
name is mapped to Shopify's spelling; a carrier not on the list keeps the supplier's name
and the supplier's tracking URL goes with it, so the customer still gets a link.
"""
from __future__ import annotations

import re

# From Shopify's list (shops in any country, plus the country-specific entries we ship to).
SUPPORTED = (
    "4PX", "AGS", "Amazon", "Amazon Logistics UK", "An Post", "Anjun Logistics", "APC", "Asendia USA",
    "Australia Post", "Bonshaw", "BPost", "BPost International", "Canada Post", "Canpar", "CDL Last Mile",
    "China Post", "Chronopost", "Chukou1", "Colissimo", "Comingle", "Coordinadora", "Correios", "Correos",
    "CTT", "CTT Express", "Cyprus Post", "Delnext", "Deutsche Post", "DHL eCommerce", "DHL eCommerce Asia",
    "DHL Express", "DPD", "DPD Local", "DPD UK", "DTD Express", "DX", "Eagle", "Estes", "Evri", "FedEx",
    "First Global Logistics", "First Line", "FSC", "Fulfilla", "GLS", "Iceland Post", "IDEX", "Israel Post",
    "Japan Post (EN)", "Japan Post (JA)", "La Poste", "Lasership", "Latvia Post", "Lietuvos Paštas",
    "Logisters", "Lone Star Overnight", "M3 Logistics", "Meteor Space", "Mondial Relay", "New Zealand Post",
    "NinjaVan", "OnTrac", "Packeta", "Pago Logistics", "Ping An Da Tong", "Pilot Freight Services",
    "Poste Italiane", "PostNL", "PostNord DK", "PostNord NO", "PostNord SE", "Purolator", "Qxpress",
    "Qyun Express", "Royal Mail", "Royal Shipments", "Sagawa (EN)", "Sagawa (JA)", "Sendle", "SF Express",
    "SFC Fulfillment", "Singapore Post", "Southwest Air Cargo", "StarTrack", "Step Forward Freight",
    "Swiss Post", "TForce Final Mile", "Tinghao", "TNT", "Toll IPEC", "United Delivery Service", "UPS",
    "USPS", "Venipak", "We Post", "Whistl", "Wizmo", "WMYC", "Xpedigo", "XPO Logistics", "Yamato (EN)",
    "Yamato (JA)", "YiFan Express", "YunExpress",
    # Country-specific entries (Poland, Germany, Netherlands...).
    "InPost", "Poczta Polska", "DHL Parcel", "Hermes", "Österreichische Post", "PPL", "Sameday",
)
# Suppliers' spellings that are not just Shopify's name in another case or with separators.
ALIASES = {
    "dhl": "DHL Express",
    "dhlworldwide": "DHL Express",
    "dhlintl": "DHL Express",
    "dhlecom": "DHL eCommerce",
    "dhlglobalmail": "DHL eCommerce",
    "inpostpaczkomaty": "InPost",
    "paczkomaty": "InPost",
    "paczkomatyinpost": "InPost",
    "pocztapolskapl": "Poczta Polska",
    "polishpost": "Poczta Polska",
    "israelpostems": "Israel Post",
    "doar": "Israel Post",
    "fedexground": "FedEx",
    "fedexinternational": "FedEx",
    "federalexpress": "FedEx",
    "upsground": "UPS",
    "upsmailinnovations": "UPS",
    "uspsfirstclass": "USPS",
    "uspspriority": "USPS",
    "unitedstatespostalservice": "USPS",
    "royalmailuk": "Royal Mail",
    "hermesuk": "Evri",
    "dpdde": "DPD",
    "dpdpl": "DPD",
    "glspl": "GLS",
    "glsus": "GLS",
    "canadapostpostescanada": "Canada Post",
    "auspost": "Australia Post",
    "nzpost": "New Zealand Post",
    "laposte": "La Poste",
    "correosespana": "Correos",
    "correiosbr": "Correios",
}


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", name.casefold())


_BY_KEY = {_key(name): name for name in SUPPORTED} | ALIASES


def shopify_carrier(name: str | None) -> tuple[str | None, bool]:
    """(the name to send as `company`, whether it is on Shopify's list). Unknown names are kept as given."""
    if not name or not name.strip():
        return None, False
    known = _BY_KEY.get(_key(name))
    return (known, True) if known else (name.strip(), False)

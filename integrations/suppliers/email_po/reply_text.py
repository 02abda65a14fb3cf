"""Tracking numbers and PO numbers in the text of a supplier's reply.

Carriers are recognised by the shape of their numbers, and where a shape is too common to
trust alone (FedEx's 12/15 digits, DHL Express's 10, InPost's 24, Poczta Polska's 20) only
with the carrier's name shortly before the number. Check digits are verified where the
format has one (UPS 1Z, UPU S10 items, USPS IMpb), so an order number or a phone number is
not taken for tracking. Names are Shopify's spelling (fulfillment/carriers.py), so Shopify
builds the customer's tracking link.

  UPS            1Z + 16 letters/digits (check digit)
  USPS           20-22 digits starting 91-95 (IMpb, mod-10 check), or an S10 item ending US
  UPU S10        2 letters + 8 digits + check digit + country: PL Poczta Polska, IL Israel Post,
                 US USPS, DE Deutsche Post, CN China Post, GB Royal Mail (others: the country's post)
  FedEx          12 or 15 digits after "FedEx"
  DHL            JJD + 18 digits (DHL Parcel), or 10 digits after "DHL" (DHL Express)
  InPost         24 digits after "InPost" or "paczkomat"
  Poczta Polska  20 digits starting 00 after "Poczta" / "Pocztex"
"""
from __future__ import annotations

import re
from dataclasses import dataclass

CONTEXT_CHARS = 60  # how far before a number its carrier's name may stand
MAX_TEXT = 200_000  # longer bodies are cut (a reply is short; this bounds the regex work)

S10_COUNTRY = {"PL": "Poczta Polska", "IL": "Israel Post", "US": "USPS", "DE": "Deutsche Post", "CN": "China Post", "GB": "Royal Mail"}


@dataclass(frozen=True)
class FoundTracking:
    """A tracking number found in the text, with its carrier (Shopify's spelling)."""

    carrier: str
    number: str


def _digits(text: str) -> list[int]:
    return [int(ch) for ch in text]


def ups_check_ok(number: str) -> bool:
    """UPS 1Z check digit: letters count as (code - 63) mod 10, odd places doubled."""
    body, check = number[2:17], number[17]
    values = [int(ch) if ch.isdigit() else (ord(ch) - 63) % 10 for ch in body]
    total = sum(value * (2 if index % 2 else 1) for index, value in enumerate(values))
    return check.isdigit() and (10 - total % 10) % 10 == int(check)


def s10_check_ok(serial: str, check: str) -> bool:
    """UPU S10 check digit: weights 8 6 4 2 3 5 9 7, 11 - sum mod 11 (10 -> 0, 11 -> 5)."""
    total = sum(weight * digit for weight, digit in zip((8, 6, 4, 2, 3, 5, 9, 7), _digits(serial)))
    expected = 11 - total % 11
    return {10: 0, 11: 5}.get(expected, expected) == int(check)


def mod10_check_ok(number: str) -> bool:
    """USPS IMpb: from the right (check digit excluded), weights 3 and 1 alternately."""
    digits = _digits(number)
    body, check = digits[:-1], digits[-1]
    total = sum(digit * (3 if index % 2 == 0 else 1) for index, digit in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


_UPS = re.compile(r"\b1Z[0-9A-Z]{16}\b")
_S10 = re.compile(r"\b([A-Z]{2})(\d{8})(\d)([A-Z]{2})\b")
_USPS = re.compile(r"\b9[1-5](?:\d[ ]?){18,20}\b")
_NEAR_NAME = (  # (carrier, number pattern, names that must stand shortly before it)
    ("FedEx", re.compile(r"\b(?:\d{15}|\d{12})\b"), ("fedex",)),
    ("DHL Parcel", re.compile(r"\bJJD\d{18}\b"), ()),
    ("DHL Express", re.compile(r"\b\d{10}\b"), ("dhl",)),
    ("InPost", re.compile(r"\b\d{24}\b"), ("inpost", "paczkomat")),
    ("Poczta Polska", re.compile(r"\b00\d{18}\b"), ("poczta", "pocztex")),
)


def find_tracking(text: str) -> list[FoundTracking]:
    """Every tracking number in the text, in order of appearance, each once."""
    text = text[:MAX_TEXT]
    hits: list[tuple[int, FoundTracking]] = []
    for match in _UPS.finditer(text):
        if ups_check_ok(match.group()):
            hits.append((match.start(), FoundTracking("UPS", match.group())))
    for match in _S10.finditer(text):
        prefix, serial, check, country = match.groups()
        if s10_check_ok(serial, check):
            hits.append((match.start(), FoundTracking(S10_COUNTRY.get(country, f"{country} post"), match.group())))
    for match in _USPS.finditer(text):
        number = match.group().replace(" ", "")
        if 20 <= len(number) <= 22 and mod10_check_ok(number):
            hits.append((match.start(), FoundTracking("USPS", number)))
    lowered = text.lower()
    for carrier, pattern, names in _NEAR_NAME:
        for match in pattern.finditer(text):
            before = lowered[max(0, match.start() - CONTEXT_CHARS):match.start()]
            if not names or any(name in before for name in names):
                hits.append((match.start(), FoundTracking(carrier, match.group())))
    found: list[FoundTracking] = []
    taken: set[str] = set()
    for _, hit in sorted(hits, key=lambda item: item[0]):
        # A number inside a longer one already taken (10 digits of a 24-digit InPost number) is not another parcel.
        if hit.number not in taken and not any(hit.number in other for other in taken):
            found.append(hit)
            taken.add(hit.number)
    return found


# PO numbers: our own (do- + 32 hex, routing.idempotency_key), whatever follows "PO" / "purchase order", then words with digits.
_OUR_PO = re.compile(r"\bdo-[0-9a-f]{32}\b")
_NAMED_PO = re.compile(r"(?i)\b(?:p\.?o\.?|purchase\s+order|order)\s*(?:number|no\.?|nr\.?|#)?\s*[:#]?\s*([A-Za-z0-9][A-Za-z0-9._/-]{2,99})")
# Any word with a digit in it ("PO-7788", "A1001"): a merchant's own PO numbering, looked up last.
_TOKEN = re.compile(r"(?<![\w.-])([A-Za-z0-9][A-Za-z0-9._/-]{2,99}?)(?=[.,;:!?)\]]*(?:\s|$))")
MAX_CANDIDATES = 30


def po_candidates(*texts: str) -> list[str]:
    """Strings that may be PO numbers, most likely first (ours, then named ones), each once, at most MAX_CANDIDATES."""
    found: list[str] = []
    for pattern in (_OUR_PO, _NAMED_PO, _TOKEN):
        for text in texts:
            for match in pattern.finditer((text or "")[:MAX_TEXT]):
                value = match.group(match.lastindex or 0).rstrip(".")
                if pattern is _TOKEN and not any(ch.isdigit() for ch in value):
                    continue
                if value not in found:
                    found.append(value)
                if len(found) >= MAX_CANDIDATES:
                    return found
    return found

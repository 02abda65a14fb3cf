"""An EDI partner's settings: ISA qualifiers and IDs, GS application codes, version, separators, folders, the 997 window."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..files.transport import safe_folder
from .x12 import Party, Separators

_ISA_ID = re.compile(r"^[A-Za-z0-9 ._-]{1,15}$")
_GS_CODE = re.compile(r"^[A-Za-z0-9 ._-]{2,15}$")
_QUALIFIER = re.compile(r"^[A-Z0-9]{2}$")
VERSIONS = ("004010", "005010")


class InvalidEdiSettings(ValueError):
    """Settings that cannot make a valid interchange (the message names the key)."""


@dataclass(frozen=True)
class EdiSettings:
    """Everything that shapes the documents and where they go."""

    us: Party
    partner: Party
    separators: Separators = Separators()
    version: str = "004010"
    usage: str = "P"  # ISA15: P production, T test
    outbound_folder: str = "to_partner"  # where our 850s and 997s go
    inbound_folder: str = "from_partner"  # where the partner drops 855/856/846/810/997
    archive_folder: str = "archive"  # inbound files once read
    rejected_folder: str = "rejected"  # inbound files refused whole
    ack_window_minutes: int = 240  # an 850 without a 997 after this raises an alert
    known_skus: frozenset[str] | None = None


def _text(settings: dict[str, Any], key: str, default: str | None = None) -> str:
    value = settings.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEdiSettings(f"{key}: required")
    return value.strip()


def _party(settings: dict[str, Any], prefix: str) -> Party:
    qualifier = _text(settings, f"{prefix}_qualifier", "ZZ").upper()
    isa_id = _text(settings, f"{prefix}_id")
    code = str(settings.get(f"{prefix}_application_code") or isa_id).strip()
    if not _QUALIFIER.match(qualifier):
        raise InvalidEdiSettings(f"{prefix}_qualifier: two letters or digits (ZZ mutually defined, 01 DUNS, 12 phone)")
    if not _ISA_ID.match(isa_id):
        raise InvalidEdiSettings(f"{prefix}_id: 1-15 letters, digits, spaces, dots, dashes")
    if not _GS_CODE.match(code):
        raise InvalidEdiSettings(f"{prefix}_application_code: 2-15 letters, digits, spaces, dots, dashes")
    return Party(qualifier, isa_id, code)


def parse_settings(settings: dict[str, Any]) -> EdiSettings:
    """EdiSettings from a supplier's settings JSON; InvalidEdiSettings naming the key otherwise."""
    if not isinstance(settings, dict):
        raise InvalidEdiSettings("settings must be a JSON object")
    separators_in = settings.get("separators") or {}
    if not isinstance(separators_in, dict):
        raise InvalidEdiSettings("separators: an object with element, sub_element, segment")
    separators = Separators(
        element=str(separators_in.get("element", "*")), sub_element=str(separators_in.get("sub_element", ">")),
        segment=str(separators_in.get("segment", "~")).replace("\\n", "\n"), repetition=str(separators_in.get("repetition", "^")),
        newline=bool(separators_in.get("newline", True)) and separators_in.get("segment", "~") not in ("\n", "\\n"),
    )
    try:
        if separators.segment != "\n":
            separators.check()
        else:
            Separators(separators.element, separators.sub_element, "~", separators.repetition).check()
    except ValueError as exc:
        raise InvalidEdiSettings(f"separators: {exc}") from None
    version = str(settings.get("version", "004010"))
    if version not in VERSIONS:
        raise InvalidEdiSettings(f"version: one of {', '.join(VERSIONS)}")
    usage = str(settings.get("usage", "P"))
    if usage not in ("P", "T"):
        raise InvalidEdiSettings("usage: P (production) or T (test)")
    window = settings.get("ack_window_minutes", 240)
    if isinstance(window, bool) or not isinstance(window, int) or not 5 <= window <= 10080:
        raise InvalidEdiSettings("ack_window_minutes: a whole number of minutes from 5 to 10080")
    folders = {}
    for key, default in (("outbound_folder", "to_partner"), ("inbound_folder", "from_partner"), ("archive_folder", "archive"), ("rejected_folder", "rejected")):
        try:
            folders[key] = safe_folder(str(settings.get(key, default)))
        except ValueError as exc:
            raise InvalidEdiSettings(f"{key}: {exc}") from None
    if len({folders["inbound_folder"], folders["archive_folder"], folders["rejected_folder"]}) != 3:
        raise InvalidEdiSettings("inbound_folder, archive_folder and rejected_folder must differ")
    known = settings.get("known_skus")
    return EdiSettings(
        us=_party(settings, "our"), partner=_party(settings, "partner"), separators=separators, version=version, usage=usage,
        ack_window_minutes=window, known_skus=frozenset(str(s) for s in known) if isinstance(known, list) else None, **folders,
    )

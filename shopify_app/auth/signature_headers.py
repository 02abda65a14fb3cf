"""The headers a signature check needs, and nothing else; refused when not ASCII.

HMAC signatures are hex or base64, so a genuine one is always ASCII. Comparing a
non-ASCII str with hmac.compare_digest raises TypeError (a 500): such a request is
answered 401 before any check runs.
"""
from __future__ import annotations

from typing import Iterable, Mapping


class NonAsciiSignatureHeader(ValueError):
    """A signature header carries characters no genuine signature has."""


def signature_headers(headers: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """The named headers that are present, each checked to be ASCII (headers: case-insensitive, like werkzeug's)."""
    kept = {}
    for name in names:
        value = headers.get(name)
        if value is None:
            continue
        if not value.isascii():
            raise NonAsciiSignatureHeader(name)
        kept[name] = value
    return kept

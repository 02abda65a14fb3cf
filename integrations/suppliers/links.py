"""Links a supplier gives us (tracking pages, return labels) that the app stores, shows and mails."""
from __future__ import annotations

from urllib.parse import urlsplit

MAX_LINK_LENGTH = 2048


def http_link(url: object) -> str | None:
    """The URL when it is a plain http(s) link to a host, else None (javascript:, data:, credentials, junk)."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or len(url) > MAX_LINK_LENGTH or any(ord(ch) < 33 or ord(ch) == 127 for ch in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host or parts.username is not None or parts.password is not None:
        return None
    return url

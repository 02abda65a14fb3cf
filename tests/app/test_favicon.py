"""GET /favicon.ico: browsers ask every origin for it; the app answers with its icon, not a 404."""
from __future__ import annotations

import struct


def test_favicon_is_the_apps_icon(app_factory, database_url):
    client = app_factory(database_url).test_client()
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    body = response.get_data()
    reserved, kind, count = struct.unpack("<HHH", body[:6])
    assert (reserved, kind, count) == (0, 1, 1)  # an ICO directory with one icon
    size, offset = struct.unpack("<II", body[14:22])
    assert body[offset:offset + 8] == b"\x89PNG\r\n\x1a\n" and offset + size == len(body)
    assert client.head("/favicon.ico").status_code == 200

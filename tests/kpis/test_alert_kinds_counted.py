"""The out-of-stock KPI counts only alerts about stock: AS2 transport and certificate alerts are not complaints."""
from __future__ import annotations

import re
from pathlib import Path

from shopify_app.kpis.compute import OUT_OF_STOCK_ALERTS

ROOT = Path(__file__).resolve().parents[2] / "shopify_app" / "suppliers"


def _kinds_raised(module: str) -> set[str]:
    return set(re.findall(r'raise_alert\(\s*session,\s*[\w.]+,\s*"([a-z_]+)"', (ROOT / module).read_text()))


def test_as2_alerts_are_not_counted_as_out_of_stock():
    kinds = _kinds_raised("as2_watch.py") | _kinds_raised("as2_inbound.py")
    assert kinds, "the AS2 modules raise alerts"
    assert not kinds & set(OUT_OF_STOCK_ALERTS), kinds

"""The sandbox AS2 partner's background loop (make run) keeps going before the first purchase order arrives."""
from __future__ import annotations

import time

from integrations.suppliers.edi_x12.x12 import Party
from sandbox.supplier.as2_partner import As2Partner


def test_the_partner_loop_survives_its_inbox_not_existing_yet(tmp_path):
    # Seen in `make run`: the loop's first round found no "to_partner" folder (no PO sent yet), raised, and the
    # thread died, so the demo's AS2 supplier never acknowledged nor shipped anything.
    partner = As2Partner(tmp_path / "partner", as2_id="PARTNER", app_as2_id="APP", partner=Party("01", "123456789", "WHOLESALE"),
                         us=Party("ZZ", "DROPSHIPAPP", "APP"))
    partner.app_url, partner.app_certificate_pem = "http://127.0.0.1:9/as2/never", b"not used before a file comes"
    rounds = []
    real = partner.edi.step
    partner.edi.step = lambda *args, **kwargs: rounds.append(1) or real(*args, **kwargs)
    stop = partner.run_in_background(interval=0.01)
    try:
        deadline = time.monotonic() + 10
        while len(rounds) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
    assert len(rounds) >= 3

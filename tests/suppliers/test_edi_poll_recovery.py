"""An EDI poll whose app-side work fails after the EDI store committed the interchange: nothing of it is silently lost (review item 8)."""
from __future__ import annotations

from edi_testkit import edi_settings  # noqa: F401 - the world fixture's kit
from shopify_app.suppliers import edi_polling
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import Alert
from shopify_app.webhooks.worker import InboxWorker
from test_edi_end_to_end import SHOP, run_job, world  # noqa: F401 - fixture


def _rejecting_855(world):
    app, shopify, partner, folder, supplier_id = world
    services = app.extensions["services"]
    partner.stock.clear()  # the partner no longer carries either SKU: its 855 rejects both lines
    shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 1}, {"sku": "MUG-WHT", "quantity": 1}], email="buyer@example.com")
    InboxWorker(services.session_factory, services.settings, services).drain()
    ForwardingWorker(services.session_factory, services.box).drain()
    partner.run_once()
    return app, services


def _open(services, prefix):
    with services.session_factory() as session:
        return sorted(a.dedupe_key for a in session.query(Alert).filter(Alert.resolved_at.is_(None)) if a.dedupe_key.startswith(prefix))


def test_an_event_that_fails_to_apply_costs_only_itself(world, monkeypatch):
    app, services = _rejecting_855(world)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug while applying one event")

    monkeypatch.setattr(edi_polling, "apply_event", broken)
    run_job(app, "edi-partners")  # the job goes on
    assert len(_open(services, "edi_line_rejected:")) == 2  # the rejected lines are alerted all the same
    assert _open(services, "job_failed:")  # and the event that failed is reported, not dropped in silence


def test_rejected_lines_lost_with_the_app_side_transaction_are_alerted_from_the_stored_850s(world, monkeypatch):
    app, services = _rejecting_855(world)
    real_alert = edi_polling._alert_rejected_line

    def crash(*args, **kwargs):
        raise RuntimeError("the process dies before the app-side commit")

    monkeypatch.setattr(edi_polling, "_alert_rejected_line", crash)
    try:
        run_job(app, "edi-partners")
    except RuntimeError:
        pass
    assert _open(services, "edi_line_rejected:") == []
    monkeypatch.setattr(edi_polling, "_alert_rejected_line", real_alert)
    run_job(app, "edi-partners")  # the interchange is a duplicate now: only the stored 850 remembers the 855
    assert len(_open(services, "edi_line_rejected:")) == 2
    run_job(app, "edi-partners")
    with services.session_factory() as session:
        assert {a.count for a in session.query(Alert) if a.dedupe_key.startswith("edi_line_rejected:")} == {1}  # once, not every poll

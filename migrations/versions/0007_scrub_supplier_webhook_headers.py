"""scrub stored supplier-webhook headers

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 15:00:00

Supplier webhooks used to be recorded with every request header (cookies, basic auth).
New rows keep only the headers the signature needs (shopify_app/suppliers/webhooks.py);
this rewrites the rows recorded before, pending and dead ones included, to the same
allow-list: Printful's two x-pf-webhook-* headers, or a REST supplier's configured
signature header. Other kinds keep none. Data only: no schema change, no downgrade.
"""
import json
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PRINTFUL_HEADERS = ("x-pf-webhook-signature", "x-pf-webhook-public-key")
inbox = sa.table("webhook_inbox", sa.column("id", sa.Integer), sa.column("topic", sa.String), sa.column("body", sa.Text))
suppliers = sa.table("suppliers", sa.column("id", sa.Integer), sa.column("kind", sa.String), sa.column("settings", sa.JSON))


def signature_header_names(kind: str | None, settings) -> set[str]:
    """Lower-cased names of the headers a kind's webhook signature needs."""
    if kind == "printful":
        return set(PRINTFUL_HEADERS)
    webhook = (settings or {}).get("webhook") if isinstance(settings, dict) else None
    if kind == "rest" and isinstance(webhook, dict) and isinstance(webhook.get("signature_header"), str):
        return {webhook["signature_header"].lower()}
    return set()


def scrubbed(body: str, kinds: dict) -> str | None:
    """The body with only the signature headers kept; None when nothing changes or it is unreadable."""
    try:
        event = json.loads(body)
    except ValueError:
        return None
    if not isinstance(event, dict) or not isinstance(event.get("headers"), dict):
        return None
    keep = signature_header_names(*kinds.get(event.get("supplier_id"), (None, None)))
    headers = {name: value for name, value in event["headers"].items() if name.lower() in keep}
    if headers == event["headers"]:
        return None
    return json.dumps({**event, "headers": headers})


def upgrade() -> None:
    """Rewrite recorded supplier events to keep only their signature headers."""
    bind = op.get_bind()
    kinds = {row.id: (row.kind, row.settings) for row in bind.execute(sa.select(suppliers.c.id, suppliers.c.kind, suppliers.c.settings))}
    rows = bind.execute(sa.select(inbox.c.id, inbox.c.body).where(inbox.c.topic == "supplier/event")).all()
    for row in rows:
        body = scrubbed(row.body, kinds)
        if body is not None:
            bind.execute(sa.update(inbox).where(inbox.c.id == row.id).values(body=body))


def downgrade() -> None:
    """Nothing to restore: the dropped headers are gone on purpose."""

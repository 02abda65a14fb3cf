"""One order's deliveries in a claimed batch that would be handled alike: the first is handled, the others finished with it.

Shopify sends orders/create and orders/paid of a paid order at once, with the same snapshot.
Handled on its own, the later one only finds the snapshot settled (a read of the stored order,
a parse and a conditional UPDATE: 1.5-2 ms of CPU an order when the inbox lags). Here, when
the claim's batch holds both, the later one (a rider) is finished in the first one's own
finishing transaction, once that one is DONE: the registry's `handled_alike` hook says which
deliveries' handling is the same (webhooks/registry.py). If the first is not done (failed,
retried, parked, or another worker's now), its riders are left exactly as they were and the
drain handles them on their own.
"""
from __future__ import annotations

from sqlalchemy import and_, bindparam, exists, literal_column, or_, select, update

from ..bounds import json_or_none
from ..models import InboxStatus, Shop, ShopStatus, WebhookDelivery
from .registry import COMPLIANCE_TOPICS, HANDLED_ALIKE, handling_of, load_handlers, serial_key

_INBOX = WebhookDelivery.__table__
_SHOPS = Shop.__table__
# A rider finished: still pending and this worker's lease, or still due and nobody's (handled,
# leased or put off by another worker meanwhile otherwise), and its shop installed (what the
# write transaction would have checked), with a note naming the delivery it was finished with.
# On PostgreSQL a rider another worker's write transaction has locked is skipped, not waited
# for: that transaction may be waiting for the order rows this one wrote (a deadlock otherwise);
# the rider is then handled on its own. (SQLite's write transaction is exclusive: no FOR UPDATE.)
_RIDER = _INBOX.alias("rider")
_UNLOCKED_RIDER = select(_RIDER.c.id).where(_RIDER.c.id == bindparam("delivery_id")).with_for_update(skip_locked=True).scalar_subquery()
_FINISH_RIDER = update(_INBOX).where(
    _INBOX.c.id == _UNLOCKED_RIDER,
    _INBOX.c.status == literal_column(f"'{InboxStatus.PENDING.value}'"),
    or_(_INBOX.c.lease_owner == bindparam("owner"),
        and_(_INBOX.c.next_attempt_at <= bindparam("now"), or_(_INBOX.c.lease_until.is_(None), _INBOX.c.lease_until < bindparam("now")))),
    exists().where(_SHOPS.c.domain == _INBOX.c.shop_domain, _SHOPS.c.status == literal_column(f"'{ShopStatus.INSTALLED.value}'")),
).values(status=InboxStatus.DONE.value, processed_at=bindparam("now"), lease_owner=None, lease_until=None,
         attempts=_INBOX.c.attempts + 1, last_error=bindparam("note"))


class Riders:
    """The later deliveries of a batch handled alike with one: finished in its finishing transaction, confirmed once that committed."""

    def __init__(self, first_id: int, ids: list[int]) -> None:
        self.first_id = first_id
        self.ids = ids
        self._finished: list[int] = []  # by the open transaction (rolled back with it)
        self.done: list[int] = []  # committed DONE with the first

    def finish(self, conn, owner: str, now) -> None:
        """In the first one's transaction, which finishes it DONE: each rider still due (or still ours) finished too."""
        note = f"same snapshot as delivery {self.first_id}"
        self._finished = [delivery_id for delivery_id in self.ids
                          if conn.execute(_FINISH_RIDER, {"delivery_id": delivery_id, "owner": owner, "now": now, "note": note}).rowcount == 1]

    def confirm(self) -> int:
        """After that transaction committed: the riders it finished are done; how many."""
        self.done, self._finished = self._finished, []
        return len(self.done)


def group_alike(claimed: list) -> tuple[list, dict[int, Riders]]:
    """(the batch, payloads parsed where a hook needs them; first delivery id -> its riders).

    The parsed payload is kept on the row (Claimed.payload): its prefetch does not parse it again.
    """
    load_handlers()
    rows = list(claimed)
    by_order: dict[tuple, list[int]] = {}
    for index, row in enumerate(rows):
        if row.topic not in HANDLED_ALIKE or row.topic in COMPLIANCE_TOPICS:
            continue
        payload = row.payload
        if payload is None:
            body = row.body if row.body is not None else (row.looked[2] if row.looked else None)
            # Not JSON (nested past the parser's depth too): its own handling dead-letters it, never the whole batch.
            payload = json_or_none(body) if body is not None else None
            if payload is None:
                continue
            rows[index] = row = row._replace(payload=payload)
        try:
            key = serial_key(row.topic, payload)
        except Exception:  # noqa: BLE001 - a payload its own handling will reject: never the whole batch's drain
            continue
        if key is not None:
            by_order.setdefault((row.shop_domain, key), []).append(index)
    riders: dict[int, Riders] = {}
    for indexes in by_order.values():
        if len(indexes) < 2:
            continue
        handlings = [(index, _handling(rows[index])) for index in indexes]
        while handlings:  # first come first: each handling's first delivery carries the later ones equal to it
            (first, handling), rest = handlings[0], handlings[1:]
            alike = [index for index, other in rest if handling is not None and other == handling]
            if alike:
                riders[rows[first].id] = Riders(rows[first].id, [rows[index].id for index in alike])
            handlings = [(index, other) for index, other in rest if index not in alike]
    return rows, riders


def _handling(row):
    """The row's `handled_alike` value; None (handled on its own) when the hook fails on its payload."""
    try:
        return handling_of(row.topic, row.payload)
    except Exception:  # noqa: BLE001 - the handler meets the same payload and records its failure (retried or dead-lettered)
        return None

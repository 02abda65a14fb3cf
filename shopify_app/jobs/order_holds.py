"""One order's webhooks in one worker process at a time (scaled out: PostgreSQL, several `cli worker` processes).

Within a process the inbox handles one order's deliveries one after another (the worker's
`one_order_at_a_time` locks): the second sees what the first committed and reads nothing
from Shopify again. Across processes nothing did, and at 4 workers an order's orders/create
and orders/paid were handled in two processes at once about 1.2 times per order (a full sync
and a second Shopify read each time).

So a worker's claim holds the orders of the rows it wins: in the claim's transaction it
writes each row's order key (`hold_key`) and gives back a row whose order a live lease of
another process holds. The hold is the lease itself (a row of the order, pending, leased
by another process until a moment still to come): it ends when the holder finishes or
releases the row, or with the lease when the holder dies; nothing else to clean up. Claims
of one order are serialised by a transaction-scoped advisory lock on the key, so two
processes claiming rows of one order at once cannot both miss the other's hold.

A row given back is the holder's: the claim NOTIFYs that process's own lane channel (its
listener LISTENs on it), whose lane takes it (as the same process, its hold does not stop
it) and handles it after the order's row in hand. Otherwise the lanes' poll finds it. The
other processes' looks leave it out while the hold lasts (`not_held_elsewhere`: it carries
its order's key now), so they neither take and give it back again nor stop at it.

A hold counts only while its process has a live lane listener (its application_name in
pg_stat_activity, the source lane_notices trusts): a process that died leaves no connection,
so its order is free at once instead of at the end of its lease (60 s, 600 s during
follow-up calls), and no row is given back to a process nobody would tell. A live process
whose listener is reconnecting loses its holds meanwhile: two processes may then handle one
order at once, which was the state before holds: safe (the handlers were written for
it), it only costs what the holds save (a second sync and Shopify read of the order).
A stopping process renames its listener first (lane_notices.LEAVING_NAME): its holds end
then, since its drains take nothing new (a row given back to it would wait for its exit).
"""
from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.engine import Connection

from ..bounds import json_or_none
from ..webhooks.registry import handled_one_at_a_time, serial_key
from .lane_notices import LISTENER_NAME, ORDERS, process_channel, process_id


def lease_owner(process: str | None = None) -> str:
    """A new lease owner of `process` (default this OS process): the process id, then one of its own (one per lane thread)."""
    return f"{process or process_id()}:{uuid.uuid4().hex[:24]}"


# In key order, so two claims of several orders never wait on each other crosswise.
_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(CAST(:keys AS text[])) WITH ORDINALITY AS u(k, n) ORDER BY n")
# The lease owner of another live process holding the order {shop}/{key} now: a pending row of
# it leased by that process until a moment still to come, while that process's lane listener
# is connected (the index ix_webhook_inbox_leased_held finds the rows; pg_stat_activity is read only
# for a row found).
_HOLDER = (
    "SELECT other.lease_owner FROM webhook_inbox AS other"
    " WHERE other.shop_domain = {shop} AND other.hold_key = {key} AND other.status = 'pending'"
    " AND other.lease_until >= :now AND other.lease_owner NOT LIKE :ours"
    " AND EXISTS (SELECT 1 FROM pg_stat_activity AS listener WHERE listener.datname = current_database()"
    "   AND listener.application_name = :listener || split_part(other.lease_owner, ':', 1))"
    " LIMIT 1"
)
_LISTENER_PREFIX = LISTENER_NAME + ":"
# Each won row's order key written, with the lease owner of another process holding that order now (if any).
_HOLD = text(
    "UPDATE webhook_inbox AS mine SET hold_key = v.hold_key"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:hold_keys AS text[])) AS v(id, hold_key)"
    " WHERE mine.id = v.id"
    " RETURNING mine.id, (" + _HOLDER.format(shop="mine.shop_domain", key="v.hold_key") + ") AS holder"
).bindparams(listener=_LISTENER_PREFIX)
_GIVE_BACK = text("UPDATE webhook_inbox SET lease_owner = NULL, lease_until = NULL WHERE id = ANY(CAST(:ids AS bigint[])) AND lease_owner = :owner")
_TELL_HOLDER = text("SELECT pg_notify(c, :lane) FROM unnest(CAST(:channels AS text[])) AS c")


def process_of(owner: str) -> str:
    """The process id a lease owner starts with (lease_owner)."""
    return owner.split(":", 1)[0]


def ours(owner: str) -> str:
    """The LIKE pattern of every lease owner of `owner`'s process (a process's own holds never stop it)."""
    return process_of(owner) + ":%"


def not_held_elsewhere(owner: str) -> TextClause:
    """A claim's look condition on `webhook_inbox` (bound `now`): not a row given back to another live process that holds its order.

    Such a row stays due and unleased: without it every look of every other process took
    it and gave it back again, and a batch of them kept its drain looping at the queue's
    head (other orders' rows behind them waited for the holder).
    """
    return text("NOT EXISTS (" + _HOLDER.format(shop="webhook_inbox.shop_domain", key="webhook_inbox.hold_key") + ")").bindparams(
        ours=ours(owner), listener=_LISTENER_PREFIX)


def order_key_of(topic: str, body: str | None):
    """(the parsed payload, its order key) of a delivery whose topic is handled one order at a time; (None, None) otherwise."""
    if body is None or not handled_one_at_a_time(topic):
        return None, None
    payload = json_or_none(body)  # nested too deeply too: raised here it would fail every claim of the lane
    if payload is None:
        return None, None  # the worker dead-letters it (PoisonPayload)
    key = serial_key(topic, payload)  # at most 100 characters (handlers/orders.order_key), as hold_key
    return payload, (str(key) if key is not None else None)


def hold_orders(conn: Connection, won: dict[int, tuple[str, str]], owner: str, now) -> set[int]:
    """Hold the orders of the rows just leased (`won`: id -> (shop, order key)) in the claim's transaction; the ids given back.

    A row whose order another live process holds is given back (lease cleared) and that
    process's lane is told; the others keep their lease and now hold their order.
    """
    if not won:
        return set()
    # Not skipped when no other process's listener is live (it would save these two statements
    # per claim for a lone worker): the hold is the key _HOLD writes, so rows claimed
    # without it stay invisible to a worker that starts while they are in hand, for their whole
    # lease; and skipping only the lock leaves a window (a listener coming up between this
    # claim's look at pg_stat_activity and its commit) in which two claims of one order miss
    # each other. Writing the key in the claim's own UPDATE would need the body parsed in SQL.
    conn.execute(_LOCK, {"keys": sorted({f"{shop} {key}" for shop, key in won.values()})})
    ids = list(won)
    held = {row.id: row.holder for row in conn.execute(_HOLD, {"ids": ids, "hold_keys": [won[i][1] for i in ids], "now": now, "ours": ours(owner)})
            if row.holder is not None}
    if held:
        conn.execute(_GIVE_BACK, {"ids": list(held), "owner": owner})
        conn.execute(_TELL_HOLDER, {"channels": sorted({process_channel(process_of(holder)) for holder in held.values()}), "lane": ORDERS})
    return set(held)

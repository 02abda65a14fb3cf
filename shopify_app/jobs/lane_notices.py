"""Waking the scaled-out workers' order lanes with PostgreSQL NOTIFY (the lane as payload).

A web process commits a row a worker's lane handles (a webhook in the inbox, a supplier
order to place) and tells the workers with `pg_notify`: inside the transaction that commits
the row where it can (no transaction of its own, and PostgreSQL delivers a notification
only on commit, so a wake-up never comes before its row), else in one autocommit statement.
Each worker's listener (scheduler/lane_listener.py) rings the lane's doorbell.

One worker per notification: on one shared channel every worker's lane woke and looked for
the row, and all but one found nothing (looks per order grew 2/4/8 with 1/2/4 workers). Each
listener also LISTENs on a channel of its own process (its application_name names it), and
the NOTIFY picks one of the live listeners' channels at random in the same statement
(PostgreSQL's own list of connections: a worker that died has no connection, so it is never
picked once it is gone). No wake-up is lost for it: a worker picked while all its lane's
threads are busy keeps the ring for its next free thread, and one picked just as it dies
leaves the row to the other workers' lane poll (WORKER_LANE_POLL_SECONDS). With no listener
at all the notification goes to the shared channel, which every listener (and an older
release's) still LISTENs on.

A worker that begins to stop (SIGTERM) renames its listener first (LEAVING_NAME): from then
on no NOTIFY picks it, while its lanes finish the rows in hand. It keeps listening until they
have, and passes each wake-up that still reaches its own channel (picked just before the
rename, or a claim telling it about an order it no longer holds) to another live listener.
"""
from __future__ import annotations

import logging
import os
import uuid

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

CHANNEL = "dropship_lanes"  # the shared channel: every listener
LISTENER_NAME = "dropship-lane-listener"  # a listener's application_name is this, ":" and its process id: how a NOTIFY finds it
ORDERS = "orders"  # the inbox's orders lane (every Shopify topic but the way back)
WAY_BACK = "way-back"  # suppliers' events and Shopify's fulfillment webhooks
FORWARDING = "forwarding"  # supplier orders to place or cancel, order changes to pass on
LANES = (ORDERS, WAY_BACK, FORWARDING)

LEAVING_NAME = LISTENER_NAME + "-leaving"  # a stopping worker's listener: no longer picked (nor holding orders), it passes on what still reaches it

# One live listener of this database, at random ({channel}, {listeners}, {lane}: the driver's placeholders).
_PICK = ("SELECT pg_notify(COALESCE((SELECT {channel} || '_' || split_part(application_name, ':', 2) FROM pg_stat_activity"
         " WHERE application_name LIKE {listeners} AND datname = current_database() ORDER BY random() LIMIT 1), {channel}), {lane})")
# Built once (the intake's hot path).
NOTIFY = text(_PICK.format(channel=":channel", listeners=":listeners", lane=":lane")).bindparams(channel=CHANNEL, listeners=LISTENER_NAME + ":%")
# The same pick on a listener's own psycopg connection (a leaving listener passes a wake-up on).
PASS_ON = _PICK.format(channel="%(channel)s", listeners="%(listeners)s", lane="%(lane)s")
PASS_ON_PARAMS = {"channel": CHANNEL, "listeners": LISTENER_NAME + ":%"}

_PROCESS: tuple[int, str] = (0, "")


def process_id() -> str:
    """This process's id (32 hex digits, made on first use per OS process: a forked child gets its own)."""
    global _PROCESS
    if _PROCESS[0] != os.getpid():
        _PROCESS = (os.getpid(), uuid.uuid4().hex)
    return _PROCESS[1]


def process_channel(process: str) -> str:
    """The lane channel of one process's listener (`process`: its process_id)."""
    return f"{CHANNEL}_{process}"


def notify_in(conn: Connection, lane: str) -> None:
    """Queue the wake-up in the caller's transaction: the workers get it when (and only if) it commits."""
    conn.execute(NOTIFY, {"lane": lane})


def notify_now(engine: Engine, *lanes: str) -> None:
    """Wake the lanes at once, outside any transaction (the rows are committed already); a failure is logged, the lanes' polling finds the rows."""
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for lane in lanes:
                notify_in(conn, lane)
    except Exception as exc:  # noqa: BLE001 - the rows are committed: a missed wake-up only waits for the poll
        log.warning("could not notify the workers' %s lane(s): %s", ",".join(lanes), type(exc).__name__)

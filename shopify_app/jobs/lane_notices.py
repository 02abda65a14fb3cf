"""Waking the scaled-out workers' order lanes with PostgreSQL NOTIFY (the lane as payload).

A web process commits a row a worker's lane handles (a webhook in the inbox, a supplier
order to place) and tells the workers with `pg_notify`: inside the transaction that commits
the row where it can (no transaction of its own, and PostgreSQL delivers a notification
only on commit, so a wake-up never comes before its row), else in one autocommit statement.
Each worker's listener (scheduler/lane_listener.py) rings the lane's doorbell.

One worker per notification: on one shared channel every worker's lane woke and looked for
the row, and all but one found nothing (looks per order grew 2/4/8 with 1/2/4 workers). Each
listener also LISTENs on a channel of its own process (its application_name names it), and
the NOTIFY goes to one of the live listeners' channels at random (PostgreSQL's own list of
connections: a worker that died has no connection, so it is never picked once it is gone).
A process picks from its list of the listeners read at most a second ago, and the statement
checks that one's connection is still there under its name (else it picks from the full
list then, and the process reads the list again). No wake-up is lost for it: a worker
picked while all its lane's threads are busy keeps the ring for its next free thread, and
one picked just as it dies leaves the row to the other workers' lane poll
(WORKER_LANE_POLL_SECONDS). With no listener
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
import random
import time
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

LISTENERS_FRESH_SECONDS = 1.0  # a process reads the live listeners again after this long: a new worker is picked within it

# One live listener's channel, at random ({channel}, {listeners}: the driver's placeholders).
_LIVE_CHANNEL = ("SELECT {channel} || '_' || split_part(application_name, ':', 2) FROM pg_stat_activity"
                 " WHERE application_name LIKE {listeners} AND datname = current_database() ORDER BY random() LIMIT 1")
_PICK = "SELECT pg_notify(COALESCE((" + _LIVE_CHANNEL + "), {channel}), {lane})"
# The pick on a listener's own psycopg connection (a leaving listener passes a wake-up on).
PASS_ON = _PICK.format(channel="%(channel)s", listeners="%(listeners)s", lane="%(lane)s")
PASS_ON_PARAMS = {"channel": CHANNEL, "listeners": LISTENER_NAME + ":%"}

# Built once (the intake's hot path). Reading every connection's entry in pg_stat_activity cost
# each NOTIFY 85/170/250 us at 11/71/151 connections (bench/lane_pick.py), so a process keeps
# the list of live listeners (read at most every LISTENERS_FRESH_SECONDS) and the statement
# checks only the one it picked from it: that connection still there under its name, read at
# the same moment as the full pick was (a worker gone or leaving meanwhile is never chosen),
# else the full pick, else the shared channel. It returns the channel notified.
_LIVE_LISTENERS = text("SELECT pid, application_name FROM pg_stat_activity WHERE application_name LIKE :listeners AND datname = current_database()"
                       ).bindparams(listeners=LISTENER_NAME + ":%")
_NOTIFY_CHECKED = text(
    "SELECT c FROM (SELECT COALESCE((SELECT CAST(:picked AS text) FROM pg_stat_get_activity(:pid) AS s WHERE s.application_name = :name),"
    " (" + _LIVE_CHANNEL.format(channel=":channel", listeners=":listeners") + "), :channel) AS c OFFSET 0) AS pick, pg_notify(c, :lane)"
).bindparams(channel=CHANNEL, listeners=LISTENER_NAME + ":%")
NOTIFY = text(_PICK.format(channel=":channel", listeners=":listeners", lane=":lane")).bindparams(channel=CHANNEL, listeners=LISTENER_NAME + ":%")


class _Listeners:
    """The live listeners of one database as this process last read them: ((pid, application_name), ...) and when."""

    __slots__ = ("rows", "read_at")

    def __init__(self, rows=(), read_at: float = float("-inf")):
        self.rows, self.read_at = tuple(rows), read_at


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
    engine = conn.engine
    listeners = getattr(engine, "lane_listeners", None)
    if listeners is None or time.monotonic() - listeners.read_at > LISTENERS_FRESH_SECONDS:
        listeners = engine.lane_listeners = _Listeners(conn.execute(_LIVE_LISTENERS).all(), time.monotonic())
    if not listeners.rows:
        conn.execute(NOTIFY, {"lane": lane})  # none when last read: the full pick finds one that came up since
        return
    pid, name = random.choice(listeners.rows)
    picked = process_channel(name.split(":", 1)[1])
    if conn.execute(_NOTIFY_CHECKED, {"picked": picked, "pid": pid, "name": name, "lane": lane}).scalar() != picked:
        engine.lane_listeners = _Listeners(listeners.rows)  # that one is gone or leaving: read them again next time


def notify_now(engine: Engine, *lanes: str) -> None:
    """Wake the lanes at once, outside any transaction (the rows are committed already); a failure is logged, the lanes' polling finds the rows."""
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for lane in lanes:
                notify_in(conn, lane)
    except Exception as exc:  # noqa: BLE001 - the rows are committed: a missed wake-up only waits for the poll
        log.warning("could not notify the workers' %s lane(s): %s", ",".join(lanes), type(exc).__name__)

"""Waking the scaled-out workers' order lanes with PostgreSQL NOTIFY (one channel, the lane as payload).

A web process commits a row a worker's lane handles (a webhook in the inbox, a supplier
order to place) and tells the workers with `pg_notify`: inside the transaction that commits
the row where it can (no transaction of its own, and PostgreSQL delivers a notification
only on commit, so a wake-up never comes before its row), else in one autocommit statement.
Each worker's listener (scheduler/lane_listener.py) rings the lane's doorbell.
"""
from __future__ import annotations

import logging

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

CHANNEL = "dropship_lanes"
ORDERS = "orders"  # the inbox's orders lane (every Shopify topic but the way back)
WAY_BACK = "way-back"  # suppliers' events and Shopify's fulfillment webhooks
FORWARDING = "forwarding"  # supplier orders to place or cancel, order changes to pass on
LANES = (ORDERS, WAY_BACK, FORWARDING)

NOTIFY = select(func.pg_notify(CHANNEL, bindparam("lane")))  # built once (the intake's hot path)


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

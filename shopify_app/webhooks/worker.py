"""The inbox worker: claims due deliveries with a lease, runs their handler, retries, dead-letters."""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import Integer, and_, bindparam, case, exists, literal, literal_column, or_, select, update
from sqlalchemy.orm import sessionmaker

from ..config import Settings
from ..models import InboxStatus, Shop, ShopStatus, WebhookDelivery, utcnow
from ..db import read_only, reading
from ..jobs.order_holds import hold_orders, lease_owner, not_held_elsewhere, order_key_of
from ..jobs.stopping import release_unstarted
from ..server.logs import bound
from .handled_alike import Riders, group_alike
from .inbox import wait_for_install
from .registry import COMPLIANCE_TOPICS, WebhookContext, handler_for, lazily_leased_topics, leases_when_calling_out, prefetch_for, serial_key

log = logging.getLogger(__name__)

LEASE_SECONDS = 60
FOLLOW_UP_LEASE_SECONDS = 600  # a handler's after-commit calls: gateway retries and supplier calls, each time-capped
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 3600.0


# The inbox bookkeeping of every delivery (claim, read, finish) as Core statements built once:
# building an expression, its cache key and an ORM load/flush per row cost more CPU than the SQL.
INBOX = WebhookDelivery.__table__
_DUE = and_(
    # A literal, not a parameter: a planner can prove the partial index on pending rows
    # (ix_webhook_inbox_pending) applies from the statement alone, also for a generic (prepared) plan.
    INBOX.c.status == literal_column(f"'{InboxStatus.PENDING.value}'"),
    INBOX.c.next_attempt_at <= bindparam("now"),
    or_(INBOX.c.lease_until.is_(None), INBOX.c.lease_until < bindparam("now")),
)
SHOPS = Shop.__table__
_ROW_COLUMNS = (INBOX.c.id, INBOX.c.topic, INBOX.c.shop_domain, INBOX.c.webhook_id, INBOX.c.api_version, INBOX.c.lease_owner)
# A row read with its shop's status in one statement (outer join: compliance topics come for shops we do not know).
_WITH_SHOP = INBOX.outerjoin(SHOPS, SHOPS.c.domain == INBOX.c.shop_domain)
_ROW_WITH_BODY = select(*_ROW_COLUMNS, INBOX.c.body, SHOPS.c.status.label("shop_status")).select_from(_WITH_SHOP).where(INBOX.c.id == bindparam("delivery_id"))
# The write transaction's only read: is the row still ours, and is its shop (still) installed.
_OWNER_AND_SHOP = select(INBOX.c.lease_owner, SHOPS.c.status.label("shop_status")).select_from(_WITH_SHOP).where(INBOX.c.id == bindparam("delivery_id"))
# A topic without a prefetch is claimed in its own write transaction: still due (not handled or
# leased meanwhile), read with its body and shop status. On PostgreSQL the row is locked, and a
# row another worker is handling right now is skipped (SKIP LOCKED: drains side by side spread
# over a burst instead of queueing on each other's rows); SQLite's write transaction is exclusive.
_TAKE_IN_WRITE = (select(*_ROW_COLUMNS, INBOX.c.body, SHOPS.c.status.label("shop_status")).select_from(_WITH_SHOP)
                  .where(INBOX.c.id == bindparam("delivery_id"), _DUE).with_for_update(of=INBOX, skip_locked=True))
# A prefetch that leases only when it calls out (registry: lease_when_calling_out) reads the
# row itself, and the write transaction then takes it like a topic without a prefetch.
_STILL_DUE_AND_SHOP = (select(INBOX.c.lease_owner, SHOPS.c.status.label("shop_status")).select_from(_WITH_SHOP)
                       .where(INBOX.c.id == bindparam("delivery_id"), _DUE).with_for_update(of=INBOX, skip_locked=True))
_LEASE_IF_DUE = (update(INBOX).where(INBOX.c.id == bindparam("delivery_id"), _DUE)
                 .values(lease_owner=bindparam("owner"), lease_until=bindparam("until")).returning(INBOX.c.id))
_LEASE = update(INBOX).where(INBOX.c.id == bindparam("delivery_id")).values(lease_owner=bindparam("owner"), lease_until=bindparam("until"))
_FINISH = update(INBOX).where(INBOX.c.id == bindparam("delivery_id")).values(
    status=bindparam("new_status"), processed_at=bindparam("at"), lease_owner=None, lease_until=None, attempts=INBOX.c.attempts + 1)
_FINISH_WAITING = update(INBOX).where(INBOX.c.id == bindparam("delivery_id")).values(status=InboxStatus.WAITING.value, lease_owner=None, lease_until=None)
# After the follow-up calls: finished only if the row is still ours (the ownership check is the UPDATE's own WHERE).
_FINISH_IF_OURS = _FINISH.where(INBOX.c.lease_owner == bindparam("owner"))
_FINISH_WAITING_IF_OURS = _FINISH_WAITING.where(INBOX.c.lease_owner == bindparam("owner"))
# A delivery that changes nothing (worker._settle), finished by one statement: still ours or still
# due, and its shop installed (a shop installing or gone takes the write transaction's way).
_SETTLE = update(INBOX).where(INBOX.c.id == bindparam("delivery_id"), exists().where(
    SHOPS.c.domain == INBOX.c.shop_domain, SHOPS.c.status == literal_column(f"'{ShopStatus.INSTALLED.value}'"))).values(
    status=InboxStatus.DONE.value, processed_at=bindparam("at"), lease_owner=None, lease_until=None, attempts=INBOX.c.attempts + 1)
_SETTLE_IF_DUE = _SETTLE.where(_DUE)
_SETTLE_IF_OURS = _SETTLE.where(INBOX.c.status == literal_column(f"'{InboxStatus.PENDING.value}'"), INBOX.c.lease_owner == bindparam("owner"))
_NOTE = update(INBOX).where(INBOX.c.id == bindparam("delivery_id")).values(last_error=bindparam("note"))
_INSTALLED = ShopStatus.INSTALLED.value


class Claimed(NamedTuple):
    """A delivery this worker claimed: what its handler needs, read once by the claim itself (body included).

    `body` None: a topic without a prefetch, not leased; it is claimed in its write transaction.
    """

    id: int
    topic: str
    shop_domain: str
    webhook_id: str | None
    api_version: str | None
    body: str | None
    shop_status: str | None  # the shop's status when the row was claimed (None: a shop we do not know)
    payload: object = None  # the body parsed already (by a claim that held the delivery's order), else None
    looked: tuple | None = None  # an unleased row's (webhook_id, api_version, body) as the look read them (its prefetch needs no read of the row)


class Look(NamedTuple):
    """What one claim did: the deliveries won, how many were due for this worker, how many it gave back (their order held elsewhere)."""

    claimed: list[Claimed]
    seen: int
    given_back: int


class _LeaseLost(Exception):
    """Another worker leased or handled the delivery while this one's prefetch was about to call out."""


class PoisonPayload(Exception):
    """Input that no retry can fix (e.g. a body that is not JSON): dead-letter at once."""


def retry_delay(attempts: int, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**attempts))."""
    return rng.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempts))


@dataclass
class DrainReport:
    """What one pass over the inbox did."""

    done: int = 0
    ignored: int = 0
    retried: int = 0
    dead: int = 0
    waiting: int = 0  # kept for a shop whose install has not completed
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        """Rows this pass took to a decision or a retry."""
        return self.done + self.ignored + self.retried + self.dead + self.waiting


class InboxWorker:
    """Drains the webhook inbox through the topic -> handler registry."""

    def __init__(self, session_factory: sessionmaker, settings: Settings, services=None, rng=None, *, topics: tuple[str, ...] = (), other_topics: bool = True,
                 in_hand: InHand | None = None, lease_on_claim: bool = False, process: str | None = None):
        """`topics` with `other_topics=False`: only those topics (a lane); with True: all but those. `in_hand`: shared by a lane's workers.

        `lease_on_claim`: lease every delivery the claim wins, also those of topics that are
        otherwise taken in their write transaction (scaled-out workers: other processes look at
        the same rows, and an unleased row is read, prefetched and tried by each of them). On
        PostgreSQL the claim then also holds the rows' orders for this process (jobs/order_holds.py).
        `process`: the process id this worker's lease owner starts with (default this OS process's).
        """
        self.in_hand = in_hand if in_hand is not None else InHand()
        self.lease_on_claim = lease_on_claim
        self.session_factory = session_factory
        self.topics = tuple(topics)
        self.other_topics = other_topics
        self.read_session_factory = read_only(session_factory)  # prefetches never wait for (or hold) the writer
        # The lane's own statements run on plain connections: an ORM Session around one Core
        # statement doubled its cost (about 35 us of session set-up and close per use).
        self.engine = session_factory.kw["bind"]
        self.read_engine = reading(self.engine)
        self.settings = settings
        self.services = services
        self.owner = lease_owner(process)
        self.holds_orders = lease_on_claim and self.engine.dialect.name == "postgresql"
        self.rng = rng or random.Random()
        self.stopping = threading.Event()  # set at shutdown: the drain stops between rows
        self.beat = lambda: None  # the pump's heartbeat: called per row, so a long busy pass is not "stuck"
        self.on_backlog = lambda: None  # a look found a full batch: the lane rings a sibling thread to help
        due = _DUE
        if self.topics:
            # The lane's topics (names from the code) as plain parameters, not an expanding IN: that one is
            # rendered into the SQL again at every execution (tens of us a look), like the LIMIT below.
            topics = [literal(topic) for topic in self.topics]
            due = and_(due, INBOX.c.topic.not_in(topics) if self.other_topics else INBOX.c.topic.in_(topics))
        # The look also reads each candidate's shop status (the prefetch's "is it installed", no
        # statement of its own); the write transaction checks it again. Holding orders, it
        # passes over the rows it gave back to another live process holding their order.
        look = and_(due, not_held_elsewhere(self.owner)) if self.holds_orders else due
        self._look_where = look
        self._looks: dict[int, object] = {}
        # One conditional UPDATE is the claim: rows another worker took meanwhile no longer
        # match and are not returned (RETURNING: SQLite >= 3.35 and PostgreSQL). It returns what
        # the handler needs, the body too, so the row is not read again before the write.
        self._take = (update(INBOX).where(INBOX.c.id.in_(bindparam("ids", expanding=True)), due)
                      .values(lease_owner=bindparam("owner"), lease_until=bindparam("until"))
                      .returning(INBOX.c.id, INBOX.c.webhook_id, INBOX.c.api_version, INBOX.c.body))

    @functools.cached_property
    def _look(self):
        """The look's SELECT without its LIMIT (built on first use: the registry says which topics lease lazily)."""
        looked = ()
        lazy = sorted(lazily_leased_topics() if not self.topics else
                      (lazily_leased_topics() - set(self.topics) if self.other_topics else lazily_leased_topics() & set(self.topics)))
        if not self.lease_on_claim and lazy:
            # Without lease_on_claim the look also reads what an unleased row's prefetch needs, the body of
            # topics that lease only when calling out (orders/*): their prefetch then reads nothing of their
            # row again. Other topics' bodies are read where they are taken (lease_on_claim: the claim's UPDATE).
            body = case((INBOX.c.topic.in_([literal(topic) for topic in lazy]), INBOX.c.body), else_=None)
            looked = (INBOX.c.webhook_id, INBOX.c.api_version, body)
        return select(INBOX.c.id, INBOX.c.topic, INBOX.c.shop_domain, SHOPS.c.status, *looked).select_from(_WITH_SHOP).where(self._look_where).order_by(INBOX.c.id)

    def _candidates(self, batch_size: int):
        """The look for `batch_size` rows, built once per size.

        The LIMIT a number in the SQL, not a parameter: PostgreSQL costs a generic plan's LIMIT $n
        at 10 % of the rows, so it kept planning the look afresh (0.45 ms of planning beside 0.1 ms
        of running it at 7,000 pending rows: bench/inbox_lane.py). Written into the statement
        when built, not rendered at each execution (literal_execute): few batch sizes, a few statements.
        """
        statement = self._looks.get(batch_size)
        if statement is None:
            statement = self._looks[batch_size] = self._look.limit(literal_column(str(int(batch_size)), Integer))
        return statement

    def drain(self, batch_size: int = 100, max_batches: int = 100) -> DrainReport:
        """Process due deliveries until none are left (or the batch budget is spent)."""
        report = DrainReport()
        for _ in range(max_batches):
            claimed, seen, given_back = Look([], 0, 0) if self.stopping.is_set() else self._claim(batch_size)
            if not seen and not given_back:
                break
            if seen >= batch_size:  # rows given back are another process's work: no sibling rung for them
                self.on_backlog()
            # One order's deliveries that would be handled alike (orders/create and orders/paid of one snapshot): handled once.
            claimed, riders = group_alike(claimed)
            finished: set[int] = set()
            try:
                for n, row in enumerate(claimed):
                    if self.stopping.is_set():
                        release_unstarted(self.session_factory, WebhookDelivery, [row.id for row in claimed[n:]], self.owner)
                        return report
                    if row.id not in finished:
                        with bound(delivery_id=row.id, topic=row.topic, shop=row.shop_domain):
                            self._process(row.id, row.topic, report, row, riders.get(row.id))
                        finished.update(riders[row.id].done if row.id in riders else ())
                    self.in_hand.discard(row.id)
                    self.beat()
            finally:
                self.in_hand.discard_all(row.id for row in claimed)
            if seen + given_back < batch_size:
                # Fewer were due than a batch: no query just to find nothing. A delivery stored
                # since is not missed: its intake wakes the pump after its commit. (A full
                # look with rows given back looks again: the next look passes over them.)
                break
        return report

    def _claim(self, batch_size: int) -> Look:
        """(the due deliveries this worker won, how many were due for it when it looked, how many it gave back to their order's holder).

        Only deliveries whose topic has a prefetch are leased here (their network reads run
        outside any transaction); the others are claimed by their own write transaction, which
        saves a committed write per delivery.
        """
        now = utcnow()
        # Looked for without the write lock: an idle pass (most of them) never queues behind writers.
        with self.read_engine.connect() as conn:
            candidates = conn.execute(self._candidates(batch_size), {"now": now}).all()
        if not candidates:
            return Look([], 0, 0)
        to_lease = [candidate.id for candidate in candidates
                    if self.lease_on_claim or (prefetch_for(candidate.topic) is not None and not leases_when_calling_out(candidate.topic))]
        won, payloads, given_back = {}, {}, set()
        if to_lease:
            with self.engine.begin() as conn:
                won = {row.id: row for row in conn.execute(self._take, {
                    "ids": to_lease, "now": now, "owner": self.owner, "until": now + dt.timedelta(seconds=LEASE_SECONDS)})}
                if self.holds_orders:
                    payloads, given_back = self._hold_orders(conn, won, candidates, now)
        # Unleased rows a sibling thread of this process already holds in its batch are left to
        # it (as a lease would): no write transaction just to find them handled.
        leased = set(to_lease)
        mine = self.in_hand.take([candidate.id for candidate in candidates if candidate.id not in leased])
        claimed = []
        for delivery_id, topic, shop_domain, shop_status, *looked in candidates:
            if delivery_id in won:
                claimed.append(Claimed(delivery_id, topic, shop_domain, won[delivery_id].webhook_id, won[delivery_id].api_version, won[delivery_id].body, shop_status,
                                       payloads.get(delivery_id)))
            elif delivery_id in mine:
                claimed.append(Claimed(delivery_id, topic, shop_domain, None, None, None, shop_status, looked=tuple(looked) if looked else None))
        return Look(claimed, len(candidates) - len(given_back), len(given_back))

    def _hold_orders(self, conn, won: dict, candidates, now: dt.datetime) -> tuple[dict[int, object], set[int]]:
        """Hold the orders of the won rows for this process; drop from `won` the rows another process's hold gives back; (their parsed payloads, the ids given back)."""
        topics = {candidate.id: (candidate.topic, candidate.shop_domain) for candidate in candidates}
        keys, payloads = {}, {}
        for delivery_id, row in won.items():
            topic, shop_domain = topics[delivery_id]
            payload, key = order_key_of(topic, row.body)
            if key is not None:
                keys[delivery_id], payloads[delivery_id] = (shop_domain, key), payload
        given_back = hold_orders(conn, keys, self.owner, now)
        for delivery_id in given_back:
            del won[delivery_id]  # another process handles that order now: the row is its (it was told)
        return payloads, given_back

    def _process(self, delivery_id: int, topic: str, report: DrainReport, claimed: Claimed | None = None, riders: Riders | None = None) -> None:
        """Prefetch, handle and finish one delivery (`claimed`: what the claim read; None: read the row here; `riders`: finished with it when it is done).

        A topic whose prefetch leases only before calling out (registry: lease_when_calling_out)
        and that the claim did not lease reads its row here, and most of its deliveries read
        nothing from the network: no lease written, the write transaction takes the row the way
        a topic without a prefetch does.
        """
        try:
            if prefetch_for(topic) is None:
                if claimed is not None and claimed.body is not None:  # leased by the claim (lease_on_claim): handled and finished in one write
                    self._follow_up_and_count(delivery_id, self._write(claimed, True, riders=riders), report, riders)
                else:
                    self._process_in_one_write(delivery_id, report, riders)
                return
            lazy = leases_when_calling_out(topic) and (claimed is None or claimed.body is None)
            leased = [] if lazy else [True]
            if claimed is None and not lazy:  # a delivery not from this worker's claim (tests, tools): read what the claim would have
                claimed = self._read_claimed(delivery_id)
                if claimed is None:
                    return
            with contextlib.ExitStack() as turn:  # a one-at-a-time key's lock, held until the write committed
                with self.read_session_factory() as session:  # the row (when not claimed) and the prefetch's own reads: one read transaction
                    if lazy and claimed is not None and claimed.looked is not None:
                        claimed = claimed._replace(webhook_id=claimed.looked[0], api_version=claimed.looked[1], body=claimed.looked[2])
                    elif lazy:
                        row = session.connection().execute(_ROW_WITH_BODY, {"delivery_id": delivery_id}).first()
                        if row is None:
                            return
                        claimed = Claimed(row.id, row.topic, row.shop_domain, row.webhook_id, row.api_version, row.body, row.shop_status)
                    payload, prefetched = self._prefetch(claimed, turn, self._lease_before_calling_out(delivery_id, leased) if lazy else None, session)
                # Still in `turn`: the settling UPDATE runs before this process's next delivery of the key.
                written = self._settle(claimed, bool(leased), riders) if getattr(prefetched, "settled", False) else None
                if written is None:
                    written = self._write(claimed, bool(leased), payload, prefetched, riders)
            self._follow_up_and_count(delivery_id, written, report, riders)
        except _LeaseLost:
            return  # the other worker handles it
        except PoisonPayload as exc:
            self._record_failure(delivery_id, exc, report, poison=True)
        except Exception as exc:  # noqa: BLE001 - any handler failure is retried, never lost
            self._record_failure(delivery_id, exc, report, poison=False)

    def _lease_before_calling_out(self, delivery_id: int, leased: list):
        """The prefetch's `calling_out`: lease the row (once) before its first network call; _LeaseLost if another worker has it."""
        def lease() -> None:
            if leased:
                return
            now = utcnow()
            with self.engine.begin() as conn:
                won = conn.execute(_LEASE_IF_DUE, {"delivery_id": delivery_id, "now": now, "owner": self.owner,
                                                   "until": now + dt.timedelta(seconds=LEASE_SECONDS)}).first()
            if won is None:
                raise _LeaseLost()
            leased.append(True)
        return lease

    def _settle(self, claimed: Claimed, leased: bool, riders: Riders | None = None) -> tuple[InboxStatus, list] | None:
        """A delivery its prefetch found would change nothing (prefetched.settled): done by one conditional UPDATE, no handler run.

        The UPDATE's WHERE is what the write transaction would check (the lease still ours, or
        the row still due and nobody's; the shop installed). None when it matched nothing: the
        write transaction then decides (parks it, or leaves it to the worker that has it).
        """
        if claimed.topic in COMPLIANCE_TOPICS:
            return None
        now = utcnow()
        values = {"delivery_id": claimed.id, "at": now}
        if leased:
            values["owner"] = self.owner
        else:
            values["now"] = now
        with self.engine.begin() as conn:
            done = conn.execute(_SETTLE_IF_OURS if leased else _SETTLE_IF_DUE, values).rowcount == 1
            if done and riders is not None:
                riders.finish(conn, self.owner, now)
        return (InboxStatus.DONE, []) if done else None

    def _process_in_one_write(self, delivery_id: int, report: DrainReport, riders: Riders | None = None) -> None:
        """A topic without a prefetch: claim, handle and finish in one write transaction (a lease only for follow-up calls)."""
        follow_ups: list = []
        with self.session_factory.begin() as session:
            row = session.connection().execute(_TAKE_IN_WRITE, {"delivery_id": delivery_id, "now": utcnow()}).first()
            if row is None:
                return  # handled, leased or put off by another worker meanwhile
            outcome = self._handle_and_finish(session, row, row.shop_status, None, None, follow_ups, riders)
        self._follow_up_and_count(delivery_id, (outcome, follow_ups), report, riders)

    def _write(self, claimed: Claimed, leased: bool, payload=None, prefetched=None, riders: Riders | None = None) -> tuple[InboxStatus, list] | None:
        """The write transaction of a claimed delivery: (outcome, follow-up calls), or None when the row is no longer this worker's to handle.

        `leased`: one read checks the lease is still ours and the shop's status now (it may have
        changed since the claim); else the row must still be due and nobody's lease (handled,
        leased or put off meanwhile otherwise), locked by that read.
        """
        follow_ups: list = []
        with self.session_factory.begin() as session:
            if leased:
                state = session.connection().execute(_OWNER_AND_SHOP, {"delivery_id": claimed.id}).first()
                if state is None or state.lease_owner != self.owner:
                    return None  # the lease ran out and another worker has the row
            else:
                state = session.connection().execute(_STILL_DUE_AND_SHOP, {"delivery_id": claimed.id, "now": utcnow()}).first()
                if state is None:
                    return None
            return self._handle_and_finish(session, claimed, state.shop_status, payload, prefetched, follow_ups, riders), follow_ups

    def _follow_up_and_count(self, delivery_id: int, written: tuple[InboxStatus, list] | None, report: DrainReport, riders: Riders | None = None) -> None:
        """After a write (None: not ours any more): its follow-up calls, then the delivery (and the riders finished with it) counted."""
        if written is not None and self._follow_up(delivery_id, *written, riders=riders):
            _count(report, written[0])
            if riders is not None:
                report.done += riders.confirm()  # committed with it

    def _handle_and_finish(self, session, row, shop_status: str | None, payload, prefetched, follow_ups: list, riders: Riders | None = None) -> InboxStatus:
        """Run the handler in the write transaction; finish the row (and its riders when done) there, or lease it while follow-up calls are to run."""
        outcome = self._run_handler(session, row, shop_status, payload, prefetched, follow_ups)
        if not follow_ups:
            _finish(session, row.id, outcome)
            if riders is not None and outcome is InboxStatus.DONE:
                riders.finish(session.connection(), self.owner, utcnow())
        else:  # the row is ours while the calls run (they have bounded timeouts)
            session.connection().execute(_LEASE, {"delivery_id": row.id, "owner": self.owner, "until": utcnow() + dt.timedelta(seconds=FOLLOW_UP_LEASE_SECONDS)})
        return outcome

    def _follow_up(self, delivery_id: int, outcome: InboxStatus, follow_ups: list, riders: Riders | None = None) -> bool:
        """Network calls the handler asked for, now that its writes are committed and no lock is held; then finish the row.

        The delivery is done only once they all succeeded (a failure raises: retried). False when another worker holds the row now.
        """
        if not follow_ups:
            return True
        for call in follow_ups:
            call()
        with self.session_factory.begin() as session:
            finished = _finish(session, delivery_id, outcome, owner=self.owner)
            if finished and riders is not None and outcome is InboxStatus.DONE:
                riders.finish(session.connection(), self.owner, utcnow())
            return finished

    def _read_claimed(self, delivery_id: int) -> Claimed | None:
        """The row as a claim returns it, if this worker holds its lease."""
        with self.read_engine.connect() as conn:
            row = conn.execute(_ROW_WITH_BODY, {"delivery_id": delivery_id}).first()
        if row is None or row.lease_owner != self.owner:
            return None
        return Claimed(row.id, row.topic, row.shop_domain, row.webhook_id, row.api_version, row.body, row.shop_status)

    def _prefetch(self, row: Claimed, turn: contextlib.ExitStack, calling_out, session):
        """(payload, what the topic's prefetch read from Shopify/a supplier), on the caller's read-only session before any write lock.

        Nothing is read again for it: the claim returned the body and the shop's status (the
        write transaction checks both the lease and the status again). A topic handled one at a
        time per key waits here (in `turn`) for this process's other delivery with that key:
        then its prefetch sees what that one committed.
        """
        if handler_for(row.topic) is None or (row.topic not in COMPLIANCE_TOPICS and row.shop_status != _INSTALLED):
            return None, None  # the write phase ignores (or parks) the delivery
        payload = row.payload if row.payload is not None else _parse(row.body)
        key = serial_key(row.topic, payload)
        if key is not None:
            # No read snapshot kept while waiting: the prefetch then sees what the other delivery committed.
            turn.enter_context(_ONE_AT_A_TIME.hold((row.shop_domain, key), before_waiting=session.rollback))
        ctx = self._context(session, row, payload)
        if calling_out is not None:
            ctx.calling_out = calling_out
        return payload, prefetch_for(row.topic)(ctx)

    def _context(self, session, row, payload, prefetched=None, follow_ups=None) -> WebhookContext:
        return WebhookContext(
            session=session,
            settings=self.settings,
            shop_domain=row.shop_domain,
            topic=row.topic,
            payload=payload,
            delivery_id=row.id,
            webhook_id=row.webhook_id,
            api_version=row.api_version,
            services=self.services,
            prefetched=prefetched,
            follow_ups=follow_ups if follow_ups is not None else [],
        )

    def _run_handler(self, session, row: Claimed, shop_status: str | None, payload=None, prefetched=None, follow_ups=None) -> InboxStatus:
        """Run the topic's handler on the delivery (`payload`: parsed by the prefetch, else parsed from `row.body`)."""
        handler = handler_for(row.topic)
        if handler is None:
            session.connection().execute(_NOTE, {"delivery_id": row.id, "note": "no handler for topic"})
            return InboxStatus.IGNORED
        if row.topic not in COMPLIANCE_TOPICS and shop_status != _INSTALLED:
            # Rare (an install under way): the ORM row, whose body and note the parking may change.
            return wait_for_install(session, session.get(WebhookDelivery, row.id))
        handler(self._context(session, row, _parse(row.body) if payload is None else payload, prefetched, follow_ups))
        return InboxStatus.DONE

    def _record_failure(self, delivery_id: int, exc: Exception, report: DrainReport, poison: bool) -> None:
        # The handler's transaction was rolled back; record the failure in a new one.
        error = f"{type(exc).__name__}: {exc}"[:2000]
        with self.session_factory.begin() as session:
            row = session.get(WebhookDelivery, delivery_id)
            if row is None or row.status != InboxStatus.PENDING.value or row.lease_owner not in (None, self.owner):
                return  # another worker took (or finished) it since the rollback: its own outcome stands
            row.attempts += 1
            row.last_error = error
            row.lease_owner = row.lease_until = None
            if poison or row.attempts >= self.settings.webhook_max_attempts:
                row.status = InboxStatus.DEAD.value
                report.dead += 1
                log.error("webhook %s (%s) dead-lettered after %d attempts: %s", row.webhook_id, row.topic, row.attempts, type(exc).__name__)
            else:
                delay = retry_delay(row.attempts, self.rng)
                row.next_attempt_at = utcnow() + dt.timedelta(seconds=delay)
                report.retried += 1
                log.warning("webhook %s (%s) attempt %d failed (%s); retry in %.1fs", row.webhook_id, row.topic, row.attempts, type(exc).__name__, delay)
        report.errors.append(error)


class InHand:
    """Ids of unleased deliveries a lane's thread has in its batch: a lease kept in memory, shared by the lane's workers.

    Like a lease it runs out (after LEASE_SECONDS), so a thread stuck on one row does not keep
    the rest of its batch from its siblings; other processes meet in the write transaction.
    """

    def __init__(self, seconds: float = LEASE_SECONDS) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._until: dict[int, float] = {}

    def take(self, ids: list[int]) -> set[int]:
        """The ids among `ids` no sibling holds (or whose hold ran out), now held by the caller."""
        now = time.monotonic()
        with self._lock:
            free = {delivery_id for delivery_id in ids if self._until.get(delivery_id, 0.0) <= now}
            self._until.update(dict.fromkeys(free, now + self.seconds))
            return free

    def discard(self, delivery_id: int) -> None:
        """Give one id back."""
        with self._lock:
            self._until.pop(delivery_id, None)

    def discard_all(self, ids) -> None:
        """Give these ids back (those not given back already)."""
        with self._lock:
            for delivery_id in ids:
                self._until.pop(delivery_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._until)


def _count(report: DrainReport, outcome: InboxStatus) -> None:
    if outcome is InboxStatus.DONE:
        report.done += 1
    elif outcome is InboxStatus.WAITING:
        report.waiting += 1
    else:
        report.ignored += 1



class KeyedLocks:
    """One lock per key, made on first use and dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locks: dict = {}  # key -> [lock, holders and waiters]

    @contextlib.contextmanager
    def hold(self, key, before_waiting=lambda: None):
        """Hold the key's lock for the block; `before_waiting()` runs first when someone else holds it."""
        with self._lock:
            entry = self._locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            if not entry[0].acquire(blocking=False):
                before_waiting()
                entry[0].acquire()
            try:
                yield
            finally:
                entry[0].release()
        finally:
            with self._lock:
                entry[1] -= 1
                if not entry[1]:
                    del self._locks[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._locks)


_ONE_AT_A_TIME = KeyedLocks()  # process-wide: every lane thread and worker of this process


def one_order_at_a_time(shop_domain: str, order_gid: str):
    """Hold the lock the orders/* webhooks of this order take (see handlers.orders.order_key), for work outside the worker."""
    return _ONE_AT_A_TIME.hold((shop_domain, str(order_gid)[:100]))


def _parse(body: str):
    try:
        return json.loads(body)
    except RecursionError:  # a body nested past the parser's depth: no retry parses it
        raise PoisonPayload("body is not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise PoisonPayload(f"body is not valid JSON: {exc.msg} at char {exc.pos}") from None


def _finish(session, delivery_id: int, outcome: InboxStatus, owner: str | None = None) -> bool:
    """Record the delivery's outcome and give its lease up (in the caller's transaction); with `owner`, only if it still holds the lease."""
    session.flush()  # the handler's own changes first (a parked row's ORM changes among them)
    if outcome is InboxStatus.WAITING:  # not handled yet: no attempt spent, nothing processed
        statement, values = (_FINISH_WAITING if owner is None else _FINISH_WAITING_IF_OURS), {"delivery_id": delivery_id}
    else:
        statement, values = (_FINISH if owner is None else _FINISH_IF_OURS), {"delivery_id": delivery_id, "new_status": outcome.value, "at": utcnow()}
    if owner is not None:
        values["owner"] = owner
    return session.connection().execute(statement, values).rowcount == 1


def retry_dead_letter(session, delivery_id: int, shop_domain: str) -> bool:
    """Put a dead-lettered delivery of this shop back in the queue; False if not found."""
    result = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.shop_domain == shop_domain,
            WebhookDelivery.status == InboxStatus.DEAD.value,
        )
        .values(status=InboxStatus.PENDING.value, next_attempt_at=utcnow(), attempts=0)
    )
    return result.rowcount == 1

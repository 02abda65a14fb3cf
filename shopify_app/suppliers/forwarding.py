"""Forwarding supplier orders exactly once.

Every place attempt first commits the delivery as UNKNOWN (a new one in the transaction of
the claim that leases it), then calls the supplier. If we crash (or time out) between the
supplier's answer and our commit, the row is still UNKNOWN, and the next attempt asks the
supplier for our idempotency key before it would ever send the order again. Permanent
rejections are not retried; everything else backs fast, with jitter, then exponentially
(Retry-After is obeyed exactly) behind a per-supplier circuit breaker that probes a supplier
back (half-open) rather than waiting a fixed time. Calls run on a few threads with a cap per
supplier, so a slow supplier never holds them all.
"""
from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass, field, fields
from typing import Callable

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from integrations.suppliers.base import (
    CancellationRefused,
    OrderLine,
    OutcomeNeedsCheck,
    OutcomeUnknown,
    PlacementDeferred,
    PermanentSupplierError,
    PlaceOrder,
    SupplierAdapter,
    SupplierError,
    SupplierOrder as SupplierView,
    SupplierOrderNotFound,
    SupplierOrderStatus,
    TransientSupplierError,
)
from integrations.suppliers.registry import build_adapter
from integrations.suppliers.runtime import SupplierRef

from ..alerts import raise_alert
from ..crypto import SecretBox
from ..fulfillment.holds import blocking_fulfillment_order
from ..jobs.stopping import release_unstarted
from ..metrics.hooks import metered, watch_breaker
from ..models import utcnow
from ..server.logs import bind, bound
from ..orders.changes import address_digest
from ..orders.models import Order
from ..orders.routing import reroute_to_backup
from ..orders.timeline import record_event
from .credentials import RefreshingAdapter, can_refresh, current_store
from .amendments import lines_to_place, order_address, sent_quantities
from .models import BreakerEvent, DeliveryAttempt, DeliveryState, Supplier, SupplierOrder
from .resilience import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, SupplierSlots, Transition, retry_delay
from ..orders.timeline import insert_event
from .forwarding_sql import (
    ASK_FIRST, DELIVERY_TO_SEND, DUE, DUE_SKIPPING, EARLIEST_DUE,
    FORWARDED, INSERT_ATTEMPT, LEASE, LEASE_AND_STATE, LINES_TO_SEND,
    PLACED, PLACED_UNLESS_HELD, POSTPONED, RELEASE_LEASE, SENDING, SENT_QUANTITY,
    SUPPLIER_TO_SEND, WAITING,
)

log = logging.getLogger(__name__)

LEASE_SECONDS = 120
FRESH_CLAIM_SECONDS = 5.0  # a claim this recent still has its lease nearly whole: no renewal before starting
MAX_ATTEMPTS = 12  # with retry_delay's schedule: about 13 minutes of failures before giving up
PER_SUPPLIER_CALLS = 4  # calls in flight per supplier (SupplierSlots)
BATCH_GRACE_SECONDS = 120  # a batched order is asked after its slot plus this: the batch job usually placed it by then
THREADS = 8  # forwarding threads per worker: two slow suppliers still leave threads for the rest
IN_FLIGHT_POLL = 0.25  # seconds: while calls are in flight, how often finished calls are collected (and, unrung, new rows looked for)
IN_FLIGHT_RELOOK = 1.0  # seconds: with a doorbell, the look for rows nobody rang for (other processes', expired leases)
CLOSE_TIMEOUT = 10.0  # seconds: at shutdown, how long calls in flight are waited for (gunicorn's grace is 30)


def backoff(attempts: int, rng: random.Random) -> float:
    """The delay before the next try after `attempts` failed ones (see resilience.retry_delay)."""
    return retry_delay(attempts, rng)


@dataclass
class ForwardReport:
    """What one pass did."""

    placed: int = 0
    found_after_unknown: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    postponed: int = 0
    retried_ids: set = field(default_factory=set)  # scheduled for a retry: not claimed again in this drain

    def add(self, other: "ForwardReport") -> None:
        """Fold one delivery's report into this one."""
        for f in fields(self):
            if f.name == "retried_ids":
                self.retried_ids |= other.retried_ids
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


_adapters: dict[tuple, SupplierAdapter] = {}
_adapters_lock = threading.Lock()
_last_keys: dict[int, tuple] = {}  # supplier id -> (its kind, credentials and settings as last seen, their key)


def _adapter_key(supplier) -> tuple:
    """(id, kind, credentials, settings as sorted JSON): what an adapter is built from.

    Every placement asks; the settings (a Printful supplier's carries its product map) are
    serialized only when they differ from the last ones seen for that supplier (comparing
    them costs far less than the sorted dump, about 40 us an order).
    """
    settings = supplier.settings or {}
    last = _last_keys.get(supplier.id)
    if last is not None and last[0] == supplier.kind and last[1] == supplier.credentials_enc and last[2] == settings:
        return last[3]
    key = (supplier.id, supplier.kind, supplier.credentials_enc, json.dumps(settings, sort_keys=True))
    _last_keys[supplier.id] = (supplier.kind, supplier.credentials_enc, json.loads(key[3]), key)  # a copy: the caller's dict may change
    return key


def adapter_from_record(supplier: Supplier, box: SecretBox) -> SupplierAdapter:
    """The supplier's adapter, built once per (supplier, credentials, settings) and reused (`supplier`: the record, or a row of those columns and shop_domain).

    Adapters hold pooled HTTP clients; building one per call costs a TLS context (~50 ms
    of CPU) and a new connection every time (bench/order_flow.py measured 7 per order).
    """
    key = _adapter_key(supplier)
    with _adapters_lock:
        adapter = _adapters.get(key)
        if adapter is None:
            for stale in [k for k in _adapters if k[0] == supplier.id]:
                _adapters.pop(stale)  # credentials or settings changed
            credentials = json.loads(box.decrypt(supplier.credentials_enc)) if supplier.credentials_enc else {}
            owner = SupplierRef(supplier.shop_domain, supplier.id)  # scopes what the adapter keeps (the email sent log)
            adapter = build_adapter(supplier.kind, credentials, dict(supplier.settings or {}), owner)
            if can_refresh(adapter):  # tokens that expire: refreshed before expiry and once after a 401
                adapter = RefreshingAdapter(adapter, owner, supplier.kind, dict(supplier.settings or {}), credentials, supplier.credentials_enc, store=current_store())
            adapter = _adapters[key] = metered(adapter, supplier.kind)
        return adapter


def place_request(session: Session, delivery: SupplierOrder) -> tuple[PlaceOrder, str]:
    """What to send, and the digest of the address in it (what order changes are compared with)."""
    session.flush()  # the Core reads below see the session's own changes to the delivery
    _, _, request, digest = read_request(session, delivery.id)
    return request, digest


def read_request(session: Session, delivery_id: int):
    """(the delivery's row, its lines, the PlaceOrder, the digest of the address in it): the one builder of what a supplier gets.

    Core statements built once (no unit of work for the delivery, its lines with their mapped costs, and the order);
    removed lines (quantity 0) are left out of the request but returned (their sent quantity is 0).
    """
    delivery = session.execute(DELIVERY_TO_SEND, {"id": delivery_id}).one()
    lines = session.execute(LINES_TO_SEND, {"delivery": delivery_id, "shop": delivery.shop_domain, "supplier": delivery.supplier_id}).all()
    request = PlaceOrder(
        external_id=delivery.idempotency_key,
        shipping_address=order_address(delivery),
        lines=tuple(OrderLine(line_ref=str(line.id), supplier_sku=line.supplier_sku, quantity=line.quantity, name=line.title, retail_price=line.price,
                              unit_cost=line.unit_cost) for line in lines_to_place(lines)),
        currency=delivery.currency or "USD",
    )
    return delivery, lines, request, address_digest(delivery.shipping_address)


class ForwardingWorker:
    """Places, confirms and cancels supplier orders from the supplier_orders table."""

    def __init__(self, session_factory: sessionmaker, box: SecretBox, *, adapter_for: Callable[[Supplier], SupplierAdapter] | None = None, breaker: CircuitBreaker | None = None, rng: random.Random | None = None, max_attempts: int = MAX_ATTEMPTS, slots: SupplierSlots | None = None, threads: int = THREADS):
        from ..db import read_only

        self.session_factory = session_factory
        self.read_session_factory = read_only(session_factory)
        self.read_engine = self.read_session_factory.kw["bind"]
        self.write_engine = session_factory.kw["bind"]  # plain connections for the placing path's Core statements
        self.adapter_for = adapter_for or (lambda supplier: adapter_from_record(supplier, box))
        breaker = breaker or CircuitBreaker()
        if breaker.on_transition is None:
            breaker.on_transition = self._record_transition
        self.breaker = watch_breaker(breaker)  # its states show in /metrics (published on each transition)
        self.slots = slots or SupplierSlots(PER_SUPPLIER_CALLS)
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._in_flight: set = set()  # submitted deliveries not finished yet (close waits for them, bounded)
        self.rng = rng or random.Random()
        self.max_attempts = max_attempts
        self.owner = uuid.uuid4().hex
        self.stopping = threading.Event()  # set at shutdown: the drain stops between rows
        self.beat: Callable[[], None] = lambda: None  # the pump's heartbeat: called on progress, so a long busy pass is not "stuck"
        # The pump's doorbell (set when this process makes a row due). With it, a drain with calls
        # in flight looks for new rows when rung, not every IN_FLIGHT_POLL (a read per look).
        self.rung: threading.Event | None = None
        self._left_behind = False  # the last look saw due rows it could not take (no thread, slot or batch room)

    def drain(self, batch_size: int = 50, max_batches: int = 20) -> ForwardReport:
        """Work every due delivery, a few at a time per supplier; return when nothing is due or in flight.

        While calls are in flight it keeps claiming what became due for suppliers with a free
        slot, so a slow supplier delays only its own orders. A delivery scheduled for a retry
        is not taken again in the same drain (the pump comes back when it is due).
        """
        report = ForwardReport()
        running: dict = {}
        budget = batch_size * max_batches
        pool = self._executor()
        look = True  # the first pass always looks
        last_look = 0.0
        while True:
            room = self.threads - len(running)  # claimed rows do not wait in the queue while their lease runs
            claimed = []
            if budget > 0 and room > 0 and not self.stopping.is_set() and (look or self._should_look(last_look)):
                if self.rung is not None:
                    self.rung.clear()  # cleared before the look: a ring after it is seen by the next one (or the pump's next pass)
                claimed = self._claim(min(batch_size, budget), report, room, {d for d, _ in running.values()})
                last_look = time.monotonic()
            look = False
            budget -= len(claimed)
            for n, (delivery_id, supplier_id, read) in enumerate(claimed):
                try:
                    # Submitted and counted in flight under one lock: a thread may reach its supplier
                    # call before submit returns (the claim already committed it), and close() must see it.
                    with self._pool_lock:
                        future = pool.submit(self._process_one, delivery_id, time.monotonic(), read)
                        self._in_flight.add(future)
                except RuntimeError:  # closed at shutdown while this pass claimed: give back what did not start
                    for _, unstarted, _ in claimed[n:]:
                        self.slots.give_back(unstarted)
                    release_unstarted(self.session_factory, SupplierOrder, [d for d, _, _ in claimed[n:]], self.owner)
                    self.stopping.set()
                    break
                running[future] = (delivery_id, supplier_id)
                future.add_done_callback(self._forget)
            if self.stopping.is_set():
                self._release_queued(running)
            if not running:
                return report
            done, _ = wait(running, timeout=IN_FLIGHT_POLL, return_when=FIRST_COMPLETED)
            for future in done:
                self.slots.give_back(running.pop(future)[1])
                report.add(future.result())
                self.beat()
            # A finished call frees a thread and a supplier slot: only worth a look when the last
            # look left due rows behind for want of one (or the lane was never told of new rows).
            look = bool(done) and (self._left_behind or self.rung is None)

    def _release_queued(self, running: dict) -> None:
        """At shutdown: deliveries claimed but not started go back (their leases released); calls in flight finish."""
        queued = [future for future in running if future.cancel()]
        ids = []
        for future in queued:
            delivery_id, supplier_id = running.pop(future)
            self.slots.give_back(supplier_id)
            ids.append(delivery_id)
        release_unstarted(self.session_factory, SupplierOrder, ids, self.owner)

    def _should_look(self, last_look: float) -> bool:
        """While calls are in flight: look for due rows when rung (new rows in this process), else every IN_FLIGHT_RELOOK seconds.

        Without a doorbell (a procrastinate worker) it looks every IN_FLIGHT_POLL, as rows of
        other processes are only found by looking.
        """
        if self.rung is None or self.rung.is_set():
            return True
        return time.monotonic() - last_look >= IN_FLIGHT_RELOOK

    def next_due_in(self) -> float | None:
        """Seconds until the earliest waiting delivery is due (0 if one is due now), None when none waits."""
        with self.read_engine.connect() as connection:
            earliest = connection.execute(EARLIEST_DUE).scalar()
        if earliest is None:
            return None
        return max(0.0, (earliest - utcnow()).total_seconds())

    def close(self, timeout: float = CLOSE_TIMEOUT) -> bool:
        """Stop the threads: wait up to `timeout` s for the calls in flight; True when none was left running.

        A call still running then is not waited for (a supplier may hang up to its own time
        cap): its delivery stays UNKNOWN under its lease and is looked up before any resend.
        """
        with self._pool_lock:
            pool, self._pool = self._pool, None
            in_flight = list(self._in_flight)
        if pool is None:
            return True
        _, still_running = wait(in_flight, timeout=timeout)
        pool.shutdown(wait=False, cancel_futures=True)
        if still_running:
            log.warning("forwarding stopped with %d supplier call(s) still in flight", len(still_running))
        return not still_running

    def _forget(self, future) -> None:
        with self._pool_lock:
            self._in_flight.discard(future)

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="forwarding")
            return self._pool

    def _process_one(self, delivery_id: int, claimed_at: float | None = None, read: "_Read | None" = None) -> ForwardReport:
        """Work one claimed delivery (`read`: what the claim read and, for a new one, committed UNKNOWN; None: read here)."""
        report = ForwardReport()
        # A thread that starts right after the claim holds a lease that is still nearly whole:
        # renewing it would be one more write transaction per order for nothing. (Sending is
        # guarded by the lease owner check in `_place` either way.)
        fresh = claimed_at is not None and time.monotonic() - claimed_at < FRESH_CLAIM_SECONDS
        if not fresh and not self._renew_lease(delivery_id):
            return report  # its lease ran out before a thread was free, and another worker took it
        try:
            with bound(supplier_order_id=delivery_id):
                self._process(delivery_id, report, read)
        except Exception:  # noqa: BLE001 - the lease expires and the row is retried
            log.exception("forwarding delivery %s crashed", delivery_id)
        return report

    def _renew_lease(self, delivery_id: int) -> bool:
        """A full lease from the moment a thread starts the delivery; False when it is no longer ours."""
        with self.session_factory.begin() as session:
            return session.execute(
                update(SupplierOrder).where(SupplierOrder.id == delivery_id, SupplierOrder.lease_owner == self.owner)
                .values(lease_until=utcnow() + dt.timedelta(seconds=LEASE_SECONDS))
            ).rowcount == 1

    # -- claiming -------------------------------------------------------------------------

    def _claim(self, limit: int, report: ForwardReport, room: int | None = None, running: set = frozenset()) -> list[tuple[int, int, "_Read | None"]]:
        """Lease up to `limit` due deliveries whose supplier has a free slot and a breaker that lets calls through: (id, supplier id, its read).

        In the same transaction each leased delivery is read for its send, and a new one is
        committed UNKNOWN (see `_read_won`); one held meanwhile is postponed and not returned.

        Deliveries of a supplier whose breaker is open are moved to when it will probe again
        (counted as time waited because of the breaker); half-open, only the probes are taken.
        """
        now = utcnow()
        # Plain connections for the claim's Core statements: through a Session, each also went
        # through the ORM's statement handling (an ORM UPDATE evaluates its criteria against the
        # identity map), more CPU than the SQL (issue 19 part C).
        with self.read_engine.connect() as connection:
            skip = report.retried_ids | running  # in flight or queued here: never claimed twice by one drain
            rows = connection.execute(DUE_SKIPPING if skip else DUE, {"now": now, "limit": limit, "skip": list(skip)} if skip else {"now": now, "limit": limit}).all()
        self._left_behind = len(rows) >= limit  # and below: any due row not taken (no thread, slot or probe free)
        if not rows:
            return []
        chosen, blocked, probes = [], {}, set()
        for delivery_id, supplier_id in rows:
            if room is not None and len(chosen) >= room:
                break
            if supplier_id in blocked or not self.slots.free(supplier_id):
                continue
            probing = self.breaker.state(supplier_id) != CLOSED
            wait_for = self.breaker.acquire(supplier_id)
            if wait_for:
                blocked[supplier_id] = wait_for
                continue
            if self.slots.take(supplier_id):
                chosen.append((delivery_id, supplier_id))
                if probing:
                    probes.add(delivery_id)
            elif probing:
                self.breaker.give_back_probe(supplier_id)
        self._left_behind = self._left_behind or len(chosen) < len(rows)
        # Asked before the transaction: a state change is recorded in a transaction of its own.
        parked = {supplier_id: wait_for for supplier_id, wait_for in blocked.items() if self.breaker.state(supplier_id) == OPEN}
        claimed = []
        if not chosen and not parked:
            return claimed
        with self.write_engine.begin() as connection:
            if chosen:
                won = set(connection.execute(LEASE, {"ids": [d for d, _ in chosen], "now": now, "owner": self.owner,
                                                      "until": now + dt.timedelta(seconds=LEASE_SECONDS)}).scalars().all())
                suppliers: dict = {}
                for delivery_id, supplier_id in chosen:
                    read = self._read_won(connection, delivery_id, report, suppliers) if delivery_id in won else _NOT_WON
                    if read is None or not read.stop:
                        claimed.append((delivery_id, supplier_id, read))  # None: its thread reads it (and fails it alone)
                        continue
                    self.slots.give_back(supplier_id)  # another worker took it, or nothing may be sent (held meanwhile)
                    if delivery_id in probes:
                        self.breaker.give_back_probe(supplier_id)  # its probe never went: another may
            for supplier_id, wait_for in parked.items():
                # Nothing goes before the breaker probes again: park them until then.
                due = and_(WAITING, SupplierOrder.next_attempt_at <= now, or_(SupplierOrder.lease_until.is_(None), SupplierOrder.lease_until < now))
                report.postponed += connection.execute(
                    update(SupplierOrder).where(due, SupplierOrder.supplier_id == supplier_id)
                    .values(next_attempt_at=now + dt.timedelta(seconds=wait_for), breaker_wait_ms=SupplierOrder.breaker_wait_ms + int(wait_for * 1000))
                ).rowcount
        return claimed

    def _read_won(self, connection, delivery_id: int, report: ForwardReport, suppliers: dict) -> "_Read | None":
        """In the claim's transaction: read a delivery just leased and, if it was never sent, commit it UNKNOWN with what it sends.

        The lease and the UNKNOWN write share one commit (they were two, plus a read transaction):
        a crash after it leaves the row UNKNOWN, so the next attempt looks the order up by its
        external id before sending (one lookup call, on recovery only). A row whose read fails
        in Python (bad data) goes to its thread unread, which fails it alone as before.
        """
        try:
            return self._read_and_mark(connection, delivery_id, report, suppliers)
        except DBAPIError:
            raise  # the transaction is spoilt: the whole claim rolls back, its leases with it
        except Exception:  # noqa: BLE001 - isolated to this row, as a crash in its thread is
            log.exception("forwarding delivery %s could not be read in the claim", delivery_id)
            return None

    def _record_transition(self, change: Transition) -> None:
        """Keep the breaker's change for the supplier page (its own short transaction, no call inside)."""
        with self.session_factory.begin() as session:
            shop = session.scalar(select(Supplier.shop_domain).where(Supplier.id == change.supplier_id))
            if shop is None:
                return
            session.add(BreakerEvent(shop_domain=shop, supplier_id=change.supplier_id, old_state=change.old, state=change.new,
                                     reason=change.reason[:255], at=dt.datetime.fromtimestamp(change.wall, dt.timezone.utc)))
            if change.old == HALF_OPEN and change.new == CLOSED:
                # The supplier answers again: what waited for it (timeouts to look up first) goes now.
                now = utcnow()
                session.execute(update(SupplierOrder).where(WAITING, SupplierOrder.supplier_id == change.supplier_id, SupplierOrder.next_attempt_at > now,
                                                            SupplierOrder.lease_until.is_(None)).values(next_attempt_at=now))

    # -- one delivery -----------------------------------------------------------------------

    def _process(self, delivery_id: int, report: ForwardReport, read: "_Read | None" = None) -> None:
        if read is None:
            with self.write_engine.begin() as connection:
                read = self._read_and_mark(connection, delivery_id, report)
        if read.stop:
            return  # not ours any more, held, or no longer to send: nothing is sent
        delivery, supplier, sent, request, attempts = read.delivery, read.supplier, read.sent, read.request, read.attempts
        bind(shop=delivery.shop_domain, supplier_id=delivery.supplier_id, order_id=delivery.order_id)  # log context (reset by the drain loop)
        gone = supplier.deleted_at is not None or not supplier.active
        if gone:
            self._fail(delivery_id, "supplier was deleted or deactivated", report, kind="supplier_gone")
            return
        # Built (or taken from the cache) after the commit: no supplier setup inside the write transaction.
        adapter = self.adapter_for(supplier)
        if attempts is not None:
            self._place(adapter, supplier, sent, request, report, attempts=attempts)
            return
        if delivery.state == DeliveryState.CANCEL_REQUESTED.value:
            self._cancel(adapter, supplier, delivery_id, delivery.supplier_order_id, request.external_id, report)
            return
        found = self._lookup(adapter, supplier, delivery_id, request.external_id)  # UNKNOWN: ask before sending again
        if isinstance(found, _LookupFailed):
            self._retry_later(delivery_id, report, unknown=True, retry_after=found.retry_after)
            return
        # A draft (PENDING) means the create landed but the confirmation did not: the
        # adapter finishes that order (Printful: one confirmation call) without a second one.
        if found is not None and found.status is not SupplierOrderStatus.PENDING:
            self._placed(sent, found, report, after_unknown=True, supplier_name=supplier.name)
            return
        self._place(adapter, supplier, sent, request, report, draft=found)

    def _read_and_mark(self, connection, delivery_id: int, report: ForwardReport, suppliers: dict | None = None) -> "_Read":
        """In the caller's write transaction: read what the send needs and, for a delivery never sent, commit it UNKNOWN.

        Core statements on a plain connection (no Session, no unit of work). One transaction
        for the read, the holds check and the UNKNOWN write (they were three, issue 19). A
        delivery already UNKNOWN (or to cancel) is only read: its supplier is asked first.
        `suppliers`: supplier rows already read in this transaction, by id.
        """
        delivery, lines, request, sent_digest = read_request(connection, delivery_id)
        supplier = suppliers.get(delivery.supplier_id) if suppliers is not None else None
        if supplier is None:
            # The supplier as a Core row of the columns used here (adapter_from_record takes one):
            # an ORM load of the whole record cost more CPU than the statement (issue 19 session 31).
            supplier = connection.execute(SUPPLIER_TO_SEND, {"id": delivery.supplier_id}).one()
            if suppliers is not None:
                suppliers[supplier.id] = supplier
        sent = _Sent(delivery_id, delivery.shop_domain, delivery.order_id, delivery.supplier_id, tuple(line.id for line in lines), sent_digest,
                     frozenset(line.shopify_line_id for line in lines))
        attempts = None
        gone = supplier.deleted_at is not None or not supplier.active
        if not gone and delivery.state not in ASK_FIRST:
            attempts = self._mark_sending(connection, sent, request, delivery, supplier.name, report)
            if attempts is None:
                return _Read(delivery, supplier, sent, request, None, stop=True)
        return _Read(delivery, supplier, sent, request, attempts)

    def _mark_sending(self, connection, sent: "_Sent", request: PlaceOrder, held, supplier_name: str, report: ForwardReport) -> int | None:
        """In the caller's write transaction: commit "we may have sent it" (UNKNOWN, what is sent) before sending; the try's number, None when nothing may be sent.

        `held`: the row's lease_owner and state read in this transaction. A crash from the
        commit on leaves UNKNOWN: the next attempt looks the order up before sending again.
        """
        delivery_id = sent.delivery_id
        if held.lease_owner != self.owner:
            return None  # the lease ran out (a slow lookup, a long queue) and another worker has it: it sends, not us
        if held.state not in (DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value):
            # Held in Shopify (or cancelled) since we read it: that word wins, nothing is sent.
            connection.execute(RELEASE_LEASE, {"delivery": delivery_id})
            report.postponed += 1
            return None
        blocked = blocking_fulfillment_order(connection, sent, sent.line_numbers)
        if blocked is not None:
            # Every path that sets PENDING/UNKNOWN (retries, backups, replacements, a resume by a
            # sibling fulfillment order) ends here: Shopify's current word on each fulfillment
            # order holding these lines is checked once, right before anything is sent.
            connection.execute(POSTPONED, {"delivery": delivery_id})
            insert_event(connection, sent.order_id, "supplier_order_postponed", "app", supplier=supplier_name,
                         because=f"fulfillment order {blocked.shopify_id} is held, not ours or not ready")
            report.postponed += 1
            return None
        # What the supplier gets (lines and address digest): order changes are compared with it.
        attempts = connection.execute(SENDING, {"delivery": delivery_id, "digest": sent.address_digest}).scalar_one()
        if sent.line_ids:
            connection.execute(SENT_QUANTITY, [{"line": line_id, "sent": quantity} for line_id, quantity in sent_quantities(request, sent.line_ids).items()])
        return attempts

    def _place(self, adapter, supplier, sent: "_Sent", request: PlaceOrder, report: ForwardReport, draft: SupplierView | None = None, attempts: int | None = None) -> None:
        """Send the order; `attempts`: the try's number when the caller already committed it UNKNOWN (else that is done here first)."""
        delivery_id = sent.delivery_id
        if attempts is None:
            # After a lookup: the lease and state are read again, in the transaction that marks it.
            with self.write_engine.begin() as connection:
                held = connection.execute(LEASE_AND_STATE, {"id": delivery_id}).one()
                attempts = self._mark_sending(connection, sent, request, held, supplier.name, report)
            if attempts is None:
                return
        started = time.monotonic()
        summary = {"external_id": request.external_id, "lines": [[l.supplier_sku, l.quantity] for l in request.lines]}
        if draft is not None:
            summary["resumed_draft"] = draft.supplier_order_id
        try:
            result = adapter.resume_order(draft, request) if draft is not None else adapter.place_order(request)
        # Each attempt's record is written with the state change it leads to: one commit, not two.
        except PermanentSupplierError as exc:
            attempt = _attempt_row(delivery_id, "place", "permanent", summary, started, error=exc)
            self._fail(delivery_id, f"supplier rejected the order: {exc}", report, kind="supplier_rejected", attempt=attempt)
            return
        except PlacementDeferred as exc:
            self._deferred(delivery_id, report, exc, _attempt_row(delivery_id, "place", "batched", summary, started, error=exc))
            return
        except OutcomeUnknown as exc:
            attempt = _attempt_row(delivery_id, "place", "unknown", summary, started, error=exc)
            if isinstance(exc, OutcomeNeedsCheck):
                # Only the supplier can tell, so the merchant asks them; the supplier did answer, so its breaker is left alone.
                with self.session_factory.begin() as session:
                    raise_alert(session, supplier.shop_domain, "supplier_outcome_unknown", f"supplier_outcome_unknown:{delivery_id}",
                                f"{supplier.name}: {exc}", severity="critical", subject=supplier.name)
            else:
                self._supplier_failed(supplier.id, exc)
            self._retry_later(delivery_id, report, unknown=True, attempts=attempts, retry_after=exc.retry_after, attempt=attempt)
            return
        except (TransientSupplierError, SupplierError) as exc:
            attempt = _attempt_row(delivery_id, "place", "transient", summary, started, error=exc)
            self._supplier_failed(supplier.id, exc)
            # 5xx after a POST may still have created it: stay UNKNOWN, look up first.
            self._retry_later(delivery_id, report, unknown=True, attempts=attempts, retry_after=getattr(exc, "retry_after", None), attempt=attempt)
            return
        self.breaker.success(supplier.id)
        self._placed(sent, result, report, supplier_name=supplier.name, attempt=_attempt_values(delivery_id, "place", "ok", summary, started,
                                                                     response={"supplier_order_id": result.supplier_order_id, "status": result.status.value}))

    def _lookup(self, adapter, supplier, delivery_id: int, external_id: str):
        started = time.monotonic()
        try:
            found = adapter.find_order(external_id)
        except SupplierError as exc:
            self._attempt(delivery_id, "lookup", "transient", {"external_id": external_id}, started, error=exc)
            self._supplier_failed(supplier.id, exc)
            return _LookupFailed(getattr(exc, "retry_after", None))
        self.breaker.success(supplier.id)
        outcome = "ok" if found else "not_found"
        self._attempt(delivery_id, "lookup", outcome, {"external_id": external_id}, started, response={"supplier_order_id": found.supplier_order_id} if found else {})
        return found

    def _cancel(self, adapter, supplier, delivery_id: int, supplier_order_id: str | None, external_id: str, report: ForwardReport) -> None:
        if supplier_order_id is None:
            found = self._lookup(adapter, supplier, delivery_id, external_id)
            if isinstance(found, _LookupFailed):
                self._retry_later(delivery_id, report, unknown=False, retry_after=found.retry_after)
                return
            if found is None:
                self._mark_cancelled(delivery_id, report, note="never reached the supplier")
                return
            supplier_order_id = found.supplier_order_id
        started = time.monotonic()
        try:
            adapter.cancel_order(supplier_order_id)
        except (CancellationRefused, SupplierOrderNotFound, PermanentSupplierError) as exc:
            self._attempt(delivery_id, "cancel", "permanent", {"supplier_order_id": supplier_order_id}, started, error=exc)
            with self.session_factory.begin() as session:
                delivery = session.get(SupplierOrder, delivery_id)
                delivery.state = DeliveryState.PLACED.value
                delivery.last_error = f"cancel refused: {exc}"
                delivery.lease_owner = delivery.lease_until = None
                order = session.get(Order, delivery.order_id)
                raise_alert(session, delivery.shop_domain, "cancel_refused", f"cancel_refused:{delivery.id}", f"Order {order.name}: {supplier.name} could not cancel ({exc}); stop or recall the shipment.", severity="critical", subject=order.name)
                record_event(session, order, "problem", "supplier", problem="cancel_refused", supplier=supplier.name)
            report.failed += 1
            return
        except SupplierError as exc:
            self._attempt(delivery_id, "cancel", "transient", {"supplier_order_id": supplier_order_id}, started, error=exc)
            self._supplier_failed(supplier.id, exc)
            self._retry_later(delivery_id, report, unknown=False, retry_after=getattr(exc, "retry_after", None))
            return
        self._attempt(delivery_id, "cancel", "ok", {"supplier_order_id": supplier_order_id}, started)
        self._mark_cancelled(delivery_id, report, note="cancelled at supplier")

    # -- state writes -----------------------------------------------------------------------

    def _placed(self, sent: "_Sent", result: SupplierView, report: ForwardReport, *, supplier_name: str, after_unknown: bool = False, attempt: dict | None = None) -> None:
        """Record the supplier's order: the attempt, the row, the timeline, the order's state (one transaction of Core statements on a plain connection)."""
        delivery_id = sent.delivery_id
        values = {"delivery": delivery_id, "now": utcnow(), "b_supplier_order_id": result.supplier_order_id, "b_status": result.status.value, "b_cost": result.cost}
        with self.write_engine.begin() as connection:
            if attempt is not None:
                connection.execute(INSERT_ATTEMPT, attempt)
            # A cancellation that arrived while we were placing wins: keep it queued (now with the
            # supplier's order id) so the next pass cancels what we just placed (the UPDATE moves
            # it due now). A shipment handled before this commit is not undone either. Held (or
            # moved away) in Shopify while we were sending: the supplier has it all the same, so
            # it is placed, and someone must stop it there. The UPDATE skips a held row, so the
            # usual case is one statement; a held one is found by its rowcount and written then.
            held_raced = connection.execute(PLACED_UNLESS_HELD, values).rowcount == 0
            if held_raced:
                connection.execute(PLACED, values)
            insert_event(connection, sent.order_id, "forwarded", "app", supplier=supplier_name, supplier_order_id=result.supplier_order_id,
                         recovered_after_unknown=after_unknown)
            if held_raced:
                with Session(bind=connection) as session:  # raise_alert works through a Session; it joins this transaction
                    order_name = session.scalar(select(Order.name).where(Order.id == sent.order_id))
                    raise_alert(session, sent.shop_domain, "hold_after_placement", f"hold_after_placement:{delivery_id}",
                                f"Order {order_name}: Shopify held it (or moved it away) while it was being sent, but {supplier_name} already has it: stop it at the supplier.",
                                severity="critical", subject=order_name)
                    session.flush()
            _update_order_state(connection, sent.order_id)
        if after_unknown:
            report.found_after_unknown += 1
        else:
            report.placed += 1

    def _mark_cancelled(self, delivery_id: int, report: ForwardReport, note: str) -> None:
        with self.session_factory.begin() as session:
            delivery = session.get(SupplierOrder, delivery_id)
            delivery.state = DeliveryState.CANCELLED.value
            delivery.lease_owner = delivery.lease_until = None
            record_event(session, session.get(Order, delivery.order_id), "supplier_cancelled", "app", supplier=delivery.supplier.name, note=note)
        report.cancelled += 1

    def _retry_later(self, delivery_id: int, report: ForwardReport, *, unknown: bool, attempts: int | None = None, retry_after: float | None = None,
                     attempt: DeliveryAttempt | None = None) -> None:
        with self.session_factory.begin() as session:
            if attempt is not None:
                session.add(attempt)
            delivery = session.get(SupplierOrder, delivery_id)
            if attempts is None:  # a failed lookup or cancel: a try too, so its retries back off as well
                delivery.attempts += 1
                attempts = delivery.attempts
            if delivery.state == DeliveryState.ON_HOLD.value:
                # Held in Shopify meanwhile: the hold's release resumes it (through UNKNOWN, so the
                # supplier is asked first); writing UNKNOWN here would send it while held.
                delivery.lease_owner = delivery.lease_until = None
                report.postponed += 1
                return
            if delivery.state != DeliveryState.CANCEL_REQUESTED.value:
                delivery.state = DeliveryState.UNKNOWN.value if unknown else DeliveryState.PENDING.value
            delivery.lease_owner = delivery.lease_until = None
            if attempts >= self.max_attempts and delivery.state != DeliveryState.CANCEL_REQUESTED.value:
                session.flush()
                self._fail_in(session, delivery, f"gave up after {attempts} attempts", kind="supplier_unreachable")
                report.failed += 1
                return
            delay = retry_delay(attempts, self.rng, retry_after)
            delivery.next_attempt_at = utcnow() + dt.timedelta(seconds=delay)
            delivery.backoff_wait_ms = (delivery.backoff_wait_ms or 0) + int(delay * 1000)
        report.retrying += 1
        report.retried_ids.add(delivery_id)

    def _deferred(self, delivery_id: int, report: ForwardReport, exc: PlacementDeferred, attempt: DeliveryAttempt) -> None:
        """Queued for the supplier's next batch (issue 15): UNKNOWN until its batch file is written, asked again after its slot; not a failed try."""
        with self.session_factory.begin() as session:
            session.add(attempt)
            delivery = session.get(SupplierOrder, delivery_id)
            delivery.attempts = max(0, delivery.attempts - 1)  # waiting for a slot is not a try: hours of waiting never exhaust max_attempts
            delivery.lease_owner = delivery.lease_until = None
            if delivery.state == DeliveryState.UNKNOWN.value:  # a cancellation or hold meanwhile keeps its own timing
                delivery.next_attempt_at = utcnow() + dt.timedelta(seconds=max(exc.retry_after or 0, 0) + BATCH_GRACE_SECONDS)
        report.postponed += 1

    def _supplier_failed(self, supplier_id: int, exc: Exception) -> None:
        """A transient failure for the breaker; a Retry-After holds every call to that supplier until then."""
        self.breaker.failure(supplier_id)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            self.breaker.pause(supplier_id, retry_after)

    def _fail(self, delivery_id: int, reason: str, report: ForwardReport, kind: str, attempt: DeliveryAttempt | None = None) -> None:
        with self.session_factory.begin() as session:
            if attempt is not None:
                session.add(attempt)
            self._fail_in(session, session.get(SupplierOrder, delivery_id), reason, kind)
        report.failed += 1

    def _fail_in(self, session: Session, delivery: SupplierOrder, reason: str, kind: str) -> None:
        delivery.state = DeliveryState.FAILED.value
        delivery.last_error = reason[:2000]
        delivery.lease_owner = delivery.lease_until = None
        order = session.get(Order, delivery.order_id)
        record_event(session, order, "problem", "app", problem=kind, supplier=delivery.supplier.name)
        session.flush()
        backups = reroute_to_backup(session, delivery)
        left = len(delivery.lines)
        if backups and not left:
            raise_alert(session, delivery.shop_domain, kind, f"{kind}:{delivery.id}", f"Order {order.name}: {delivery.supplier.name} failed ({reason}); sent to backup {', '.join(sorted(set(backups)))} instead.", severity="warning", subject=order.name)
            return
        raise_alert(session, delivery.shop_domain, kind, f"{kind}:{delivery.id}", f"Order {order.name}: not forwarded to {delivery.supplier.name}: {reason}", severity="critical", subject=order.name)

    def _attempt(self, delivery_id: int, action: str, outcome: str, request: dict, started: float, *, response: dict | None = None, error: Exception | None = None) -> None:
        with self.session_factory.begin() as session:
            session.add(_attempt_row(delivery_id, action, outcome, request, started, response=response, error=error))


def _attempt_values(delivery_id: int, action: str, outcome: str, request: dict, started: float, *, response: dict | None = None, error: Exception | None = None) -> dict:
    """One try's record: what was asked (no personal data), what came back, how long."""
    elapsed = time.monotonic() - started
    return {
        "supplier_order_id": delivery_id,
        "action": action,
        "outcome": outcome,
        "request": request,
        "response": response or {},
        "error": f"{type(error).__name__}: {error}"[:1000] if error else None,
        "duration_ms": int(elapsed * 1000),
        "started_at": utcnow() - dt.timedelta(seconds=elapsed),  # recorded after the call: when it began
    }


def _attempt_row(delivery_id: int, action: str, outcome: str, request: dict, started: float, *, response: dict | None = None, error: Exception | None = None) -> DeliveryAttempt:
    """One try's record as a row to add to a session."""
    return DeliveryAttempt(**_attempt_values(delivery_id, action, outcome, request, started, response=response, error=error))


@dataclass(frozen=True)
class _Sent:
    """What _place needs of a delivery read before the call (duck-types the delivery for blocking_fulfillment_order)."""

    id: int
    shop_domain: str
    order_id: int
    supplier_id: int
    line_ids: tuple[int, ...]
    address_digest: str
    line_numbers: frozenset[str]  # the Shopify line ids of its lines (what the holds check compares fulfillment orders with)

    @property
    def delivery_id(self) -> int:
        return self.id


@dataclass(frozen=True)
class _Read:
    """A delivery as read for its send: `attempts` set when it was just committed UNKNOWN (send now); `stop` when nothing may be sent."""

    delivery: object  # the DELIVERY_TO_SEND row
    supplier: object  # the SUPPLIER_TO_SEND row
    sent: _Sent
    request: PlaceOrder
    attempts: int | None
    stop: bool = False


_NOT_WON = _Read(None, None, None, None, None, stop=True)  # a leased row another worker took first


@dataclass(frozen=True)
class _LookupFailed:
    retry_after: float | None


def _update_order_state(connection, order_id: int) -> None:
    """A routed order whose every supplier order is placed (or beyond) is forwarded (one conditional UPDATE; a Session or a Connection)."""
    connection.execute(FORWARDED, {"order": order_id, "now": utcnow()})

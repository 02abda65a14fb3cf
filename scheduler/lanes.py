"""The order lanes: the inbox's orders lane and way back, and the forwarding pump, as threads of one process.

Both the embedded scheduler (web process, SQLite or PostgreSQL) and a scaled-out worker
(`cli worker`) run them: every thread claims its rows with leases, so any number of
processes may run lanes side by side over one database.
"""
from __future__ import annotations

import functools

from integrations.shopify.pacing import background_calls
from shopify_app.suppliers.amendments import AmendmentWorker
from shopify_app.webhooks.lanes import WAY_BACK_TOPICS
from shopify_app.webhooks.worker import InboxWorker, InHand

from .forwarding_capacity import forwarding_worker
from .pump import Pump

ORDERS_LANE_THREADS = 3
ORDERS_LANE_BATCH = 10
WAY_BACK_THREADS = 2  # one thread left the way back (4 rows per order, each with a supplier or Shopify call) behind at 10 orders/s
WAY_BACK_BATCH = 10
FIRST_THREAD_POLL_SECONDS = 1.0  # embedded: a lane's first thread looks every second (retries coming due, rows of other processes)
SIBLING_POLL_SECONDS = 10.0  # a lane's second and third threads: rung when there is work, the first thread polls every second


class OrderLanes:
    """The inbox's two lanes and the forwarding pump: pump threads woken by the services' doorbells, claiming rows with leases."""

    def __init__(self, services, *, poll_seconds: float = FIRST_THREAD_POLL_SECONDS, lease_on_claim: bool = False, process: str | None = None):
        """`lease_on_claim`: several processes run lanes over one inbox (scaled-out workers): see InboxWorker (and `process`)."""
        self.services = services
        # Two lanes over the inbox: the way back (supplier events pushing fulfillments to Shopify,
        # and Shopify's fulfillment webhooks) waits on Shopify's rate limit; on its own thread it
        # never holds up new orders, which are routed and forwarded from the other lane. Each
        # lane keeps its own deliveries in arrival order.
        #
        # The orders lane runs on a few threads: a delivery spends most of its time waiting (on
        # Shopify's answer, the write lock, fsync), so one thread left new orders queued for
        # seconds at 10 orders/s. Rows are claimed with leases, as by several workers, and
        # every handler is safe against concurrent and out-of-order deliveries (Shopify's own).
        # One InboxWorker (one lease owner) per thread: a row re-claimed by a sibling after its
        # lease ran out in another thread's batch then fails that thread's ownership check.
        # A lane's threads share what they hold unleased (rows claimed in their write transaction).
        orders_in_hand, way_back_in_hand = InHand(), InHand()
        self.orders_lane_workers = [InboxWorker(services.session_factory, services.settings, services, topics=WAY_BACK_TOPICS, other_topics=True, in_hand=orders_in_hand,
                                                 lease_on_claim=lease_on_claim, process=process)
                                    for _ in range(ORDERS_LANE_THREADS)]
        self.inbox_worker = self.orders_lane_workers[0]
        # The way back runs on a few threads too, for the same reason (its deliveries wait on the
        # supplier's and Shopify's answers); its handlers are safe against concurrent deliveries
        # (unique shipments, Shopify refusing quantities beyond what remains, statuses never moving back).
        self.way_back_workers = [InboxWorker(services.session_factory, services.settings, services, topics=WAY_BACK_TOPICS, other_topics=False, in_hand=way_back_in_hand,
                                              lease_on_claim=lease_on_claim, process=process)
                                 for _ in range(WAY_BACK_THREADS)]
        self.supplier_events_worker = self.way_back_workers[0]
        # Only a lane's first thread polls (for retries coming due and rows whose wake-up was
        # missed); its siblings are rung by new deliveries and by a pass that found a full batch
        # (a backlog), so an idle lane costs one look per poll interval, not one per thread.
        sibling_poll = max(poll_seconds, SIBLING_POLL_SECONDS)
        self.pump, *self.more_inbox_pumps = [Pump("inbox-pump" if n == 1 else f"inbox-pump-{n}", functools.partial(self.drain_orders_lane, worker), services.inbox_wakeup,
                                                  poll_seconds=poll_seconds if n == 1 else sibling_poll)
                                             for n, worker in enumerate(self.orders_lane_workers, start=1)]
        self.supplier_events_pump, *self.more_way_back_pumps = [
            Pump("supplier-events-pump" if n == 1 else f"supplier-events-pump-{n}", functools.partial(self.drain_supplier_events, worker), services.supplier_events_wakeup,
                 poll_seconds=poll_seconds if n == 1 else sibling_poll)
            for n, worker in enumerate(self.way_back_workers, start=1)]
        for worker in self.orders_lane_workers:
            worker.on_backlog = services.inbox_wakeup.set
        for worker in self.way_back_workers:
            worker.on_backlog = services.supplier_events_wakeup.set
        self.forwarding_worker = forwarding_worker(services)  # FORWARDING_THREADS / FORWARDING_CALLS_PER_SUPPLIER
        self.amendment_worker = AmendmentWorker(services.session_factory, services.box, wake_forwarding=services.wake_forwarding)
        self.forwarding_pump = Pump("forwarding-pump", self.drain_supplier_work, services.forwarding_wakeup, poll_seconds=poll_seconds,
                                    next_due=self.forwarding_worker.next_due_in)
        # The drains beat their pump as they make progress: /readyz tells a busy pass from a stuck one.
        for worker, pump in zip(self.orders_lane_workers, (self.pump, *self.more_inbox_pumps)):
            worker.beat = pump.beat
        for worker, pump in zip(self.way_back_workers, (self.supplier_events_pump, *self.more_way_back_pumps)):
            worker.beat = pump.beat
        self.forwarding_worker.beat = self.forwarding_pump.beat
        self.forwarding_worker.rung = services.forwarding_wakeup  # with calls in flight, the drain looks for new rows when rung

    @property
    def pumps(self) -> tuple[Pump, ...]:
        """Every pump thread of the lanes."""
        return (self.pump, *self.more_inbox_pumps, self.supplier_events_pump, *self.more_way_back_pumps, self.forwarding_pump)

    @property
    def drains(self) -> tuple:
        """Every drain with a `stopping` flag (checked between rows)."""
        return (*self.orders_lane_workers, *self.way_back_workers, self.forwarding_worker, self.amendment_worker)

    def drain_orders_lane(self, worker: InboxWorker | None = None) -> None:
        """Handle due Shopify deliveries (all but the way back), a small batch per claim so the lane's threads share them."""
        (worker or self.inbox_worker).drain(batch_size=ORDERS_LANE_BATCH)

    def drain_supplier_events(self, worker: InboxWorker | None = None) -> None:
        """Apply suppliers' events and Shopify's fulfillment webhooks; their Shopify calls leave rate-limit headroom for new orders."""
        with background_calls():
            (worker or self.supplier_events_worker).drain(batch_size=WAY_BACK_BATCH)

    def drain_supplier_work(self) -> None:
        """Place and cancel due supplier orders, then pass order changes on to suppliers."""
        self.forwarding_worker.drain()
        self.amendment_worker.drain()

    def start(self) -> None:
        """Start every pump thread."""
        for pump in self.pumps:
            pump.start()

    def request_stop(self) -> None:
        """Ask every drain to stop between rows (returns at once; they give back the leases of rows claimed but not started)."""
        for drain in self.drains:
            drain.stopping.set()

    def stop(self) -> None:
        """Stop between rows and wait for the pump threads."""
        self.request_stop()
        for pump in self.pumps:
            pump.stop()
        self.forwarding_worker.close()

    def silent_seconds(self) -> float:
        """How long the quietest pump has gone without a beat (for /readyz)."""
        return max(pump.silent_seconds for pump in self.pumps)

    def status(self) -> dict:
        """Whether the inbox pumps and the forwarding pump run."""
        return {
            "inbox_pump": all(p.alive for p in self.pumps if p is not self.forwarding_pump),
            "forwarding_pump": self.forwarding_pump.alive,
        }

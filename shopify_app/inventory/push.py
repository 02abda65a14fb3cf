"""Phase two of a sync: send Shopify only the levels whose figure must change, 250 per call.

Levels are read in id order a page at a time (memory stays flat), turned into writes with
`target_quantity`, and sent in full batches of 250 through the gateway, which paces each
call against the shop's cost bucket. A stale compare (Shopify changed the level since we
last saw it) re-reads those levels and sends the batch again with the fresh figures; a
quantity Shopify refuses is recorded on its level and left out of the retry.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from integrations.shopify.errors import ShopifyUserError
from integrations.shopify.gateway import ShopifyGateway

from ..models import utcnow
from .availability import target_quantity
from .models import InventoryLevel
from .set_quantities import MAX_QUANTITIES_PER_CALL, QuantityWrite, failed_indexes, set_quantities_variables

log = logging.getLogger(__name__)

PAGE = 1000
MAX_STALE_ROUNDS = 5
READ_CHUNK = 100  # levels per nodes() read (cost grows with the number of ids)


@dataclass
class PushStats:
    """What a push did."""

    calls: int = 0
    quantities_set: int = 0
    stale_retries: int = 0
    rows_failed: int = 0
    errors: list[str] = field(default_factory=list)


def level_gid(item_gid: str, location_gid: str) -> str:
    """Shopify's InventoryLevel GID: the location's number with the item as a query tail."""
    return f"gid://shopify/InventoryLevel/{location_gid.rsplit('/', 1)[-1]}?inventory_item_id={item_gid.rsplit('/', 1)[-1]}"


class InventoryPusher:
    """Pushes one shop's changed levels through its gateway."""

    def __init__(self, session_factory: sessionmaker, read_session_factory: sessionmaker, gateway: ShopifyGateway, shop_domain: str, run_id: int, *, batch_size: int = MAX_QUANTITIES_PER_CALL):
        self.session_factory = session_factory
        self.read_session_factory = read_session_factory
        self.gateway = gateway
        self.shop_domain = shop_domain
        self.run_id = run_id
        self.batch_size = min(batch_size, MAX_QUANTITIES_PER_CALL)
        self.stats = PushStats()

    def push(self) -> PushStats:
        """Send every level whose target differs from what Shopify shows."""
        batch: list[QuantityWrite] = []
        unknown: list[InventoryLevel] = []
        last_id = 0
        while True:
            with self.read_session_factory() as session:
                page = list(session.scalars(
                    select(InventoryLevel)
                    .where(InventoryLevel.shop_domain == self.shop_domain, InventoryLevel.id > last_id,
                           InventoryLevel.stocked.is_(True), InventoryLevel.desired.is_not(None))
                    .order_by(InventoryLevel.id).limit(PAGE)
                ))
                session.expunge_all()
            if not page:
                break
            last_id = page[-1].id
            for level in page:
                if level.available is None:
                    unknown.append(level)  # Shopify's figure is needed as the compare value
                    if len(unknown) >= READ_CHUNK:
                        batch.extend(self._writes(self._refresh(unknown)))
                        unknown = []
                else:
                    batch.extend(self._writes([level]))
                while len(batch) >= self.batch_size:
                    self._send(batch[: self.batch_size])
                    batch = batch[self.batch_size:]
        if unknown:
            batch.extend(self._writes(self._refresh(unknown)))
        for start in range(0, len(batch), self.batch_size):
            self._send(batch[start:start + self.batch_size])
        return self.stats

    # -- internals --------------------------------------------------------------------

    def _writes(self, levels: list[InventoryLevel]) -> list[QuantityWrite]:
        writes = []
        for level in levels:
            if level.available is None or level.desired is None:
                continue
            target = target_quantity(level.desired, level.supply or 0, level.available, level.pushed, level.pushed_supply)
            if target == level.failed_quantity:
                continue  # Shopify refused exactly this; the merchant has the error
            if target != level.available:
                writes.append(QuantityWrite(level.id, level.inventory_item_gid, level.location_gid, target, level.available, level.supply or 0))
        return writes

    def _send(self, writes: list[QuantityWrite]) -> None:
        for _ in range(MAX_STALE_ROUNDS):
            if not writes:
                return
            variables = set_quantities_variables(writes, self.run_id)
            self.stats.calls += 1
            try:
                self.gateway.mutate("InventorySetQuantities", variables, "inventorySetQuantities")
            except ShopifyUserError as error:
                stale, refused = failed_indexes(error.user_errors)
                if not stale and not refused:
                    raise
                self._record_refused({writes[i]: message for i, message in refused.items() if i < len(writes)})
                keep = [w for i, w in enumerate(writes) if i not in refused]
                if stale:
                    self.stats.stale_retries += 1
                    writes = self._rewrite_stale(keep, {writes[i].level_id for i in stale if i < len(writes)})
                else:
                    writes = keep
                continue
            self._record_set(writes)
            return
        self.stats.errors.append(f"gave up on {len(writes)} quantities after {MAX_STALE_ROUNDS} stale rounds")
        log.warning("inventory push shop=%s: levels kept changing, %d quantities left for the next sync", self.shop_domain, len(writes))

    def _rewrite_stale(self, writes: list[QuantityWrite], stale_ids: set[int]) -> list[QuantityWrite]:
        """Re-read the stale levels, then rebuild their writes from what Shopify shows now."""
        with self.read_session_factory() as session:
            stale_levels = list(session.scalars(select(InventoryLevel).where(InventoryLevel.id.in_(stale_ids))))
            session.expunge_all()
        fresh = {level.id: level for level in self._refresh(stale_levels)}
        rebuilt = []
        for write in writes:
            if write.level_id not in stale_ids:
                rebuilt.append(write)
            elif write.level_id in fresh:
                rebuilt.extend(self._writes([fresh[write.level_id]]))
        return rebuilt

    def _refresh(self, levels: list[InventoryLevel]) -> list[InventoryLevel]:
        """Read Shopify's available for these levels and store it; levels Shopify no longer has are marked unstocked."""
        refreshed: list[InventoryLevel] = []
        now = utcnow()
        for start in range(0, len(levels), READ_CHUNK):
            chunk = levels[start:start + READ_CHUNK]
            ids = [level_gid(level.inventory_item_gid, level.location_gid) for level in chunk]
            nodes = self.gateway.query("InventoryLevelsByIds", {"ids": ids}).get("nodes") or []
            with self.session_factory.begin() as session:
                for level, node in zip(chunk, nodes):
                    if not node:
                        session.execute(update(InventoryLevel).where(InventoryLevel.id == level.id).values(stocked=False, last_error="Shopify no longer stocks this item at the location"))
                        continue
                    available = next((q["quantity"] for q in node.get("quantities") or [] if q.get("name") == "available"), None)
                    session.execute(update(InventoryLevel).where(InventoryLevel.id == level.id).values(available=available, available_seen_at=now))
                    level.available = available
                    refreshed.append(level)
        return refreshed

    def _record_set(self, writes: list[QuantityWrite]) -> None:
        now = utcnow()
        with self.session_factory.begin() as session:
            session.execute(update(InventoryLevel), [
                {"id": w.level_id, "available": w.quantity, "available_seen_at": now, "pushed": w.quantity, "pushed_supply": w.supply,
                 "pushed_at": now, "failed_quantity": None, "last_error": None}
                for w in writes
            ])
        self.stats.quantities_set += len(writes)

    def _record_refused(self, refused: dict[QuantityWrite, str]) -> None:
        if not refused:
            return
        with self.session_factory.begin() as session:
            for write, message in refused.items():
                session.execute(update(InventoryLevel).where(InventoryLevel.id == write.level_id).values(failed_quantity=write.quantity, last_error=message))
        self.stats.rows_failed += len(refused)
        self.stats.errors.extend(message for message in list(refused.values())[:20])

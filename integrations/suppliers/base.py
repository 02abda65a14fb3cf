"""The one interface every supplier adapter implements, and the values that cross it.

Adapters speak their supplier's API and translate to these types; the forwarding,
tracking, inventory and returns services only ever see this module.
"""
from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from typing import Any, Mapping


class SupplierOrderStatus(str, enum.Enum):
    PENDING = "pending"  # received, not yet accepted for fulfilment (draft, review)
    ACKNOWLEDGED = "acknowledged"  # accepted; will be produced/picked
    ON_HOLD = "on_hold"  # supplier paused it (address, payment, stock)
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"  # every line shipped
    CANCELLED = "cancelled"
    FAILED = "failed"  # supplier could not fulfil


@dataclass(frozen=True)
class Address:
    """Ship-to address (personal data: never logged)."""

    name: str
    address1: str
    city: str
    country_code: str
    zip: str | None = None
    address2: str | None = None
    province_code: str | None = None
    phone: str | None = None
    email: str | None = None
    company: str | None = None


@dataclass(frozen=True)
class OrderLine:
    """One line to the supplier: their SKU, how many, and our line id to match shipments."""

    line_ref: str  # our SupplierOrderLine id as text; echoed back on shipments
    supplier_sku: str
    quantity: int
    name: str | None = None
    retail_price: str | None = None  # for customs/packing slips, as a decimal string
    unit_cost: str | None = None  # what the supplier charges per unit (the product mapping's cost), decimal string


@dataclass(frozen=True)
class PlaceOrder:
    """A request to place one supplier order; `external_id` is our idempotency key."""

    external_id: str
    shipping_address: Address
    lines: tuple[OrderLine, ...]
    shipping_method: str | None = None
    currency: str = "USD"
    note: str | None = None


@dataclass(frozen=True)
class Amendment:
    """What a placed order must become: every line as it should be now (quantity 0 = remove) and the address.

    A desired state, not a delta, so applying it twice changes nothing the second time.
    `reference` names this change (our idempotency key + amendment number) for suppliers
    that number their messages (the email supplier's change notice).
    """

    reference: str
    lines: tuple[OrderLine, ...]
    shipping_address: Address | None = None  # None: the address is unchanged
    changes: tuple[str, ...] = ()  # what changed, in words, for suppliers read by people


@dataclass(frozen=True)
class SupplierOrder:
    """The supplier's view of an order."""

    supplier_order_id: str
    external_id: str | None
    status: SupplierOrderStatus
    cost: str | None = None  # what the supplier charges us, decimal string, order currency
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ShipmentLine:
    """How many of one line a shipment carries (by our line_ref when the supplier echoes it)."""

    quantity: int
    line_ref: str | None = None
    supplier_sku: str | None = None


@dataclass(frozen=True)
class Shipment:
    """A parcel: carrier, tracking, ETA and what is in it."""

    shipment_id: str
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    lines: tuple[ShipmentLine, ...]
    shipped_at: str | None = None  # ISO 8601
    estimated_delivery: str | None = None  # ISO 8601 date or datetime
    delivered_at: str | None = None


@dataclass(frozen=True)
class StockLevel:
    """Stock for one supplier SKU; `available` is None when the supplier only says in/out."""

    supplier_sku: str
    in_stock: bool
    available: int | None = None


@dataclass(frozen=True)
class ReturnLine:
    """A line to send back."""

    line_ref: str | None
    supplier_sku: str
    quantity: int
    reason: str | None = None


@dataclass(frozen=True)
class ReturnAuthorization:
    """The supplier's answer to a return request."""

    rma_number: str
    status: str  # approved | pending | refused
    label_url: str | None = None
    return_address: Address | None = None
    note: str | None = None


class SupplierEventKind(str, enum.Enum):
    ORDER_UPDATED = "order_updated"  # status change (acknowledged, on hold, ...)
    SHIPMENT = "shipment"
    ORDER_FAILED = "order_failed"
    ORDER_CANCELLED = "order_cancelled"
    OUT_OF_STOCK = "out_of_stock"
    STOCK_UPDATED = "stock_updated"
    RETURN_UPDATED = "return_updated"


@dataclass(frozen=True)
class SupplierEvent:
    """A verified event from a supplier webhook, in our terms."""

    kind: SupplierEventKind
    event_id: str | None = None  # the supplier's id for dedupe, when it has one
    supplier_order_id: str | None = None
    external_id: str | None = None
    status: SupplierOrderStatus | None = None
    shipment: Shipment | None = None
    stock: tuple[StockLevel, ...] = ()
    reason: str | None = None
    rma_number: str | None = None  # RETURN_UPDATED: which return authorisation
    returned: tuple[tuple[str, int], ...] = ()  # RETURN_UPDATED: (supplier SKU, units received back)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


class SupplierError(Exception):
    """Base of every adapter error; messages never carry credentials or addresses."""


class PermanentSupplierError(SupplierError):
    """The supplier rejected the request (4xx validation, unknown SKU): retrying cannot help."""


class TransientSupplierError(SupplierError):
    """5xx, 429, connection refused: safe to retry later with backoff."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class OutcomeUnknown(TransientSupplierError):
    """The request may have reached the supplier (timeout, garbage answer): ask before retrying."""


class OutcomeNeedsCheck(OutcomeUnknown):
    """An outcome only the supplier can tell (a PO file gone from every folder we know): kept unknown, never re-sent blindly; the merchant is alerted."""


class PlacementDeferred(OutcomeUnknown):
    """The order waits for the supplier's next batch (a PO file sent on the merchant's schedule): ask again after `retry_after` s.

    Not a failure: no breaker, no attempt counted. The batch job places it when its file is written.
    """


class CredentialsRejected(PermanentSupplierError):
    """The supplier refused our credentials (HTTP 401): refreshed once when the adapter can, else the merchant must update them."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.status = 401
        self.detail = detail


class SupplierOrderNotFound(SupplierError):
    """No such order at the supplier."""


class CancellationRefused(SupplierError):
    """The supplier cannot cancel (already in production or shipped)."""


class AmendmentRefused(SupplierError):
    """The supplier cannot change this order (in production, shipped, or not offered by its API)."""


class InvalidSupplierSignature(SupplierError):
    """A supplier webhook whose signature does not verify."""


# Credentials keys an adapter's refresh_credentials fills in (never typed by the merchant).
REFRESHED_CREDENTIAL_KEYS = ("access_token", "refresh_token", "expires_at")


class SupplierAdapter(abc.ABC):
    """What the app needs from any supplier.

    Capabilities for order changes (see shopify_app/suppliers/amendments.py): an adapter
    that can change a placed order says which parts; everything else is cancelled and
    placed again while `can_cancel_when` allows, or reported to the merchant.
    """

    kind: str = "abstract"
    can_update_address: bool = False  # amend_order accepts a new shipping address
    can_update_lines: bool = False  # amend_order accepts changed, removed and added lines
    # Our statuses in which the supplier takes a change or a cancellation (it may still refuse
    # one: a status can lag behind, so AmendmentRefused / CancellationRefused are the last word).
    can_cancel_when: frozenset[SupplierOrderStatus] = frozenset({SupplierOrderStatus.PENDING, SupplierOrderStatus.ACKNOWLEDGED, SupplierOrderStatus.ON_HOLD})

    @abc.abstractmethod
    def place_order(self, order: PlaceOrder) -> SupplierOrder:
        """Place (and confirm) an order; placing the same external_id twice returns the first."""

    @abc.abstractmethod
    def find_order(self, external_id: str) -> SupplierOrder | None:
        """Look an order up by our idempotency key (resolves an OutcomeUnknown)."""

    def resume_order(self, found: SupplierOrder, order: PlaceOrder) -> SupplierOrder:
        """Finish an order `find_order` found not yet confirmed (PENDING): its create landed, its confirmation did not.

        Default: `place_order` again (safe by contract: the same external_id never makes a
        second order). An adapter that can confirm the found order directly overrides this,
        so a flaky supplier is asked one call instead of the whole placement again.
        """
        return self.place_order(order)

    @abc.abstractmethod
    def get_order(self, supplier_order_id: str) -> SupplierOrder:
        """The supplier's current view of an order."""

    @abc.abstractmethod
    def cancel_order(self, supplier_order_id: str) -> SupplierOrder:
        """Cancel; raises CancellationRefused when it is too late."""

    @abc.abstractmethod
    def get_shipments(self, supplier_order_id: str) -> list[Shipment]:
        """Every shipment of the order so far."""

    @abc.abstractmethod
    def get_stock(self, supplier_skus: list[str]) -> list[StockLevel]:
        """Current stock for the given SKUs (unknown SKUs are left out)."""

    @abc.abstractmethod
    def create_return_authorization(self, supplier_order_id: str, lines: list[ReturnLine]) -> ReturnAuthorization:
        """Ask the supplier to accept a return."""

    def amend_order(self, supplier_order_id: str, amendment: Amendment) -> SupplierOrder:
        """Make a placed order match `amendment`; AmendmentRefused when too late or not offered."""
        raise AmendmentRefused(f"{self.kind} orders cannot be changed through the adapter")

    # -- credentials that expire ------------------------------------------------------------
    # The app (shopify_app/suppliers/credentials.py) calls refresh_credentials before
    # `credentials_expire_at` and once after a CredentialsRejected, stores the answer encrypted
    # on the supplier record (compare-and-swap, audited), and builds a new adapter from it.
    # An adapter whose tokens never expire keeps both defaults.

    def credentials_expire_at(self, credentials: Mapping[str, Any]) -> float | None:
        """When these credentials stop working (Unix seconds), or None when they do not expire or it is unknown.

        Default: the `expires_at` key that refresh_credentials is expected to store.
        """
        value = credentials.get("expires_at") if isinstance(credentials, Mapping) else None
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def refresh_credentials(self, credentials: Mapping[str, Any]) -> dict[str, Any] | None:
        """The whole new credentials dict to store (keep what did not change; set `expires_at`), or None when this adapter cannot refresh.

        Makes network calls; raise CredentialsRejected when the refresh itself is refused
        (the merchant must reconnect) and TransientSupplierError when it may work later.
        """
        return None

    def check_connection(self) -> str:
        """One harmless read call proving the base URL and credentials work; a short description of what was checked, or an adapter error.

        Default: look up an order by an external id that cannot exist (not found is success).
        """
        self.find_order("connection-test-0000000000")
        return "looked up an order by reference"

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[SupplierEvent]:
        """Verify and translate a webhook from this supplier (suppliers without webhooks: none)."""
        raise NotImplementedError(f"{self.kind} does not send webhooks")

"""What happens in the Shopify admin or at checkout, for tests and demos, with the messages Shopify sends.

`MerchantActionsMixin` is mixed into SandboxShopify: place an order (orders/create and
orders/paid webhooks), edit it, change its address or refund lines, request fulfillment or cancellation from a fulfillment service
(callback POST + fulfillment_orders/* webhooks), and deliver what store operations
queued (`deliver_pending`, also run after every GraphQL request).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from .fulfillment_state import ACCEPTED_REQUEST_STATUSES, OPEN_STATUSES, service_of
from .outbox import FulfillmentServiceCallback, Message
from .rest_payloads import fulfillment_payload, order_webhook_payload
from .store import ShopState, normalize_domain


class MerchantActionsMixin:
    """Merchant and buyer actions, and delivery of queued messages (part of SandboxShopify)."""

    def place_order(self, shop_domain: str, lines: Iterable[Mapping[str, Any]], *, background: bool = False, **order_fields: Any) -> dict[str, Any]:
        """A checkout: create the order (see Store.create_order) and send orders/create, then orders/paid if paid.

        Deliveries go through the webhook sender's fault options (duplicates, drops, delays...).
        """
        order = self.store.create_order(shop_domain, lines, **order_fields)
        with self.store.lock:
            shop = self.store.require_shop(shop_domain)
            payload = order_webhook_payload(shop, order)
            # Gift cards were fulfilled on payment: Shopify announces those fulfillments too.
            gift_cards = [fulfillment_payload(shop, f) for f in shop.deref(order["fulfillments"]) if f.get("_giftCard")]
        self.emit(shop.domain, "orders/create", payload, background=background)
        if order["displayFinancialStatus"] == "PAID":
            self.emit(shop.domain, "orders/paid", payload, background=background)
        for fulfillment in gift_cards:
            self.emit(shop.domain, "fulfillments/create", fulfillment, background=background)
        return order

    def request_fulfillment(self, shop_domain: str, order_gid: str, *, message: str | None = None, notify_customer: bool = False) -> list[dict[str, Any]]:
        """The merchant's "Request fulfillment": every open, unsubmitted fulfillment order of the order at a fulfillment service.

        Each becomes SUBMITTED; the service gets its callback POST and the
        fulfillment_orders/fulfillment_request_submitted webhook goes out. Returns those fulfillment orders.
        """
        with self.store.lock:
            shop = self.store.require_shop(shop_domain)
            fos = [
                fo for fo in self._fulfillment_orders_of(shop, order_gid)
                if service_of(shop, fo) is not None and fo["status"] == "OPEN" and fo["requestStatus"] in ("UNSUBMITTED", "REJECTED")
            ]
            for fo in fos:
                self.store.submit_fulfillment_request(shop, fo["id"], message=message, notify_customer=notify_customer)
        self.deliver_pending()
        return fos

    def request_cancellation(self, shop_domain: str, order_or_fulfillment_order_gid: str, *, message: str | None = None) -> list[dict[str, Any]]:
        """The merchant asks fulfillment services to cancel work they accepted (an order's, or one fulfillment order).

        Each becomes CANCELLATION_REQUESTED; callback POST + fulfillment_orders/cancellation_request_submitted.
        """
        with self.store.lock:
            shop = self.store.require_shop(shop_domain)
            fos = [
                fo for fo in self._fulfillment_orders_of(shop, order_or_fulfillment_order_gid)
                if service_of(shop, fo) is not None and fo["status"] in OPEN_STATUSES and fo["requestStatus"] in ACCEPTED_REQUEST_STATUSES
            ]
            for fo in fos:
                self.store.submit_cancellation_request(shop, fo["id"], message=message)
        self.deliver_pending()
        return fos

    def edit_order(self, shop_domain: str, order_gid: str, **edit: Any) -> dict[str, Any]:
        """The merchant commits an order edit (see order_edits.py): orders/edited and orders/updated go out."""
        result = self.store.edit_order(shop_domain, order_gid, **edit)
        self.deliver_pending()
        return result

    def change_shipping_address(self, shop_domain: str, order_gid: str, **fields: Any) -> dict[str, Any]:
        """The merchant edits the order's shipping address: orders/updated goes out."""
        order = self.store.change_shipping_address(shop_domain, order_gid, **fields)
        self.deliver_pending()
        return order

    def refund_lines(self, shop_domain: str, order_gid: str, lines: Iterable[Mapping[str, Any]], *, note: str | None = None) -> dict[str, Any]:
        """The merchant refunds line items in the admin ({lineItemId, quantity, restockType, locationId}): refunds/create and orders/updated go out."""
        refund = self.store.create_refund(shop_domain, order_gid, lines, note=note)
        self.deliver_pending()
        return refund

    @staticmethod
    def _fulfillment_orders_of(shop: ShopState, gid: str) -> list[dict[str, Any]]:
        found = shop.get(gid)
        if found is None or found["__typename"] not in ("Order", "FulfillmentOrder"):
            raise KeyError(f"no order or fulfillment order {gid} in {shop.domain}")
        return [found] if found["__typename"] == "FulfillmentOrder" else shop.deref(found["fulfillmentOrders"])

    def order_webhook_payload(self, order: Mapping[str, Any] | str, shop_domain: str | None = None) -> dict[str, Any]:
        """The REST payload orders/* webhooks carry for a stored order (given as record or GID), as of now."""
        with self.store.lock:
            if isinstance(order, str):
                shop = self.store.require_shop(shop_domain or self._shop_holding(order))
                order = shop.get(order)
                if order is None:
                    raise KeyError("unknown order")
            else:
                shop = self.store.require_shop(shop_domain or order["_shopDomain"])
            return order_webhook_payload(shop, order)

    def _shop_holding(self, gid: str) -> str:
        for domain in self.store.shop_domains():
            if self.store.require_shop(domain).get(gid) is not None:
                return domain
        raise KeyError(f"no shop holds {gid}")

    # -- delivery -----------------------------------------------------------------------------

    def deliver_pending(self, *, background: bool = False) -> None:
        """Send what store operations queued, in order: fulfillment-service callbacks and webhooks."""
        messages = self.store.outbox.drain()
        if not messages:
            return
        if background:
            self.webhooks.run_in_background(lambda: self._deliver(messages), name="sandbox-outbox")
        else:
            self._deliver(messages)

    def _deliver(self, messages: list[Message]) -> None:
        notified: set[tuple[str, str, str]] = set()
        for message in messages:
            if isinstance(message, FulfillmentServiceCallback):
                key = (message.shop_domain, message.callback_url, message.kind)
                if key in notified:
                    continue  # the notification only says "go and look": once per batch is enough
                notified.add(key)
                app = self.store.app(message.client_id) if message.client_id else None
                if app is None:
                    self.notifier.skip(message, "no registered app owns the fulfillment service: nothing to sign with")
                else:
                    self.notifier.send(message, app.client_secret)
            else:
                self.emit(normalize_domain(message.shop_domain), message.topic, message.payload, client_id=message.client_id)

"""Delivery status from Shopify: each fulfillment's carrier progress (in transit, delivered, failure)."""

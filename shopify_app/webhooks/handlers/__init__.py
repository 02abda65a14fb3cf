"""Webhook handlers, one module per area; each registers its topics with @handles."""

"""Returns: the store's policy and each supplier's terms, Shopify's returns flow, supplier RMAs, restock on receipt."""

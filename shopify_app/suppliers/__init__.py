"""Suppliers: records, product mappings, forwarding deliveries and their attempts."""

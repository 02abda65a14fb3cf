"""Printful (API v2): print-on-demand supplier with orders by external_id, shipments and signed webhooks."""
from .adapter import PrintfulAdapter
from .mapping import PrintfulProduct

__all__ = ["PrintfulAdapter", "PrintfulProduct"]

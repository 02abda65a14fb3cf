"""The two hooks forwarding uses (one import line there keeps its own edits minimal)."""
from .breakers import watch_breaker
from .supplier_calls import metered

__all__ = ["metered", "watch_breaker"]

"""Generic REST/JSON supplier: any simple order API, described by settings instead of code."""
from .adapter import RestAdapter
from .config import InvalidRestSettings, RestSettings, parse_settings
from .presets import PRESETS, with_preset

__all__ = ["PRESETS", "InvalidRestSettings", "RestAdapter", "RestSettings", "parse_settings", "with_preset"]

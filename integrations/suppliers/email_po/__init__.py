"""Email purchase orders: a PO email with a CSV (and PDF) for suppliers without an API; tracking comes back by reply (text or CSV/XLSX) or upload."""
from .adapter import EmailPoAdapter
from .config import EmailPoSettings, InvalidEmailSettings, parse_settings
from .sent_log import InMemorySentLog, JsonFileSentLog, SentLog, SentPurchaseOrder
from .stock_feed import InMemoryStockFeed, JsonFileStockFeed
from .tracking_import import TrackingImport, import_tracking_csv, parse_tracking_csv

__all__ = [
    "EmailPoAdapter", "EmailPoSettings", "InMemorySentLog", "InMemoryStockFeed", "InvalidEmailSettings", "JsonFileSentLog",
    "JsonFileStockFeed", "SentLog", "SentPurchaseOrder", "TrackingImport", "import_tracking_csv", "parse_tracking_csv",
    "parse_settings",
]

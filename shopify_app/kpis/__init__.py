"""KPIs computed on read from our records, their targets, the daily check that alerts, and SVG charts."""
from .compute import kpi_summary, kpis
from .evaluate import check_installed_shops, check_kpis
from .targets import DEFAULT_TARGETS, get_targets, set_targets

__all__ = ["DEFAULT_TARGETS", "check_installed_shops", "check_kpis", "get_targets", "kpi_summary", "kpis", "set_targets"]

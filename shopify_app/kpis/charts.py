"""Server-side SVG charts for the KPI page: plain markup, no script, nothing fetched.

Labels and titles come from merchant data (SKUs, supplier names) and are XML-escaped. Missing
values (None: no data in that bucket) leave a gap rather than a zero that would read as a result.
"""
from __future__ import annotations

import math
from xml.sax.saxutils import escape, quoteattr

from babel.numbers import format_decimal

from ..i18n import DEFAULT_LANGUAGE, get_locale, gettext as _

Series = list[tuple[str, float | None]]

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 36, 44
MAX_LABELS = 8  # more bucket labels than this overlap: show every n-th
BAR_FILL, MISS_FILL, LINE_STROKE, TARGET_STROKE = "#5c6ac4", "#de3618", "#5c6ac4", "#8a6116"


def bar_chart(series: Series, target: float | None = None, title: str = "", *, percent: bool = False, higher_is_better: bool | None = None,
              width: int = WIDTH, height: int = HEIGHT) -> str:
    """An SVG bar chart of (label, value) pairs, with a dashed target line; bars missing the target are red when its direction is given."""
    series = _clean(series)
    plot = _Plot(series, target, width, height)
    parts = []
    slot = plot.inner_width / max(len(series), 1)
    for i, (label, value) in enumerate(series):
        if value is None:
            continue
        x, y = plot.left + i * slot + slot * 0.15, plot.y(value)
        fill = MISS_FILL if _misses(value, target, higher_is_better) else BAR_FILL
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{plot.bottom - y:.1f}" fill="{fill}">'
                     f"<title>{escape(label)}: {escape(_format(value, percent))}</title></rect>")
    return _svg(title, plot, parts, series, slot, percent)


def line_chart(series: Series, target: float | None = None, title: str = "", *, percent: bool = False,
               width: int = WIDTH, height: int = HEIGHT) -> str:
    """An SVG line chart of (label, value) pairs, broken where a value is None, with a dashed target line."""
    series = _clean(series)
    plot = _Plot(series, target, width, height)
    slot = plot.inner_width / max(len(series), 1)
    parts, run = [], []
    for i, (label, value) in enumerate(series + [("", None)]):  # the sentinel closes the last run
        if value is None:
            if len(run) > 1:
                parts.append(f'<polyline class="line" fill="none" stroke="{LINE_STROKE}" stroke-width="2" points="{" ".join(run)}"/>')
            run = []
            continue
        x, y = plot.left + (i + 0.5) * slot, plot.y(value)
        run.append(f"{x:.1f},{y:.1f}")
        parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{LINE_STROKE}"><title>{escape(label)}: {escape(_format(value, percent))}</title></circle>')
    return _svg(title, plot, parts, series, slot, percent)


class _Plot:
    """The plotting area and the value scale (0 up to a little above the largest value or the target)."""

    def __init__(self, series: Series, target: float | None, width: int, height: int):
        self.width, self.height = width, height
        self.target = None if target is None else float(target)
        self.left, self.top, self.bottom = LEFT, TOP, height - BOTTOM
        self.inner_width = width - LEFT - RIGHT
        values = [v for _, v in series if v is not None] + ([float(target)] if target is not None else [])
        self.top_value = max(values, default=0.0) * 1.1 or 1.0

    def y(self, value: float) -> float:
        clipped = min(max(value, 0.0), self.top_value)  # negative margins sit on the axis rather than below the chart
        return self.bottom - (self.bottom - self.top) * clipped / self.top_value


def _svg(title: str, plot: _Plot, parts: list[str], series: Series, slot: float, percent: bool) -> str:
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {plot.width} {plot.height}" width="{plot.width}" height="{plot.height}" role="img" aria-label={quoteattr(title)} font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text class="chart-title" x="{plot.left}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<line class="axis" x1="{plot.left}" y1="{plot.bottom}" x2="{plot.width - RIGHT}" y2="{plot.bottom}" stroke="#999"/>',
        f'<text class="tick" x="{plot.left - 6}" y="{plot.bottom + 4}" text-anchor="end">{escape(_format(0, percent))}</text>',
        f'<text class="tick" x="{plot.left - 6}" y="{plot.top + 4}" text-anchor="end">{escape(_format(plot.top_value, percent))}</text>',
    ]
    if not series:
        no_data = _("No data")
        head.append(f'<text class="empty" x="{plot.width / 2:.1f}" y="{(plot.top + plot.bottom) / 2:.1f}" text-anchor="middle">{escape(no_data)}</text>')
    every = math.ceil(len(series) / MAX_LABELS) if series else 1
    labels = [
        f'<text class="label" x="{plot.left + (i + 0.5) * slot:.1f}" y="{plot.bottom + 16}" text-anchor="middle">{escape(label)}</text>'
        for i, (label, _) in enumerate(series) if i % every == 0
    ]
    return "".join(head + parts + _target_line(plot, percent) + labels + ["</svg>"])


def _target_line(plot: _Plot, percent: bool) -> list[str]:
    if plot.target is None:
        return []
    y = plot.y(plot.target)
    caption = _("target %(value)s", value=_format(plot.target, percent))  # outside the f-string: the catalog extractor reads calls only
    return [
        f'<line class="target" x1="{plot.left}" y1="{y:.1f}" x2="{plot.width - RIGHT}" y2="{y:.1f}" stroke="{TARGET_STROKE}" stroke-dasharray="6 4"/>',
        f'<text class="target-label" x="{plot.width - RIGHT}" y="{y - 4:.1f}" text-anchor="end" fill="{TARGET_STROKE}">{escape(caption)}</text>',
    ]


def _clean(series) -> Series:
    """Labels as text, values as floats (Decimal money included); NaN and infinities are gaps."""
    clean = []
    for label, value in series:
        number = None if value is None else float(value)
        clean.append((str(label), number if number is not None and math.isfinite(number) else None))
    return clean


def _misses(value: float, target: float | None, higher_is_better: bool | None) -> bool:
    if target is None or higher_is_better is None:
        return False
    return value < target if higher_is_better else value > target


def _format(value: float, percent: bool) -> str:
    # In the page's language ("10,0 %" in Polish); English outside a request.
    locale = str(get_locale() or DEFAULT_LANGUAGE)
    if percent:
        return f"{format_decimal(value * 100, format='#,##0.0', locale=locale)} %"
    return format_decimal(round(value, 2), format="#,##0.##", locale=locale)

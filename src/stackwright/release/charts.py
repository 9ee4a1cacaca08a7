"""Horizontal bar charts as inline SVG, for the HTML data card.

Drawn in Python so the card is one static file: no script, no stylesheet or font to fetch, nothing
that stops rendering offline or years later. Every label is escaped: names come from the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 640
LABEL_WIDTH = 200
VALUE_WIDTH = 90
ROW_HEIGHT = 22
BAR_HEIGHT = 14
TOP = 8


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    shown: str  # the value as text, next to the bar
    tooltip: str = ""


def _clip(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bar_chart(chart_id: str, title: str, bars: Sequence[Bar], empty: str = "nothing to show") -> str:
    """An accessible SVG bar chart: ``<svg class="chart" id=...>`` with a ``<title>`` and one ``<rect
    class="bar">`` per value (each with its own ``<title>`` as a tooltip)."""
    cid = escape(chart_id, quote=True)
    rows = max(len(bars), 1)
    height = TOP * 2 + rows * ROW_HEIGHT
    top = max((b.value for b in bars), default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    parts = [
        f'<svg class="chart" id="{cid}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-labelledby="{cid}-title" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">',
        f'<title id="{cid}-title">{escape(title)}</title>',
    ]
    if not bars:
        parts.append(f'<text class="empty" x="{LABEL_WIDTH}" y="{TOP + 15}">{escape(empty)}</text>')
    for i, bar in enumerate(bars):
        y = TOP + i * ROW_HEIGHT
        width = max(1.0, span * bar.value / top) if bar.value > 0 else 0.0
        tip = escape(bar.tooltip or f"{bar.label}: {bar.shown}")
        parts += [
            f'<text class="label" x="{LABEL_WIDTH - 8}" y="{y + 12}" text-anchor="end">'
            f"{escape(_clip(bar.label))}</text>",
            f'<rect class="bar" x="{LABEL_WIDTH}" y="{y}" width="{width:.1f}" height="{BAR_HEIGHT}" rx="2">'
            f"<title>{tip}</title></rect>",
            f'<text class="value" x="{LABEL_WIDTH + width + 6:.1f}" y="{y + 12}">{escape(bar.shown)}</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts)

"""Charts drawn on the server as SVG: nothing is fetched from the internet by the page.

Colours come from the Telegram theme through CSS variables (the page sets them from
``themeParams``), so a chart follows light and dark themes without being redrawn.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from core.organizer.dashboard import Series

WIDTH, HEIGHT = 600, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 12, 12, 28
XMLNS = 'xmlns="http://www.w3.org/2000/svg"'
PALETTE = ("var(--tq-accent)", "var(--tq-series-2)", "var(--tq-series-3)",
           "var(--tq-series-4)", "var(--tq-series-5)")


def _ticks(top: int) -> list[int]:
    if top <= 4:
        return list(range(top + 1))
    step = max(1, round(top / 4))
    return list(range(0, top + 1, step))


def step_chart(series: list[Series], *, title: str, start: datetime | None = None,
               end: datetime | None = None) -> str:
    """Cumulative counts as step lines with a legend; an empty chart says so."""
    points = [p for s in series for p in s.points]
    label = escape(title)
    if not points:
        return (f'<svg {XMLNS} class="chart" viewBox="0 0 {WIDTH} 60" role="img" '
                f'aria-label="{label}">'
                f'<text x="{WIDTH / 2}" y="34" text-anchor="middle" class="chart-empty">'
                f'{escape("nothing yet")}</text></svg>')
    first = start or min(at for at, _ in points)
    last = end or max(at for at, _ in points)
    span = max((last - first).total_seconds(), 1.0)
    top = max(1, max(total for _, total in points))
    inner_w = WIDTH - PAD_LEFT - PAD_RIGHT
    inner_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(at: datetime) -> float:
        return PAD_LEFT + inner_w * max(0.0, (at - first).total_seconds()) / span

    def y(value: int) -> float:
        return PAD_TOP + inner_h * (1 - value / top)

    parts = [f'<svg {XMLNS} class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{label}" preserveAspectRatio="xMidYMid meet">']
    for tick in _ticks(top):
        parts.append(f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" '
                     f'y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
                     f'<text class="axis" x="{PAD_LEFT - 6}" y="{y(tick) + 4:.1f}" '
                     f'text-anchor="end">{tick}</text>')
    parts.append(f'<text class="axis" x="{PAD_LEFT}" y="{HEIGHT - 8}">'
                 f'{escape(first.strftime("%d %b %H:%M"))}</text>'
                 f'<text class="axis" x="{WIDTH - PAD_RIGHT}" y="{HEIGHT - 8}" '
                 f'text-anchor="end">{escape(last.strftime("%d %b %H:%M"))}</text>')
    for index, one in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        path = [f"M{x(first):.1f},{y(0):.1f}"]
        for at, total in one.points:
            path.append(f"H{x(at):.1f}V{y(total):.1f}")
        path.append(f"H{x(last):.1f}")
        parts.append(f'<path class="line" style="stroke:{colour}" d="{"".join(path)}"/>')
    legend_x = PAD_LEFT + 8
    for index, one in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{legend_x}" y="{PAD_TOP + 4 + 16 * index}" width="10" '
                     f'height="10" style="fill:{colour}"/>'
                     f'<text class="legend" x="{legend_x + 14}" y="{PAD_TOP + 13 + 16 * index}">'
                     f'{escape(one.label)}: {one.total}</text>')
    parts.append("</svg>")
    return "".join(parts)

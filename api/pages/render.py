"""Jinja2 templates for the web page (autoescaped), their filters, and the server-side chart."""

from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from nudge.core.templating import SEQUENCE_VARIABLES, VARIABLES

NONE = "\u2013"  # an en dash for "no value yet"
TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")


def percent(rate: float | None) -> str:
    return NONE if rate is None else f"{round(rate * 100)} %"


def hours(value: float | None) -> str:
    if value is None:
        return NONE
    return f"{value:.1f} h" if value < 48 else f"{value / 24:.1f} d"


def when(value: datetime | None) -> str:
    return NONE if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def count(value: int) -> str:
    return f"{value:,}"


def spans(numbers: list[int]) -> str:
    """[1, 3, 4, 5] as "1, 3-5" (with an en dash)."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}\u2013{r[-1]}" for r in runs)


TEMPLATES.env.filters.update(percent=percent, hours=hours, when=when, count=count, spans=spans)
TEMPLATES.env.globals["template_variables"] = VARIABLES
TEMPLATES.env.globals["sequence_variables"] = SEQUENCE_VARIABLES


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


def bar_chart(days: list[dict[str, Any]], width: int = 720, height: int = 180) -> Markup:
    """Tasks created per day as an SVG bar chart: scales with its box, a <title> per bar
    for hover and screen readers, the peak and the first/last dates labelled."""
    pad_left, pad_bottom, pad_top = 36, 22, 10
    plot_w, plot_h = width - pad_left - 4, height - pad_bottom - pad_top
    peak = max((d["created"] for d in days), default=0)
    scale = plot_h / peak if peak else 0
    slot = plot_w / max(len(days), 1)
    total = sum(d["created"] for d in days)
    label = f"Tasks created per day, {len(days)} days, {total} in all, at most {peak} a day"
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}">',
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - 4}" '
        f'y2="{pad_top + plot_h}" class="axis"/>',
        f'<text x="{pad_left - 6}" y="{pad_top + 8}" class="tick" text-anchor="end">{peak}</text>',
        f'<text x="{pad_left - 6}" y="{pad_top + plot_h}" class="tick" text-anchor="end">0</text>',
    ]
    for i, d in enumerate(days):
        h = d["created"] * scale
        x = pad_left + i * slot + slot * 0.15
        day: date = d["date"]
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{pad_top + plot_h - h:.1f}" '
            f'width="{slot * 0.7:.1f}" height="{h:.1f}" data-date="{day.isoformat()}" '
            f'data-count="{d["created"]}"><title>{day:%a %d %b}: {d["created"]} '
            f"task{'s' if d['created'] != 1 else ''}</title></rect>"
        )
    if days:
        y = height - 6
        first, last = days[0]["date"], days[-1]["date"]
        parts.append(f'<text x="{pad_left}" y="{y}" class="tick">{first:%d %b}</text>')
        parts.append(
            f'<text x="{width - 4}" y="{y}" class="tick" text-anchor="end">{last:%d %b}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))

"""Formatting for evaluation pages: numbers stored as fractions shown as people read them."""

from __future__ import annotations

from django import template

register = template.Library()
DASH = "—"


@register.filter
def percent(value: float | None, digits: int = 0) -> str:
    if value is None:
        return DASH
    return f"{100 * value:.{digits}f}%"


@register.filter
def interval(low: float | None, high: float | None) -> str:
    """A percent interval: `[41-63%]`."""
    if low is None or high is None:
        return ""
    return f"[{100 * low:.0f}-{100 * high:.0f}%]"


@register.filter
def number(value: float | None, digits: int = 2) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


@register.filter
def duration(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def status_badge(status: str) -> str:
    return {"succeeded": "ok", "failed": "bad", "cancelled": "warn"}.get(status, "")

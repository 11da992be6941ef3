"""Small checks the posthog and plausible connectors share (kept here, not copied)."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import urlsplit

from okrsync.errors import SourceDataError, excerpt


def base_url(url: str) -> str:
    """An ``http(s)://host[/prefix]`` address without its trailing slash."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url must start with http:// or https:// and name a host: {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"url takes no query string or fragment: {url!r}")
    return url.rstrip("/")


def not_blank(value: str, what: str) -> str:
    if not value.strip():
        raise ValueError(f"{what} is empty")
    return value


def finite_number(value: Any, what: str) -> float:
    """``value`` as a finite float; ``what`` names it in the SourceDataError otherwise."""
    shown = excerpt(json.dumps(value), 80) if _jsonable(value) else repr(value)
    if value is None:
        raise SourceDataError(f"{what} is null: no number to store")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise SourceDataError(f"{what} is {shown}, not a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise SourceDataError(f"{what} is {shown}, not a number") from None
    if not math.isfinite(number):
        raise SourceDataError(f"{what} is {shown}, not a finite number")
    return number


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


__all__ = ["base_url", "finite_number", "not_blank"]

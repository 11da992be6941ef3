"""What :mod:`connectors.sql.connector` makes of an answer: exactly one row with one number or flag.

no result set, 0 rows, 2+ rows, 2+ columns      SourceDataError, saying which
NULL                                            SourceDataError (hint: COALESCE)
bool                                            the bool (milestones)
int, float, Decimal (numbers.Real)              a finite float; NaN/±Inf refused
text, dates, bytes                              SourceDataError (hint: CAST)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from okrsync.errors import SourceDataError, excerpt


def to_value(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[float | bool, str]:
    """The single cell of a one-row, one-column answer as a bool or finite float."""
    if not columns:
        raise SourceDataError("the statement returned no result set; write one SELECT")
    if len(columns) != 1:
        names = excerpt(", ".join(columns), 80)
        raise SourceDataError(f"the query returned {len(columns)} columns ({names}), not one")
    if not rows:
        raise SourceDataError(
            "the query returned no rows, not one (an aggregate such as COUNT(*) or SUM(…) "
            "always returns one)"
        )
    if len(rows) > 1:
        raise SourceDataError(
            "the query returned more than one row, not one: aggregate them (SUM, COUNT …) "
            "or narrow the WHERE"
        )
    name, found = columns[0], rows[0][0]
    raw = excerpt(f"{name} = {found}", 200)
    if found is None:
        raise SourceDataError(
            f"the query returned NULL in {name}; write COALESCE(…, 0) if none means 0"
        )
    if isinstance(found, bool):
        return found, raw
    if isinstance(found, numbers.Real | Decimal):
        try:
            number = float(found)
        except (OverflowError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise SourceDataError(f"the query returned {found}, not a finite number")
        return number, raw
    text = excerpt(repr(found), 60)
    if isinstance(found, str):
        raise SourceDataError(f"the query returned text {text}, not a number: CAST it to a number")
    raise SourceDataError(f"the query returned a {type(found).__name__} ({text}), not a number")


__all__ = ["to_value"]

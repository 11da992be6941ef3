"""The base of the frozen models a mapping directory is made of.

An organisation holds tens of thousands of them (key results, their source
blocks, objectives). Pydantic gives every instance a set of the field names
written in the file; a set of six names costs 728 bytes, more than the values
it names: 9 MB for 10,000 key results (bench/README.md). Frozen models never
change that set (pydantic adds to it only on attribute assignment and copies it
in ``model_copy``), so instances with equal sets share one.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

_SHARED: dict[frozenset[str], set[str]] = {}


class Frozen(BaseModel):
    """Immutable, unknown keys rejected, and one shared set of written field names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def model_post_init(self, context: Any, /) -> None:
        written = self.__pydantic_fields_set__
        shared = _SHARED.setdefault(frozenset(written), written)
        object.__setattr__(self, "__pydantic_fields_set__", shared)


__all__ = ["Frozen"]

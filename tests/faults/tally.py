"""The fault suite's tally: every test of ``tests/faults/`` adds what it did.

A session-wide count of trials run, faults injected and values lost, printed by
``tests/conftest.py`` at the end of the run, so a reader sees at a glance how
hard the suite pushed and that nothing was lost. ``OKRSYNC_FAULTS_LONG=1``
selects the long variants (more trials, bigger corpora).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field


def long_form() -> bool:
    """True when the long variants were asked for (``make faults-long``)."""
    return os.environ.get("OKRSYNC_FAULTS_LONG", "") not in ("", "0", "false")


def trials(short: int, long: int) -> int:
    """How many trials a randomised fault test runs in this form."""
    return long if long_form() else short


@dataclass
class Tally:
    trials: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    lost: int = 0

    def trial(self, count: int = 1) -> None:
        self.trials += count

    def fault(self, kind: str, count: int = 1) -> None:
        self.faults[kind] += count

    def loss(self, count: int) -> None:
        """Values that should have survived and did not (a test fails as well)."""
        self.lost += count

    def lines(self) -> list[str]:
        total = sum(self.faults.values())
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.faults.items()))
        form = "long" if long_form() else "short"
        return [
            f"fault suite ({form} form): {self.trials} trials, {total} faults injected, "
            f"{self.lost} values lost",
            f"  by kind: {kinds or 'none'}",
        ]


TALLY = Tally()

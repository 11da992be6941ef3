"""Draw docs/forecast/*.svg: the forecast of a rising, flat, falling and noisy key result.

    python docs/forecast/pictures.py

The series are tests/domain/test_forecast.py's (40 daily values of a 0 → 100
key result in 2026-Q4); the projection and its status are okrsync's own
(okrsync.domain.forecast, okrsync.domain.progress), drawn by the dashboard's
chart code with its colours written into each file, so the pictures in the
README are what the code does.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from okrsync.domain.forecast import project  # noqa: E402
from okrsync.domain.progress import kr_status  # noqa: E402
from okrsync.publish.dashboard import chart  # noqa: E402
from tests.domain.test_forecast import KR, Q4, series  # noqa: E402

STYLE = """<style>
.plot { fill: #f6f8fa; stroke: #d0d7de; } .axis, .label { fill: #57606a; font: 12px sans-serif; }
.target { stroke: #1a7f37; stroke-dasharray: 6 4; stroke-width: 1.5; }
.expected { stroke: #57606a; stroke-dasharray: 2 4; stroke-width: 1.5; }
.today { stroke: #d0d7de; } .measured { fill: none; stroke: #0550ae; stroke-width: 2; }
.point { fill: #0550ae; } .forecast { stroke: #9a6700; stroke-dasharray: 4 3; stroke-width: 2; }
.interval { stroke: #9a6700; stroke-width: 6; stroke-opacity: 0.35; }
</style>"""


def main() -> None:
    out = Path(__file__).parent
    for kind in ("rising", "flat", "falling", "noisy"):
        points = [(t, 100 * p) for t, p in series(kind)]  # in the key result's unit
        found = project(Q4.start_at, Q4.end_at, series(kind))
        assert found is not None
        now = points[-1][0]
        status = kr_status(KR, progress=min(1.0, max(0.0, points[-1][1] / 100)),
                           expected=Q4.elapsed(now), now=now, measured_at=now,
                           last_status="ok", forecast=found)  # fmt: skip
        drawn = chart.Series(points, Q4.start_at, Q4.end_at, 0, 100, now, None,
                             100 * found.value, (100 * found.low, 100 * found.high))  # fmt: skip
        label = (f"{kind}: forecast {100 * found.value:.0f} "
                 f"({100 * found.low:.0f} to {100 * found.high:.0f}), status {status}")  # fmt: skip
        svg = chart.svg(drawn, label)
        head, _, rest = svg.partition(">")
        text = f'{head} xmlns="http://www.w3.org/2000/svg">{STYLE}{rest}'
        (out / f"{kind}.svg").write_text(text + "\n")
        print(f"{kind:8} {label}")


if __name__ == "__main__":
    main()

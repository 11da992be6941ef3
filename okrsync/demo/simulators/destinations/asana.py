"""Asana on 127.0.0.1: ``POST /api/1.0/goals/{goal_gid}/setMetricCurrentValue``.

As Asana's OpenAPI (github.com/Asana/openapi, defs/asana_oas.yaml) describes it: a
Bearer personal access token, ``{"data": {"current_number_value": n}}``, and 200
``{"data": Goal}`` whose ``metric`` carries ``current_number_value`` and
``current_display_value`` (rendered with the metric's ``unit`` and ``precision``; a
percentage of 0.25 shows as 25%). ``opt_fields`` (comma-separated, ``metric.x`` for a
metric's field) narrows the goal to ``gid``, ``resource_type`` and the fields named.
Errors are ``{"errors": [{"message", "help"}]}``, 500s adding a ``phrase``.

Checked in this order: the token (401 "Not Authorized"), the per-minute rate limit
(429 with ``Retry-After`` in seconds and Asana's documented message, when
``per_minute`` is set: a minute-long window as Asana's standard limiter), the gid (400
when not digits), the goal (404 when unknown or invisible to the token's user), the
workspace's plan (402 on a free one), the user's edit right (403), the body (400:
``data`` missing, ``current_number_value`` not a number), the metric (400 when the
goal has none, or when its progress comes from subgoals, projects or tasks).

Verified: the route, the body, the answer, the error body, "Not Authorized" and the
429 text. **Assumed**: the texts of the 400, 402, 403 and 404 answers.

``received`` lists every accepted value; :meth:`AsanaSimulator.current` reads one back.
"""

from __future__ import annotations

import hmac
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from okrsync.demo.simulators.server import FakeServer, Request, Response

DEMO_TOKEN = "2/1200000000000001/1209999999999999:0kr5ync0demo0000000000000000000"  # noqa: S105 - published, accepted only here
DEMO_GOAL_GID = "1204567890123456"
HELP = (
    "For more information on API status codes and how to handle them, read the docs on "
    "errors: https://developers.asana.com/docs/errors"
)
RATE_LIMITED = (
    "You've made too many requests and hit a rate limit. Please retry after the given "
    "amount of time."
)
AUTOMATIC = {
    "subgoal_progress",
    "project_task_completion",
    "project_milestone_completion",
    "task_completion",
}
_GID = re.compile(r"[0-9]+")
Unit = Literal["none", "currency", "percentage"]


@dataclass
class GoalMetric:
    """A goal's number metric."""

    current_number_value: float = 0.0
    initial_number_value: float = 0.0
    target_number_value: float = 100.0
    unit: Unit = "none"
    precision: int = 0
    currency_code: str | None = None
    progress_source: str = "manual"

    def display(self) -> str:
        if self.unit == "percentage":
            return f"{self.current_number_value * 100:.{self.precision}f}%"
        shown = f"{self.current_number_value:,.{self.precision}f}"
        return f"{shown} {self.currency_code}" if self.unit == "currency" else shown


@dataclass
class Goal:
    gid: str
    name: str
    metric: GoalMetric | None = field(default_factory=GoalMetric)
    paid: bool = True  # the workspace's plan includes goals
    visible: bool = True  # the token's user can see it
    editable: bool = True


@dataclass(frozen=True)
class Received:
    """One accepted value."""

    goal_gid: str
    current_number_value: float
    opt_fields: str | None
    keys: tuple[str, ...]  # the fields of ``data`` as sent
    time: float = field(default_factory=time.monotonic)


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    error: dict[str, str] = {"message": message, "help": HELP}
    if status >= 500:
        error["phrase"] = "6 sad squid snuggle softly"
    return Response.json({"errors": [error]}, status, headers)


class AsanaSimulator(FakeServer):
    """One user's token and the goals it sees; ``DEMO_GOAL_GID`` has a number metric."""

    def __init__(
        self,
        *,
        token: str = DEMO_TOKEN,
        per_minute: int | None = None,
        latency: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(latency=latency)
        self.token, self.per_minute, self.clock = token, per_minute, clock
        self.goals: dict[str, Goal] = {}
        self.received: list[Received] = []
        self._window = (math.floor(clock() / 60), 0)  # (minute, requests in it)
        self._state = threading.Lock()
        self.add_goal(DEMO_GOAL_GID, "Grow qualified pipeline to 120 opportunities")
        self.route("POST", r"/api/1\.0/goals/(?P<gid>[^/]+)/setMetricCurrentValue", self._set_value)

    def add_goal(
        self, gid: str, name: str = "A goal", metric: GoalMetric | None = None, **kw: Any
    ) -> Goal:
        goal = Goal(gid, name, metric if metric is not None else GoalMetric(), **kw)
        self.goals[gid] = goal
        return goal

    def current(self, gid: str) -> float | None:
        metric = self.goals[gid].metric
        return None if metric is None else metric.current_number_value

    # -- checks --------------------------------------------------------------

    def authorize(self, request: Request) -> Response | None:
        given = request.headers.get("authorization", "")
        if not given.startswith("Bearer ") or not hmac.compare_digest(
            given.removeprefix("Bearer ").encode(), self.token.encode()
        ):
            return _error(401, "Not Authorized")
        return self._throttle()

    def _throttle(self) -> Response | None:
        if self.per_minute is None:
            return None
        with self._state:
            now = self.clock()
            minute, count = self._window
            if math.floor(now / 60) != minute:
                minute, count = math.floor(now / 60), 0
            if count < self.per_minute:
                self._window = (minute, count + 1)
                return None
            self._window = (minute, count)
            wait = max(1, math.ceil((minute + 1) * 60 - now))
        return _error(429, RATE_LIMITED, {"Retry-After": str(wait)})

    # -- POST /goals/{gid}/setMetricCurrentValue -----------------------------

    def _set_value(self, request: Request) -> Response:
        gid = request.params["gid"]
        if not _GID.fullmatch(gid):
            return _error(400, f"goal: Not a valid gid: {gid[:40]}")
        goal = self.goals.get(gid)
        if goal is None or not goal.visible:
            return _error(404, f"goal: Unknown object: {gid}")
        if not goal.paid:
            return _error(402, "Goals are not available on your workspace's plan.")
        if not goal.editable:
            return _error(403, "You do not have permission to edit this goal.")
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            return _error(400, "Could not parse request data, invalid JSON")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            return _error(400, "data: Missing input")
        value = data.get("current_number_value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _error(400, f"current_number_value: Not a number: {json.dumps(value)[:40]}")
        metric = goal.metric
        if metric is None:
            return _error(400, "This goal has no metric: add a metric before setting its value.")
        if metric.progress_source in AUTOMATIC:
            return _error(
                400,
                f"The metric's progress comes from {metric.progress_source} and cannot be set.",
            )
        with self._state:
            metric.current_number_value = float(value)
            opt_fields = request.query.get("opt_fields")
            self.received.append(Received(gid, float(value), opt_fields, tuple(data)))
        return Response.json({"data": self._goal(goal, opt_fields)})

    def _goal(self, goal: Goal, opt_fields: str | None) -> dict[str, Any]:
        metric = goal.metric
        assert metric is not None
        full_metric: dict[str, Any] = {
            "gid": f"{goal.gid}9",
            "resource_type": "task",  # as Asana's GoalMetricBase example says
            "resource_subtype": "number",
            "precision": metric.precision,
            "unit": metric.unit,
            "currency_code": metric.currency_code,
            "initial_number_value": metric.initial_number_value,
            "target_number_value": metric.target_number_value,
            "current_number_value": metric.current_number_value,
            "current_display_value": metric.display(),
            "progress_source": metric.progress_source,
        }
        full: dict[str, Any] = {
            "gid": goal.gid,
            "resource_type": "goal",
            "name": goal.name,
            "notes": "",
            "status": "green",
            "metric": full_metric,
        }
        if not opt_fields:
            return full
        wanted = {f.strip() for f in opt_fields.split(",") if f.strip()}
        out: dict[str, Any] = {"gid": goal.gid, "resource_type": "goal"}
        for name in wanted:
            top, _, sub = name.partition(".")
            if top == "metric" and sub:
                part = out.setdefault("metric", {"gid": full_metric["gid"]})
                if sub in full_metric:
                    part[sub] = full_metric[sub]
            elif top in full:
                out[top] = full[top]
        return out


__all__ = [
    "DEMO_GOAL_GID",
    "DEMO_TOKEN",
    "RATE_LIMITED",
    "AsanaSimulator",
    "Goal",
    "GoalMetric",
    "Received",
]

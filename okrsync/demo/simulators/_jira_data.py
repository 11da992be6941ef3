"""The Jira simulator's seeded issues, laid out relative to ``today``.

Project SUP holds ~180 support tickets created over the last 120 days; project PROD
holds 100 stories with Story Points, epic PROD-101 with 12 children (7 done),
milestones PROD-200 "Launch 2.0" (unresolved) and PROD-201 (resolved). The same seed
and day give the same issues. ``FIELD_TABLE`` is what ``GET field`` lists.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

STORY_POINTS = "customfield_10016"
EPIC_LINK = "customfield_10014"
EPIC, EPIC_CHILDREN, EPIC_DONE = "PROD-101", 12, 7
CATEGORIES = {"new": (2, "To Do"), "indeterminate": (4, "In Progress"), "done": (3, "Done")}
STATUSES = {"To Do": "new", "In Progress": "indeterminate", "Done": "done"}
PROJECTS = {"SUP": "Support", "PROD": "Product"}
# fmt: off
FIELD_TABLE = [  # id, name, clause names, schema type
    ("summary", "Summary", "summary", "string"), ("status", "Status", "status", "status"),
    ("resolution", "Resolution", "resolution", "resolution"),
    ("resolutiondate", "Resolved", "resolutiondate resolved", "datetime"),
    ("created", "Created", "created createdDate", "datetime"),
    ("issuetype", "Issue Type", "issuetype type", "issuetype"),
    ("project", "Project", "project", "project"),
    (STORY_POINTS, "Story Points", "cf[10016] Story_Points", "number"),
    ("customfield_10020", "Team", "cf[10020] Team", "string"),
]
# fmt: on


@dataclass
class Issue:
    id: int
    key: str
    project: str
    type: str
    summary: str
    status: str
    created: datetime
    resolved: datetime | None = None
    points: float | None = None
    epic: str | None = None  # Cloud: fields.parent; Data Center: the Epic Link field

    @property
    def category(self) -> str:
        return STATUSES[self.status]

    @property
    def resolution(self) -> str | None:
        return "Done" if self.resolved is not None else None


def build_issues(seed: int, today: date) -> dict[str, Issue]:
    """The seeded data set, laid out relative to ``today``."""
    rng = random.Random(seed)  # noqa: S311 - test data, not crypto
    issues: dict[str, Issue] = {}

    def add(key: str, type_: str, status: str, summary: str, created: datetime, **kw: Any) -> None:
        project = key.split("-")[0]
        issues[key] = Issue(
            10000 + len(issues), key, project, type_, summary, status, created, **kw
        )

    def at(day: date) -> datetime:
        last = 11 if day == today else 17  # nothing later than the simulator's now()
        return datetime.combine(day, time(rng.randint(8, last), rng.randint(0, 59)), tzinfo=UTC)

    topics = ("Login fails", "Invoice wrong", "Export slow", "Password reset", "App crash")
    number = 0
    for back in range(119, -1, -1):  # ~2 tickets a day 120 days ago, ~1 a day now
        day = today - timedelta(days=back)
        for _ in range(int(1.0 + back / 120 + rng.random())):
            number += 1
            created = at(day)
            done = (back > 14 and rng.random() < 0.8) or rng.random() < 0.3
            resolved = created + timedelta(days=rng.randint(0, 5)) if done else None
            if resolved is not None and resolved.date() >= today:
                resolved = None
            status = "Done" if resolved else rng.choice(("To Do", "In Progress"))
            summary = f"{rng.choice(topics)} ({number})"
            add(f"SUP-{number}", rng.choice(("Bug", "Task")), status, summary, created, resolved=resolved)  # fmt: skip
    points = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0, None)
    for n in range(1, 101):
        created = at(today - timedelta(days=rng.randint(10, 150)))
        status = rng.choices(("Done", "In Progress", "To Do"), (45, 25, 30))[0]
        resolved = created + timedelta(days=rng.randint(1, 9)) if status == "Done" else None
        add(f"PROD-{n}", "Story", status, f"Story {n}", created, resolved=resolved, points=rng.choice(points))  # fmt: skip
    start = at(today - timedelta(days=60))
    add(EPIC, "Epic", "In Progress", "Checkout redesign", start)
    for i in range(EPIC_CHILDREN):
        status = "Done" if i < EPIC_DONE else ("In Progress" if i < EPIC_DONE + 3 else "To Do")
        resolved = start + timedelta(days=3 + 4 * i) if status == "Done" else None
        add(f"PROD-{102 + i}", "Story", status, f"Checkout step {i + 1}", start,
            resolved=resolved, points=float(1 + i % 5), epic=EPIC)  # fmt: skip
    add("PROD-200", "Task", "In Progress", "Launch 2.0", start)
    add("PROD-201", "Task", "Done", "Run the customer beta program", start,
        resolved=start + timedelta(days=20))  # fmt: skip
    return issues

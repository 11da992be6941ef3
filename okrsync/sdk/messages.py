"""What a channel posts: a digest or an alert, as structured parts every format is made from.

okrsync writes one :class:`Message` (title, summary, sections of items, and a
JSON form); each channel turns it into its vendor's shape (Slack blocks, a
Teams Adaptive Card, a mail's text and HTML parts, a webhook's JSON). Items
are plain text: a channel escapes them for its own markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["digest", "alert"]


@dataclass(frozen=True)
class Item:
    """One line: a key result, an objective or an initiative, and what is said of it."""

    text: str  # the name, e.g. "Reduce checkout from 9 steps to 6"
    detail: str = ""  # e.g. "67% (+5 pts), on track · 7 steps of 6"
    status: str | None = None  # the status word it carries, for a colour or an emoji
    link: str | None = None  # the dashboard page, when the channel knows its address

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "detail": self.detail, "status": self.status, "link": self.link}


@dataclass(frozen=True)
class Section:
    title: str
    items: list[Item] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "items": [i.to_json() for i in self.items]}


@dataclass(frozen=True)
class Message:
    """A digest or an alert; ``key`` is the same for every attempt (receivers dedupe on it)."""

    kind: Kind
    key: str
    title: str
    summary: str
    sections: list[Section] = field(default_factory=list)
    link: str | None = None  # the dashboard, when configured
    data: dict[str, Any] = field(default_factory=dict)  # the machine-readable facts

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "title": self.title,
            "summary": self.summary,
            "sections": [s.to_json() for s in self.sections],
            "link": self.link,
            "data": self.data,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Message:
        sections = [
            Section(s["title"], [Item(**i) for i in s.get("items", [])])
            for s in raw.get("sections", [])
        ]
        return cls(
            raw["kind"], raw["key"], raw["title"], raw["summary"], sections,
            raw.get("link"), raw.get("data") or {},
        )  # fmt: skip

    def markdown(self) -> str:
        """GitHub-flavoured Markdown: what ``okrsync report`` prints."""
        lines = [f"# {self.title}", "", self.summary, ""]
        for section in self.sections:
            lines += [f"## {section.title}", ""]
            for item in section.items:
                name = f"[{_md(item.text)}]({item.link})" if item.link else f"**{_md(item.text)}**"
                lines.append(f"- {name}" + (f" — {_md(item.detail)}" if item.detail else ""))
            lines.append("")
        if self.link:
            lines.append(f"[Open the dashboard]({self.link})")
        return "\n".join(lines).rstrip() + "\n"

    def text(self) -> str:
        """Plain text: a mail's first part, a notification's fallback."""
        lines = [self.title, "", self.summary, ""]
        for section in self.sections:
            lines += [section.title, "-" * len(section.title)]
            lines += [f"* {i.text}" + (f": {i.detail}" if i.detail else "") for i in section.items]
            lines.append("")
        if self.link:
            lines.append(f"Dashboard: {self.link}")
        return "\n".join(lines).rstrip() + "\n"


def _md(text: str) -> str:
    """Markdown's inline specials escaped, so a title never turns into markup."""
    for ch in "\\`*_[]<>|":
        text = text.replace(ch, "\\" + ch)
    return text


__all__ = ["Item", "Kind", "Message", "Section"]

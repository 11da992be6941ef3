"""The jira connection's settings and a key result's jira source: the models every jira module reads."""

from __future__ import annotations

import re
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from okrsync.sdk.connector import ConnectionSettings, SourceBase
from okrsync.sdk.http import AnswerLimit

ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]*-[1-9][0-9]*")


class JiraSettings(ConnectionSettings, AnswerLimit):
    type: Literal["jira"]
    url: str = Field(description="https://example.atlassian.net, or Data Center's base URL.")
    flavor: Literal["cloud", "datacenter"] | None = Field(
        default=None, description="Left out: read once from serverInfo's deploymentType."
    )
    email: str | None = Field(
        default=None, description="Cloud: the token's account (Basic). Left out: Bearer PAT."
    )
    token: str = Field(description="API token (Cloud) or personal access token: ${ENV_VAR}.")
    epic_link_field: str = Field(default="Epic Link", description="Data Center's epic link.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must start with http:// or https:// and name a host: {url!r}")
        return url.rstrip("/")

    @model_validator(mode="after")
    def _auth(self) -> Self:
        if self.flavor == "cloud" and not self.email:
            raise ValueError("flavor: cloud needs email, the account the API token belongs to")
        if not self.token.strip():
            raise ValueError("token is empty")
        return self


class JiraSource(SourceBase):
    jql: str | None = Field(default=None, description="{cycle.start} etc. become JQL dates.")
    aggregate: Literal["count", "sum", "avg", "min", "max"] | None = None
    field: str | None = Field(default=None, description="A numeric field, e.g. Story Points.")
    approximate: bool = Field(default=False, description="count on Cloud in one request.")
    issue: str | None = Field(default=None, description="Milestone: done once resolved.")

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        agg = self.aggregate
        if self.issue is not None:
            extra = [n for n in ("jql", "aggregate", "field") if getattr(self, n) is not None]
            if extra or self.approximate:
                drop = ", ".join(extra + ["approximate"] * self.approximate)
                raise ValueError(f"issue: KEY is a milestone source on its own; drop {drop}")
            if not ISSUE_KEY.fullmatch(self.issue):
                raise ValueError(f"issue must be an issue key like PROD-101, not {self.issue!r}")
        elif self.jql is None or not self.jql.strip():
            raise ValueError("a jira source is jql + aggregate, or issue: KEY")
        elif agg is None:
            raise ValueError("jql needs aggregate: count, sum, avg, min or max")
        elif agg == "count" and self.field is not None:
            raise ValueError("aggregate: count takes no field")
        elif agg != "count" and not (self.field or "").strip():
            raise ValueError(f"aggregate: {agg} needs field, e.g. field: Story Points")
        elif agg != "count" and self.approximate:
            raise ValueError("approximate: true applies to aggregate: count only")
        return self


__all__ = ["ISSUE_KEY", "JiraSettings", "JiraSource"]

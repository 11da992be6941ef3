"""The salesforce connection's settings (one login flow of four) and a key result's salesforce source.

The models every salesforce module reads, so none of them imports the connector.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from okrsync.sdk.connector import ConnectionSettings, SourceBase
from okrsync.sdk.http import AnswerLimit

FLOWS: dict[str, frozenset[str]] = {
    "password": frozenset({"username", "password", "security_token"}),
    "client credentials": frozenset({"consumer_key", "consumer_secret"}),
    "JWT bearer": frozenset({"username", "consumer_key", "privatekey_file"}),
    "session": frozenset({"instance_url", "session_id"}),
}
AUTH_FIELDS = frozenset().union(*FLOWS.values())
ACCEPTED = (
    "username + password + security_token, consumer_key + consumer_secret (client "
    "credentials), username + consumer_key + privatekey_file (JWT bearer), or "
    "instance_url + session_id (an existing session)"
)
_REPORT_ID = re.compile(r"00O[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?")
_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


class SalesforceSettings(ConnectionSettings, AnswerLimit):
    type: Literal["salesforce"]
    domain: str = Field(default="login", description="login | test | <mydomain>.my")
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    consumer_key: str | None = None
    consumer_secret: SecretStr | None = None
    privatekey_file: Path | None = Field(default=None, description="PEM key for JWT bearer.")
    instance_url: str | None = Field(default=None, description="With session_id.")
    session_id: SecretStr | None = None
    api_version: str = Field(default="62.0", pattern=r"^\d+\.\d$")

    @field_validator("domain")
    @classmethod
    def _domain(cls, domain: str) -> str:
        if "://" in domain or domain.endswith(".salesforce.com") or not domain:
            raise ValueError(
                "domain is login, test or <mydomain>.my (simple-salesforce adds "
                f"https:// and .salesforce.com), not {domain!r}"
            )
        return domain

    @model_validator(mode="after")
    def _one_flow(self) -> SalesforceSettings:
        if self.url is not None:
            raise ValueError("salesforce connections take domain (or instance_url), not url")
        given = {name for name in AUTH_FIELDS if getattr(self, name) is not None}
        if self.flow_of(given) is None:
            shown = ", ".join(sorted(given)) or "none"
            raise ValueError(f"give exactly one login: {ACCEPTED}; got {shown}")
        if given == FLOWS["client credentials"] and self.domain in ("login", "test"):
            raise ValueError("client credentials need your My Domain: domain: <mydomain>.my")
        if self.instance_url is not None and not self.instance_url.startswith("https://"):
            raise ValueError("instance_url must start with https://")
        return self

    @staticmethod
    def flow_of(given: set[str]) -> str | None:
        return next((name for name, need in FLOWS.items() if given == need), None)

    @property
    def flow(self) -> str:
        given = {name for name in AUTH_FIELDS if getattr(self, name) is not None}
        return self.flow_of(given) or "?"

    @property
    def who(self) -> str:
        """Who logs in, for messages: never a secret."""
        if self.username:
            return f"user {self.username}"
        if self.consumer_key:
            return f"consumer key {self.consumer_key}"
        return f"the session for {self.instance_url}"


class SalesforceSource(SourceBase):
    soql: str | None = Field(default=None, description="A SELECT; placeholders become literals.")
    value: str | None = Field(
        default=None,
        description="Alias or field of the one row (totalSize for COUNT()), or "
        "the report aggregate's key or label (s!Amount, Sum of Amount, RowCount).",
    )
    aggregate: Literal["sum", "count"] | None = Field(
        default=None, description="Sum or count `field` over every record the soql returns."
    )
    field: str | None = None
    include_deleted: bool = Field(default=False, description="queryAll: deleted records too.")
    report: str | None = Field(default=None, description="A report id (00O…); needs value.")

    @model_validator(mode="after")
    def _one_form(self) -> SalesforceSource:
        forms = (
            "soql + value (an alias or field; totalSize for COUNT()), soql + aggregate: "
            "sum|count + field, or report + value"
        )
        if self.report is not None:
            if self.soql or self.aggregate or self.field or self.include_deleted:
                raise ValueError(f"report takes only value; give one of: {forms}")
            if not _REPORT_ID.fullmatch(self.report):
                raise ValueError(
                    f"report must be a report id like 00O5g00000AbCdE, not {self.report!r}"
                )
        elif self.soql is None:
            raise ValueError(f"give one of: {forms}")
        elif not self.soql.lstrip().upper().startswith("SELECT"):
            raise ValueError("soql must be a SELECT query")
        elif self.aggregate is not None:
            if self.value is not None:
                raise ValueError("aggregate sums or counts field over the records: drop value")
            if self.aggregate == "sum" and self.field is None:
                raise ValueError("aggregate: sum needs field (the one to add up)")
        elif self.field is not None:
            raise ValueError("field goes with aggregate: sum|count; with value, drop field")
        if self.aggregate is None and not self.value:
            raise ValueError(f"value is required; give one of: {forms}")
        if self.field is not None and not _NAME.fullmatch(self.field):
            raise ValueError(f"field must be a field name like Amount, not {self.field!r}")
        return self


__all__ = ["ACCEPTED", "AUTH_FIELDS", "FLOWS", "SalesforceSettings", "SalesforceSource"]

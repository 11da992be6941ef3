"""``type: notion``: each key result's value into a number property of its Notion page.

One ``PATCH {url}/v1/pages/{page_id}`` per push with ``Authorization: Bearer <token>``,
``Notion-Version: 2022-06-28`` and ``{"properties": {value_property: {"number": v}}}``,
plus ``{date_property: {"date": {"start": measured_at}}}`` and ``{comment_property:
{"rich_text": [{"type": "text", "text": {"content": comment}}]}}`` when those are set
(developers.notion.com/reference/patch-page; a property is named by its name as shown
in the database). Notion answers the page object; the receipt quotes its
``last_edited_time``. The key result's item is the page id: 32 hex digits with or
without dashes (a pasted page address works too: its last 32 hex digits).

The version is pinned: a Notion-Version is required on every request (400
``missing_version`` without it, developers.notion.com/reference/versioning) and
2022-06-28 is the last version where a page's parent is a database rather than a data
source; patching a page's properties reads the same in later versions.

Errors are ``{"object": "error", "status", "code", "message"}``
(developers.notion.com/reference/status-codes); the message is Notion's, excerpted,
with the token masked:

    ==================================  =================================================
    401 unauthorized                    AuthError: the token is not a valid integration
                                        secret
    403 restricted_resource             AuthError: the integration lacks the capability;
                                        share the page with it
    404 object_not_found                QueryError naming the page (wrong id, or the page
                                        is not shared with the integration)
    400 validation_error, others        QueryError with Notion's message, e.g. "Current
                                        is expected to be rich_text." (the property's type)
    409 conflict_error                  TransientError (retried: a data collision)
    429 rate_limited, 5xx, 529          TransientError, Retry-After honoured
    ==================================  =================================================

Verified in Notion's docs: the request, the required header, the error shape and
codes, ~3 requests a second on average per integration (hence ``rate_limit: 3.0``)
with 429 and an integer ``Retry-After``, 2000 characters per rich text content (the
comment is cut there). Seen only in clients and issues (**unverified**): the wording
"API token is invalid.", "X is expected to be <its type>.", "X is not a property that
exists." and "Could not find page with ID: …".
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

import httpx
from pydantic import ConfigDict, Field, PositiveFloat, SecretStr, field_validator, model_validator

from okrsync.errors import (
    AuthError,
    MeasureError,
    QueryError,
    SourceDataError,
    TransientError,
    excerpt,
)
from okrsync.sdk.connector import Runtime
from okrsync.sdk.http import (
    Classify,
    body_json,
    check_base_url,
    make_client,
    request_json,
    retry_after,
)
from okrsync.sdk.publisher import DestinationSettings, PublisherType, PushItem
from okrsync.sdk.redaction import MASK, REDACTOR

DEFAULT_URL = "https://api.notion.com"
NOTION_VERSION = "2022-06-28"
TEXT_LIMIT = 2000  # characters of one rich text object's text.content (request limits)
_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE)
_IN_URL = re.compile(
    r"https://(?:www\.)?notion\.(?:so|site)/\S*?([0-9a-f]{32})(?:[?#]\S*)?", re.IGNORECASE
)


def check_page_id(item: str) -> str:
    """The page id in its dashed form (8-4-4-4-12), from an id or a page's address; else ValueError."""
    text = item.strip()
    found = _IN_URL.fullmatch(text)
    if found is not None:
        text = found.group(1)
    if not _ID.fullmatch(text):
        raise ValueError(
            f"{excerpt(item, 80)!r} is not a Notion page id: use the 32 hex digits at the end "
            "of the page's address (••• → Copy link), with or without dashes"
        )
    bare = text.replace("-", "").lower()
    return f"{bare[:8]}-{bare[8:12]}-{bare[12:16]}-{bare[16:20]}-{bare[20:]}"


class NotionSettings(DestinationSettings):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # never echo the token

    type: Literal["notion"]
    token: SecretStr = Field(description="The integration's secret (ntn_…): ${NOTION_TOKEN}.")
    url: str = Field(default=DEFAULT_URL, description="The Notion API's address.")
    value_property: str = Field(default="Current", description="The number property set.")
    date_property: str | None = Field(
        default=None, description="A date property set to when the value was measured."
    )
    comment_property: str | None = Field(
        default=None, description="A text property set to the provenance."
    )
    rate_limit: PositiveFloat | None = Field(
        default=3.0, description="Requests per second (Notion: about 3 on average)."
    )

    _url = field_validator("url")(check_base_url)

    @field_validator("value_property", "date_property", "comment_property")
    @classmethod
    def _name(cls, name: str | None) -> str | None:
        if name is not None and not name.strip():
            raise ValueError("a property's name cannot be empty")
        return name

    @model_validator(mode="after")
    def _distinct(self) -> NotionSettings:
        names = [n for n in (self.value_property, self.date_property, self.comment_property) if n]
        if len(set(names)) != len(names):
            raise ValueError(
                "value_property, date_property and comment_property must name different properties"
            )
        return self


def _number(value: float) -> int | float:
    number = float(value)
    if not math.isfinite(number):
        raise SourceDataError(f"{value!r} cannot be set as a Notion number")
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


class NotionDestination:
    """One integration token; every push patches one page's properties."""

    dated = False

    def __init__(self, name: str, settings: NotionSettings, runtime: Runtime) -> None:
        self._name, self._settings, self._runtime = name, settings, runtime
        self._secret = settings.token.get_secret_value()
        self._client = make_client(
            settings,
            headers={
                "Authorization": f"Bearer {self._secret}",
                "Notion-Version": NOTION_VERSION,
                "Accept": "application/json",
            },
        )
        self._closed = False

    def properties(self, item: PushItem) -> dict[str, Any]:
        """The ``properties`` object sent for ``item``."""
        s = self._settings
        props: dict[str, Any] = {s.value_property: {"number": _number(item.value)}}
        if s.date_property:
            props[s.date_property] = {"date": {"start": item.measured_at.isoformat()}}
        if s.comment_property:
            text = {"content": item.comment[:TEXT_LIMIT]}
            props[s.comment_property] = {"rich_text": [{"type": "text", "text": text}]}
        return props

    async def push(self, item: PushItem) -> str:
        try:
            page = check_page_id(item.item)
        except ValueError as exc:
            raise QueryError(str(exc)) from None
        props = self.properties(item)
        data, _ = await request_json(
            self._client,
            "PATCH",
            f"/v1/pages/{page}",
            retry=self._settings.retry,
            sleep=self._runtime.sleep,
            json_body={"properties": props},
            what=f"notion {self._name} page {page}",
            classify=self._classifier(page),
        )
        edited = data.get("last_edited_time") if isinstance(data, dict) else None
        value = props[self._settings.value_property]["number"]
        when = f" (last edited {edited})" if isinstance(edited, str) else ""
        return f"page {page}: {self._settings.value_property} = {value}{when}"

    def _scrub(self, text: str) -> str:
        return REDACTOR.redact(text.replace(self._secret, MASK) if self._secret else text)

    def _classifier(self, page: str) -> Classify:
        def classify(response: httpx.Response, label: str) -> MeasureError | None:
            status = response.status_code
            if status < 400:
                return None
            code, message = self._notion_error(response)
            head = f"HTTP {status}{' ' + code if code else ''}"
            said = f": {message}" if message else ""
            if status == 401:
                return AuthError(
                    f"{head}: Notion refused the token of destination {self._name!r} (use the "
                    f"integration's internal secret){said}"
                )
            if status == 403:
                return AuthError(
                    f"{head}: the integration may not edit page {page}: share the page (or its "
                    f"database) with the integration under ••• → Connections, and allow it to "
                    f"update content{said}"
                )
            if status == 404:
                return QueryError(
                    f"{head}: no Notion page {page} for this integration (a wrong id, or the "
                    f"page is not shared with the integration){said}"
                )
            if status in (408, 409, 425, 429) or status >= 500:
                return TransientError(
                    f"{head} from Notion updating page {page}{said}",
                    retry_after=retry_after(response),
                )
            hint = ""
            if message.startswith(f"{self._settings.value_property} is expected to be"):
                hint = (
                    f" (value_property {self._settings.value_property!r} must be a Number property)"
                )
            return QueryError(f"{head}: Notion refused the update of page {page}{hint}{said}")

        return classify

    def _notion_error(self, response: httpx.Response) -> tuple[str, str]:
        """(code, message) of Notion's error body, token masked; or ("", a body excerpt)."""
        body = body_json(response)
        if isinstance(body, dict) and body.get("object") == "error":
            code = body.get("code") if isinstance(body.get("code"), str) else ""
            message = body.get("message") if isinstance(body.get("message"), str) else ""
            return str(code), excerpt(self._scrub(str(message)), 240)
        return "", excerpt(self._scrub(response.text), 240)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()


def open_destination(name: str, settings: NotionSettings, runtime: Runtime) -> NotionDestination:
    return NotionDestination(name, settings, runtime)


PUBLISHER = PublisherType(
    type="notion",
    section="destinations",
    settings_model=NotionSettings,
    open=open_destination,
    doc="Notion: each key result's value into a number property of its page (PATCH /v1/pages).",
)

__all__ = [
    "NOTION_VERSION",
    "PUBLISHER",
    "NotionDestination",
    "NotionSettings",
    "check_page_id",
]

"""Notion on 127.0.0.1: ``PATCH /v1/pages/{page_id}`` (update page properties).

Requests need ``Notion-Version`` (else 400 ``missing_version`` "Notion-Version header
failed validation: Notion-Version header should be defined, instead was
`undefined`.") and ``Authorization: Bearer <token>`` of the integration (else 401
``unauthorized`` "API token is invalid."). The page id in the path may have dashes or
not. Pages live in a database and have typed properties; the body
``{"properties": {NAME: {"number": n} | {"date": {"start": ISO}} | {"rich_text":
[{"text": {"content": …}}]}}}`` is checked as Notion does: an unknown page, or one not
shared with the integration, is 404 ``object_not_found`` ("Could not find page with
ID: …. Make sure the relevant pages and databases are shared with your integration
"okrsync"."); an integration without the update-content capability is 403
``restricted_resource``; a property that does not exist ("X is not a property that
exists.") or of another type ("Current is expected to be rich_text.", naming the
property's own type) and a rich text over 2000 characters are 400 ``validation_error``;
an archived page cannot be edited.
With ``rate_limit`` (requests per second, a token bucket holding ``burst``), an excess
request is 429 ``rate_limited`` with ``Retry-After`` in whole seconds. Errors are
``{"object": "error", "status", "code", "message", "request_id"}``; success is the page
object.

``received`` lists every accepted update (page id, the properties sent);
:meth:`NotionSimulator.value` reads a property back.
"""

from __future__ import annotations

import hmac
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from okrsync.demo.simulators.server import FakeServer, Request, Response

DEMO_TOKEN = "ntn_okrsyncdemo0000000000000000000000000000000000"  # noqa: S105 - published, accepted only here
DEMO_PAGE_ID = "1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d"
DEMO_INTEGRATION = "okrsync"
TEXT_LIMIT = 2000  # characters of one rich text object's text.content (request limits)
_HEX = re.compile(r"[0-9a-fA-F]{32}")


def dashed(page_id: str) -> str | None:
    """The canonical ``8-4-4-4-12`` form of a page id given with or without dashes."""
    bare = page_id.replace("-", "")
    return str(uuid.UUID(bare)) if _HEX.fullmatch(bare) else None


@dataclass
class Page:
    """A page of a database: property name → (type, value)."""

    id: str
    properties: dict[str, tuple[str, Any]]
    shared: bool = True  # connected to the integration (••• → Connections)
    archived: bool = False
    last_edited_time: str = "2026-11-01T09:00:00.000Z"


@dataclass(frozen=True)
class Received:
    """One accepted update: the page and the properties as sent."""

    page_id: str
    properties: dict[str, Any]
    version: str
    time: float = field(default_factory=time.monotonic)


def _error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = {
        "object": "error",
        "status": status,
        "code": code,
        "message": message,
        "request_id": str(uuid.uuid4()),
    }
    return Response.json(body, status, headers)


class _Invalid(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.response = _error(400, "validation_error", message)


class NotionSimulator(FakeServer):
    """One integration (``token``) and its pages; ``DEMO_PAGE_ID`` has Current, Measured, Provenance."""

    def __init__(
        self,
        *,
        token: str = DEMO_TOKEN,
        integration: str = DEMO_INTEGRATION,
        can_update: bool = True,
        rate_limit: float | None = None,
        burst: int = 3,
        latency: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(latency=latency)
        self.token, self.integration, self.can_update = token, integration, can_update
        self.rate_limit, self.burst, self.clock = rate_limit, burst, clock
        self.pages: dict[str, Page] = {}
        self.received: list[Received] = []
        self._tokens = float(burst)
        self._refilled = clock()
        self._state = threading.Lock()
        self.add_page(DEMO_PAGE_ID)
        self.route("PATCH", r"/v1/pages/(?P<id>[^/]+)", self._patch)

    def add_page(
        self,
        page_id: str,
        properties: Mapping[str, str] | None = None,
        *,
        shared: bool = True,
        archived: bool = False,
    ) -> Page:
        """A page whose properties are name → type (default: Current number, Measured date, Provenance rich_text)."""
        types = properties or {
            "Name": "title",
            "Current": "number",
            "Measured": "date",
            "Provenance": "rich_text",
        }
        key = dashed(page_id)
        assert key is not None, page_id
        page = Page(key, {n: (t, None) for n, t in types.items()}, shared=shared, archived=archived)
        self.pages[key] = page
        return page

    def value(self, page_id: str, name: str) -> Any:
        key = dashed(page_id)
        assert key is not None
        return self.pages[key].properties[name][1]

    # -- checks --------------------------------------------------------------

    def authorize(self, request: Request) -> Response | None:
        given = request.headers.get("authorization", "")
        if not given.startswith("Bearer ") or not hmac.compare_digest(
            given.removeprefix("Bearer ").encode(), self.token.encode()
        ):
            return _error(401, "unauthorized", "API token is invalid.")
        if "notion-version" not in request.headers:
            return _error(
                400,
                "missing_version",
                "Notion-Version header failed validation: Notion-Version header should be "
                "defined, instead was `undefined`.",
            )
        return self._throttle()

    def _throttle(self) -> Response | None:
        if self.rate_limit is None:
            return None
        with self._state:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate_limit)
            self._refilled = now
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            wait = max(1, math.ceil((1 - self._tokens) / self.rate_limit))
        return _error(
            429,
            "rate_limited",
            "You have been rate limited. Please try again in a few minutes.",
            {"Retry-After": str(wait)},
        )

    # -- PATCH /v1/pages/{id} --------------------------------------------------

    def _patch(self, request: Request) -> Response:
        raw = request.params["id"]
        key = dashed(raw)
        if key is None:
            return _error(
                400,
                "validation_error",
                f'path failed validation: path.page_id should be a valid uuid, instead was `"{raw}"`.',
            )
        page = self.pages.get(key)
        if page is None or not page.shared:
            return _error(
                404,
                "object_not_found",
                f"Could not find page with ID: {key}. Make sure the relevant pages and databases "
                f'are shared with your integration "{self.integration}".',
            )
        if not self.can_update:
            return _error(
                403,
                "restricted_resource",
                "Integration doesn't have update content capabilities. Enable them in the "
                "integration's settings.",
            )
        try:
            properties = self._properties(request.body, page)
        except _Invalid as exc:
            return exc.response
        with self._state:
            for name, value in properties.items():
                kind = page.properties[name][0]
                page.properties[name] = (kind, _stored(kind, value))
            page.last_edited_time = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:00.000Z")
            self.received.append(
                Received(page.id, properties, request.headers.get("notion-version", ""))
            )
        return Response.json(self._page_object(page))

    def _properties(self, body: bytes, page: Page) -> dict[str, Any]:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise _Invalid("Error parsing JSON body.") from None
        if not isinstance(data, dict):
            raise _Invalid(
                "body failed validation: body should be an object, instead was `"
                + json.dumps(data)[:40]
                + "`."
            )
        properties = data.get("properties")
        if not isinstance(properties, dict):
            raise _Invalid(
                "body failed validation: body.properties should be an object, instead was `undefined`."
            )
        if page.archived:
            raise _Invalid(
                "Can't edit block that is archived. You must unarchive the block before editing."
            )
        for name, value in properties.items():
            if name not in page.properties:
                raise _Invalid(f"{name} is not a property that exists.")
            kind = page.properties[name][0]
            if not isinstance(value, dict) or kind not in value:
                raise _Invalid(f"{name} is expected to be {kind}.")
            _check(name, kind, value[kind])
        return properties

    def _page_object(self, page: Page) -> dict[str, Any]:
        props = {}
        for i, (name, (kind, value)) in enumerate(page.properties.items()):
            props[name] = {
                "id": "title" if kind == "title" else f"p{i:03d}",
                "type": kind,
                kind: value,
            }
        return {
            "object": "page",
            "id": page.id,
            "created_time": "2026-10-01T08:00:00.000Z",
            "last_edited_time": page.last_edited_time,
            "archived": page.archived,
            "in_trash": page.archived,
            "parent": {
                "type": "database_id",
                "database_id": "0f0e0d0c-0b0a-4908-8706-050403020100",
            },
            "properties": props,
            "url": f"https://www.notion.so/{page.id.replace('-', '')}",
        }


def _check(name: str, kind: str, value: Any) -> None:
    where = f"body.properties.{name}.{kind}"
    if kind == "number":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise _Invalid(
                f"body failed validation: {where} should be a number or `null`, instead was `{json.dumps(value)}`."
            )
    elif kind == "date":
        start = value.get("start") if isinstance(value, dict) else None
        if value is not None and (not isinstance(start, str) or not _iso(start)):
            raise _Invalid(
                f"body failed validation: {where}.start should be a valid ISO 8601 date string, instead was `{json.dumps(start)}`."
            )
    elif kind in ("rich_text", "title"):
        if not isinstance(value, list):
            raise _Invalid(
                f"body failed validation: {where} should be an array, instead was `{json.dumps(value)[:40]}`."
            )
        for i, part in enumerate(value):
            text = part.get("text") if isinstance(part, dict) else None
            content = text.get("content") if isinstance(text, dict) else None
            if not isinstance(content, str):
                raise _Invalid(
                    f"body failed validation: {where}[{i}].text.content should be defined, instead was `undefined`."
                )
            if len(content) > TEXT_LIMIT:
                raise _Invalid(
                    f"body failed validation: {where}[{i}].text.content.length should be ≤ "
                    f"`{TEXT_LIMIT}`, instead was `{len(content)}`."
                )


def _iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _stored(kind: str, value: Any) -> Any:
    """What the page keeps: the number, the date's start, the rich text's plain text."""
    inner = value[kind]
    if kind == "date":
        return None if inner is None else inner["start"]
    if kind in ("rich_text", "title"):
        return "".join(part["text"]["content"] for part in inner)
    return inner


__all__ = [
    "DEMO_INTEGRATION",
    "DEMO_PAGE_ID",
    "DEMO_TOKEN",
    "TEXT_LIMIT",
    "NotionSimulator",
    "Page",
    "Received",
    "dashed",
]

"""``type: okr-tracker``: dated key-result (and KPI) values into Oslo kommune's OKR Tracker.

OKR Tracker is self-hosted: a Firebase function behind a Google API Gateway.
By default (``route: values``) a push sets the value of one UTC day::

    PUT {url}/keyres/{id}/values/{YYYY-MM-DD}   {"value": 42, "comment": "okrsync: …"}
    PUT {url}/kpi/{id}/values/{YYYY-MM-DD}      (item ``kpi:<id>``)

With ``route: progress`` a value measured today is registered as progress
instead, an entry timestamped now that the tool's "last updated" shows::

    POST {url}/keyres/{id}   {"progress": 42, "comment": "okrsync: …"}
    POST {url}/kpi/{id}      (text answers: ``Updated key result (id) with progress: 42``)

and a value of an earlier day (``okrsync push --history``, a late push)
still goes to that day's ``values``: POST can only file under now.

with ``x-api-key`` (the gateway's) and either ``okr-client-id`` +
``okr-client-secret`` (an API client of the organisation, department or
product owning the item; only its newest secret works) or the legacy
``okr-team-secret``. The tool keeps one entry per UTC day (at 12:00), deleting
that day's others, so a re-sent value is idempotent and ``--history`` fills
one value per day. A POST appends: a push re-sent after a crash adds a second
entry of the same value, which is why ``values`` is the default.

Verified in github.com/oslokommune/okr-tracker @66d697a (``public/openapi.yaml``,
``functions/api/{index,helpers,validators,validateRules}.js``, ``routes/keyres.js``,
``routes/kpi.js``): the checks run gateway → rate limit → validation (400
``{"message":"Invalid request data","errors":{path: {msg…}}}``) → 404 ``{"message"}``
→ API client or team secret (401 ``{"message"}``) → write (200 ``{"message"}``).
``value`` must pass ``isFloat({min: 0})``: a negative value is refused here,
before sending. ``comment`` is trimmed and HTML-escaped by the tool, so it is
sent raw. express-rate-limit 6.11 allows 1000 requests per 5 minutes per IP and
answers 429 ``Too many requests, please try again later.`` with ``Retry-After``.
The gateway's own answers (ESPv2): 401 ``{"code":401,"message":"UNAUTHENTICATED:…"}``
without a key, 400 ``{"code":400,"message":"INVALID_ARGUMENT:API key not valid…"}``
with a wrong one, 404 ``{"code":404,…}`` for a route it does not serve.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import Field, PositiveFloat, SecretStr, field_validator, model_validator

from okrsync.errors import AuthError, MeasureError, QueryError, TransientError, excerpt
from okrsync.sdk.connector import Runtime
from okrsync.sdk.http import body_json, check_base_url, make_client, request_json, retry_after
from okrsync.sdk.publisher import DestinationSettings, PublisherType, PushItem
from okrsync.sdk.redaction import REDACTOR, Redactor

KPI_PREFIX = "kpi:"
INVALID = "Invalid request data"
CREDENTIALS_KEY = "_alternative_grouped"  # express-validator's key for the oneOf of the headers


class OkrTrackerSettings(DestinationSettings):
    type: Literal["okr-tracker"]
    url: str = Field(description="The API gateway's address, e.g. https://okr-api-….gateway.dev.")
    api_key: SecretStr = Field(description="The gateway's API key (header x-api-key).")
    client_id: str | None = Field(default=None, description="API client id (okr-client-id).")
    client_secret: SecretStr | None = Field(
        default=None, description="That API client's newest secret (okr-client-secret)."
    )
    team_secret: SecretStr | None = Field(
        default=None, description="Legacy: the item owner's secret (okr-team-secret)."
    )
    rate_limit: PositiveFloat | None = Field(
        default=3.0, description="Requests per second (OKR Tracker: 1000 per 5 minutes per IP)."
    )
    route: Literal["values", "progress"] = Field(
        default="values",
        description=(
            "values: PUT the day's value (idempotent); progress: POST today's value as "
            "progress, shown as the item's last update (earlier days still PUT)."
        ),
    )

    _url = field_validator("url")(check_base_url)

    @field_validator("api_key", "client_secret", "team_secret")
    @classmethod
    def _not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("is empty")
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> OkrTrackerSettings:
        client = self.client_id is not None or self.client_secret is not None
        if client and self.team_secret is not None:
            raise ValueError(
                "give either client_id + client_secret (an API client) or team_secret, not both"
            )
        if client and (not (self.client_id or "").strip() or self.client_secret is None):
            raise ValueError("client_id and client_secret go together: set both")
        if not client and self.team_secret is None:
            raise ValueError(
                "set client_id + client_secret (an API client of the item's owner, from "
                "OKR Tracker's integrations admin) or the legacy team_secret"
            )
        return self


def parse_item(item: str) -> tuple[Literal["keyres", "kpi"], str]:
    """``abc123`` → a key result, ``kpi:abc123`` → a KPI; a Firestore id has no ``/``."""
    route: Literal["keyres", "kpi"] = "keyres"
    ident = item.strip()
    if ident.startswith(KPI_PREFIX):
        route, ident = "kpi", ident[len(KPI_PREFIX) :].strip()
    if not ident or "/" in ident or ident in (".", ".."):
        raise QueryError(
            f"okr-tracker item {item!r} is not an id: write the key result's id "
            "(the last part of its address in OKR Tracker) or kpi:<KPI id>"
        )
    return route, ident


def utc_day(moment: datetime) -> str:
    """The UTC date the tool files a value under (a naive time is taken as UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).date().isoformat()


def _number(value: float) -> float | int:
    """42.0 is sent as 42, so the tool's answer reads ``with value 42``."""
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


class OkrTrackerDestination:
    dated = True

    def __init__(self, name: str, settings: OkrTrackerSettings, runtime: Runtime) -> None:
        self._name, self._settings, self._runtime = name, settings, runtime
        self._closed = False
        self._redactor = Redactor()  # our own secrets, even when the loader registered none
        headers = {"Accept": "application/json", "x-api-key": settings.api_key.get_secret_value()}
        if settings.client_id is not None and settings.client_secret is not None:
            headers["okr-client-id"] = settings.client_id.strip()
            headers["okr-client-secret"] = settings.client_secret.get_secret_value()
        elif settings.team_secret is not None:
            headers["okr-team-secret"] = settings.team_secret.get_secret_value()
        for secret in (settings.api_key, settings.client_secret, settings.team_secret):
            if secret is not None:
                self._redactor.add(secret.get_secret_value())
        self._client = make_client(settings, headers=headers)

    async def push(self, item: PushItem) -> str:
        route, ident = parse_item(item.item)
        noun = "KPI" if route == "kpi" else "key result"
        if not math.isfinite(item.value):
            raise QueryError(f"{item.kr_id} has no finite value ({item.value}) to push")
        if item.value < 0:
            raise QueryError(
                f"okr-tracker accepts no negative values (its API checks value ≥ 0): "
                f"{item.kr_id} is {item.value:g}, not sent to {noun} {ident}"
            )
        day = utc_day(item.measured_at)
        body: dict[str, Any] = {"value": _number(item.value)}
        if item.comment.strip():
            body["comment"] = item.comment  # the tool trims and HTML-escapes it itself

        def classify(response: httpx.Response, label: str) -> MeasureError | None:
            return self._classify(response, label, noun, ident, day)

        path = f"/{route}/{quote(ident, safe='')}"
        progress = self._settings.route == "progress" and day == utc_day(datetime.now(UTC))
        if progress:
            body["progress"] = body.pop("value")
        data, raw = await request_json(
            self._client,
            "POST" if progress else "PUT",
            path if progress else f"{path}/values/{day}",
            retry=self._settings.retry,
            sleep=self._runtime.sleep,
            json_body=body,
            what="okr-tracker push",
            classify=classify,
            expect_json=not progress,  # POST answers text/plain
        )
        message = data.get("message") if isinstance(data, dict) else None
        return excerpt(self._scrub(str(message) if message else raw), 200)

    def _classify(
        self, response: httpx.Response, label: str, noun: str, ident: str, day: str
    ) -> MeasureError | None:
        """Every non-2xx answer, in the tool's (or its gateway's) own words, secrets masked."""
        status = response.status_code
        if 200 <= status < 300:
            return None
        data = body_json(response)
        said = data.get("message") if isinstance(data, dict) else None
        text = self._scrub(excerpt(str(said) if said else response.text, 240))
        tail = f": {text}" if text else ""
        gateway = isinstance(data, dict) and "code" in data and "errors" not in data
        if status == 429:
            return TransientError(
                f"okr-tracker is rate limiting (HTTP 429 from {label}){tail}",
                retry_after=retry_after(response),
            )
        if status >= 500:
            return TransientError(
                f"HTTP {status} from {label}{tail}", retry_after=retry_after(response)
            )
        if gateway and status in (400, 401, 403):
            return AuthError(f"the API gateway refused api_key (HTTP {status} from {label}){tail}")
        if gateway and status == 404:
            return QueryError(
                f"the API gateway does not serve {label} (HTTP 404){tail}; "
                "url must be the gateway's address, without a path"
            )
        if status == 400 and isinstance(data, dict) and isinstance(data.get("errors"), dict):
            errors: dict[str, Any] = data["errors"]
            details = "; ".join(self._field_error(key, err) for key, err in errors.items())
            if set(errors) == {CREDENTIALS_KEY}:
                return AuthError(f"okr-tracker wants credentials ({label}): {details}")
            return QueryError(
                f"okr-tracker refused the value of {noun} {ident} for {day} "
                f"({label}): {self._scrub(str(said or INVALID))}: {details}"
            )
        if status in (401, 403):
            return AuthError(
                f"okr-tracker refused the credentials for {noun} {ident} "
                f"(HTTP {status} from {label}){tail}"
            )
        if status == 404:
            return QueryError(f"okr-tracker has no {noun} {ident!r} (HTTP 404 from {label}){tail}")
        hint = " (redirect not followed: set url to the final address)" if status < 400 else ""
        return QueryError(f"HTTP {status} from {label}{hint}{tail}")

    def _field_error(self, key: str, error: Any) -> str:
        """``value: Invalid value`` (the value itself is left out: it may be anything)."""
        msg = error.get("msg") if isinstance(error, dict) else error
        path = error.get("path", key) if isinstance(error, dict) else key
        name = "credentials" if key == CREDENTIALS_KEY else path
        return f"{name}: {self._scrub(excerpt(str(msg), 160))}"

    def _scrub(self, text: str) -> str:
        return self._redactor.redact(REDACTOR.redact(text))

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()


def open_destination(name: str, settings: Any, runtime: Runtime) -> OkrTrackerDestination:
    return OkrTrackerDestination(name, settings, runtime)


PUBLISHER = PublisherType(
    type="okr-tracker",
    section="destinations",
    settings_model=OkrTrackerSettings,
    open=open_destination,
    doc="Oslo kommune's OKR Tracker: a dated value per UTC day of a key result or KPI.",
)

__all__ = [
    "PUBLISHER",
    "OkrTrackerDestination",
    "OkrTrackerSettings",
    "parse_item",
    "utc_day",
]

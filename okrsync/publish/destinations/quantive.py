"""``type: quantive``: each key result's value as a check-in of its Quantive (Gtmhub) metric.

One ``POST {url}/metrics/{metric_id}/checkin`` per push with ``Authorization: Bearer
<token>``, ``gtmhub-accountid: <account id>`` and ``{"actual": v, "checkInDate":
"<ISO 8601 UTC>", "comment": provenance}``. In Quantive's API a key result is a
*metric*; its id is a 24-hex MongoDB ObjectId. ``checkInDate`` is the value's
measurement time, so the destination is *dated*: ``okrsync push --history`` checks in
each stored value on its own date. ``confidence`` is not sent (Quantive keeps the
key result's own).

``url`` is the regional API base: ``https://app.quantive.com/results/api/v1`` (EU, the
default), ``https://app.us.quantive.com/results/api/v1`` (US; ``.as.``/``.sa.`` for the
other data centres), or the legacy ``https://app[.us].gtmhub.com/api/v1``.

Verified: the request, its body fields and the two headers in Quantive's own CLI
(github.com/gtmhub/gtmhub-cli: gtmhub_client/krs.go ``UpdateMetric``, client.go,
model/metric.go ``CheckInMetricRequest``; the CLI treats any status above 300 as a
failure and reads nothing of the answer), the hosts and the required headers in
developer.quantive.com (Usage), and the documented status codes of the Results API
(200, 400, 401, 402 payment required, 403, 404, 500). **Assumed** (not documented
publicly): the answer's body (taken to be the metric, ``{id, name, actual, target,
lastCheckInDate}`` as model/metric.go reads metrics, and only quoted in the receipt
when it is so), the error body (read as ``{"message"}``, ``{"error"}``,
``{"error": {"message"}}`` or text, whichever it is), the rate limit (``rate_limit:
2.0`` is a cautious guess) and whether 429 carries ``Retry-After`` (honoured if it does).

    ==================  ==========================================================
    401                 AuthError: the token is rejected (expired or revoked)
    402                 AuthError: the account's plan does not include the API
    403                 AuthError: the token's user may not check in this metric
                        (or account_id is not the token's account)
    404                 QueryError naming the metric
    400, other 4xx      QueryError with Quantive's message
    429, 5xx            TransientError, Retry-After honoured
    ==================  ==========================================================
"""

from __future__ import annotations

import math
import re
from datetime import UTC
from typing import Any, Literal

import httpx
from pydantic import ConfigDict, Field, PositiveFloat, SecretStr, field_validator

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

DEFAULT_URL = "https://app.quantive.com/results/api/v1"
_OBJECT_ID = re.compile(r"[0-9a-f]{24}", re.IGNORECASE)


def check_metric_id(item: str) -> str:
    """The metric id, lower-case: 24 hex digits (a MongoDB ObjectId); else ValueError."""
    text = item.strip()
    if not _OBJECT_ID.fullmatch(text):
        raise ValueError(
            f"{excerpt(item, 80)!r} is not a Quantive metric id: use the key result's id, "
            "24 hex digits (e.g. 5e8c27e3dcdddaa4addbdee8)"
        )
    return text.lower()


def _account_id(value: str) -> str:
    text = value.strip()
    if not _OBJECT_ID.fullmatch(text):
        raise ValueError(
            "account_id must be the Quantive account id, 24 hex digits (shown with the "
            "API token: see Quantive's API Quickstart)"
        )
    return text.lower()


class QuantiveSettings(DestinationSettings):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # never echo the token

    type: Literal["quantive"]
    token: SecretStr = Field(description="An API token of the account: ${QUANTIVE_TOKEN}.")
    account_id: str = Field(description="The account's id, sent as gtmhub-accountid.")
    url: str = Field(
        default=DEFAULT_URL,
        description="The regional API base, e.g. https://app.us.quantive.com/results/api/v1.",
    )
    rate_limit: PositiveFloat | None = Field(
        default=2.0, description="Requests per second (Quantive documents none: a guess)."
    )

    _url = field_validator("url")(check_base_url)
    _account = field_validator("account_id")(_account_id)

    @field_validator("url")
    @classmethod
    def _no_trailing_slash(cls, url: str) -> str:
        return url.rstrip("/")


def _number(value: float) -> int | float:
    number = float(value)
    if not math.isfinite(number):
        raise SourceDataError(f"{value!r} cannot be checked in to Quantive")
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def check_in_date(item: PushItem) -> str:
    """``measured_at`` in UTC as ``2026-11-15T12:00:00Z`` (a naive time is taken as UTC)."""
    when = item.measured_at
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


class QuantiveDestination:
    """One API token of one account; every push checks in one metric."""

    dated = True

    def __init__(self, name: str, settings: QuantiveSettings, runtime: Runtime) -> None:
        self._name, self._settings, self._runtime = name, settings, runtime
        self._secret = settings.token.get_secret_value()
        self._client = make_client(
            settings,
            headers={
                "Authorization": f"Bearer {self._secret}",
                "gtmhub-accountid": settings.account_id,
                "Accept": "application/json",
            },
        )
        self._closed = False

    def body(self, item: PushItem) -> dict[str, Any]:
        """The check-in sent for ``item``."""
        return {
            "actual": _number(item.value),
            "checkInDate": check_in_date(item),
            "comment": item.comment,
        }

    async def push(self, item: PushItem) -> str:
        try:
            metric = check_metric_id(item.item)
        except ValueError as exc:
            raise QueryError(str(exc)) from None
        body = self.body(item)
        answered: list[Any] = []
        await request_json(
            self._client,
            "POST",
            f"/metrics/{metric}/checkin",
            retry=self._settings.retry,
            sleep=self._runtime.sleep,
            json_body=body,
            what=f"quantive {self._name} metric {metric}",
            classify=self._classifier(metric, answered),
            expect_json=False,  # the answer's shape is not documented: never fail on it
        )
        return self._receipt(metric, body, answered[-1] if answered else None)

    def _receipt(self, metric: str, body: dict[str, Any], answer: Any) -> str:
        name = answer.get("name") if isinstance(answer, dict) else None
        named = f" ({excerpt(self._scrub(name), 60)})" if isinstance(name, str) and name else ""
        return f"metric {metric}{named}: actual = {body['actual']} checked in for {body['checkInDate']}"

    def _scrub(self, text: str) -> str:
        return REDACTOR.redact(text.replace(self._secret, MASK) if self._secret else text)

    def _classifier(self, metric: str, answered: list[Any]) -> Classify:
        def classify(response: httpx.Response, label: str) -> MeasureError | None:
            status = response.status_code
            if 200 <= status < 300:
                answered.append(body_json(response))
                return None
            if status < 400:
                return QueryError(
                    f"HTTP {status} from {label}: a redirect, not followed (set url to the "
                    "regional API base, e.g. https://app.us.quantive.com/results/api/v1)"
                )
            message = self._quantive_error(response)
            said = f": {message}" if message else ""
            if status == 401:
                return AuthError(
                    f"HTTP 401: Quantive refused the token of destination {self._name!r} "
                    f"(expired or revoked? create a new API token){said}"
                )
            if status == 402:
                return AuthError(
                    f"HTTP 402: the Quantive account's plan does not include API access{said}"
                )
            if status == 403:
                return AuthError(
                    f"HTTP 403: Quantive forbids checking in metric {metric} (the token's user "
                    f"needs edit access to the key result; account_id must be the token's "
                    f"account){said}"
                )
            if status == 404:
                return QueryError(
                    f"HTTP 404: no Quantive metric {metric} in account "
                    f"{self._settings.account_id} (a wrong id, a deleted key result, or "
                    f"another region's url){said}"
                )
            if status in (408, 425, 429) or status >= 500:
                return TransientError(
                    f"HTTP {status} from Quantive checking in metric {metric}{said}",
                    retry_after=retry_after(response),
                )
            return QueryError(f"HTTP {status}: Quantive refused the check-in of {metric}{said}")

        return classify

    def _quantive_error(self, response: httpx.Response) -> str:
        """The message of an error body, whatever its (undocumented) shape; token masked."""
        body = body_json(response)
        text: Any = None
        if isinstance(body, dict):
            error = body.get("error")
            text = body.get("message") or (
                error.get("message") if isinstance(error, dict) else error
            )
        if not isinstance(text, str):
            text = response.text
        return excerpt(self._scrub(text), 240)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()


def open_destination(
    name: str, settings: QuantiveSettings, runtime: Runtime
) -> QuantiveDestination:
    return QuantiveDestination(name, settings, runtime)


PUBLISHER = PublisherType(
    type="quantive",
    section="destinations",
    settings_model=QuantiveSettings,
    open=open_destination,
    doc="Quantive (Gtmhub): each value as a dated check-in of its metric (POST /metrics/{id}/checkin).",
)

__all__ = [
    "DEFAULT_URL",
    "PUBLISHER",
    "QuantiveDestination",
    "QuantiveSettings",
    "check_in_date",
    "check_metric_id",
]

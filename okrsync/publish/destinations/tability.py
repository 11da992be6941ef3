"""``type: tability``: each key result's value as a check-in of its Tability outcome.

Through Tability's Check-ins API (guides.tability.app, "Using the Check-ins API"): one
``POST {url}/webhooks/checkins?remote_checkins_token=<the outcome's token>`` per push,
with ``{"personal_api_token": <token>, "score": "<value>", "body": <provenance>}``.
The score travels as a string of plain decimal digits ("25000", "0.375"), as in
Tability's example. ``confidence`` is not sent: Tability then derives it from the
progress against the projected growth (green above 70 %, yellow from 50 %, red below).
The check-in is dated when it arrives, so the destination is not *dated*.

The key result's item is the outcome's remote check-ins token (enable *Check-ins API*
in the outcome's menu), or the whole remote check-ins URL copied from there. It names
the outcome and is half a credential: errors and receipts show only its first four
characters.

Verified in Tability's guide: the URL, the query parameter, the three body fields and
the string score, confidence derived when absent, the feature being on the Plus and
Premium plans, the personal API token from tability.app/account. **Assumed** (not
documented): the answer (taken as 200 with the check-in as JSON, ``{id, score,
confidence, body, …}`` as the v2 API lists check-ins, and quoted only when it is so),
the error statuses and bodies (read as ``{"error"}``, ``{"errors": […]}``,
``{"message"}`` or text), and the rate limit (``rate_limit: 1.0`` is a cautious guess).

    ==================  ==========================================================
    401                 AuthError: the personal API token is rejected
    402, 403            AuthError: the plan or the user may not use remote check-ins
    404                 QueryError: no outcome with that token (or its Check-ins API
                        is off)
    400, 422, other     QueryError with Tability's message
    429, 5xx            TransientError, Retry-After honoured
    ==================  ==========================================================

A check-in is not idempotent: a push retried after a 5xx whose check-in was in fact
recorded adds a second one with the same score (harmless for the graph).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

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

DEFAULT_URL = "https://api.tability.app"
SHOWN = 4  # characters of an outcome's token shown in messages
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,200}")


def shown(token: str) -> str:
    """An outcome's token as messages show it: its first four characters."""
    return f"{token[:SHOWN]}…"


def check_remote_token(item: str) -> str:
    """The remote check-ins token, from the token or the remote check-ins URL; else ValueError."""
    text = item.strip()
    if text.lower().startswith(("http://", "https://")):
        tokens = parse_qs(urlsplit(text).query).get("remote_checkins_token", [])
        if len(tokens) != 1:
            raise ValueError(
                "the item is a URL without remote_checkins_token: copy the outcome's remote "
                "check-ins URL (outcome menu → Check-ins API), or only its token"
            )
        text = tokens[0].strip()
    if not _TOKEN.fullmatch(text):
        raise ValueError(
            f"{shown(text)!r} is not a Tability remote check-ins token: enable the Check-ins "
            "API in the outcome's menu and copy its remote check-ins URL or token"
        )
    return text


def score_text(value: float) -> str:
    """The score as Tability's example writes it: plain decimal digits, no exponent."""
    number = float(value)
    if not math.isfinite(number):
        raise SourceDataError(f"{value!r} cannot be checked in to Tability")
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return format(Decimal(repr(number)), "f")


class TabilitySettings(DestinationSettings):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # never echo the token

    type: Literal["tability"]
    personal_api_token: SecretStr = Field(
        description="Your Personal API Token (tability.app/account): ${TABILITY_TOKEN}."
    )
    url: str = Field(default=DEFAULT_URL, description="The Tability API's address.")
    rate_limit: PositiveFloat | None = Field(
        default=1.0, description="Requests per second (Tability documents none: a guess)."
    )

    _url = field_validator("url")(check_base_url)

    @field_validator("url")
    @classmethod
    def _no_trailing_slash(cls, url: str) -> str:
        return url.rstrip("/")


class TabilityDestination:
    """One user's personal API token; every push adds one check-in to one outcome."""

    dated = False

    def __init__(self, name: str, settings: TabilitySettings, runtime: Runtime) -> None:
        self._name, self._settings, self._runtime = name, settings, runtime
        self._secret = settings.personal_api_token.get_secret_value()
        self._client = make_client(settings, headers={"Accept": "application/json"})
        self._closed = False

    def body(self, item: PushItem) -> dict[str, Any]:
        """The check-in sent for ``item`` (the token included: the Check-ins API wants it so)."""
        return {
            "personal_api_token": self._secret,
            "score": score_text(item.value),
            "body": item.comment,
        }

    async def push(self, item: PushItem) -> str:
        try:
            token = check_remote_token(item.item)
        except ValueError as exc:
            raise QueryError(str(exc)) from None
        body = self.body(item)
        answered: list[Any] = []
        await request_json(
            self._client,
            "POST",
            "/webhooks/checkins",
            retry=self._settings.retry,
            sleep=self._runtime.sleep,
            json_body=body,
            params={"remote_checkins_token": token},
            what=f"tability {self._name} outcome {shown(token)}",
            classify=self._classifier(token, answered),
            expect_json=False,  # the answer's shape is not documented: never fail on it
        )
        return self._receipt(token, body["score"], answered[-1] if answered else None)

    def _receipt(self, token: str, score: str, answer: Any) -> str:
        details = []
        if isinstance(answer, dict):
            confidence = answer.get("confidence")
            if isinstance(confidence, str) and confidence:
                details.append(f"confidence {excerpt(confidence, 20)}")
            ident = answer.get("id")
            if isinstance(ident, str | int) and not isinstance(ident, bool):
                details.append(f"check-in {excerpt(str(ident), 40)}")
        tail = f" ({', '.join(details)})" if details else ""
        return f"outcome {shown(token)}: score {score}{tail}"

    def _scrub(self, text: str, token: str) -> str:
        for secret, mask in ((self._secret, MASK), (token, shown(token))):
            if secret:
                text = text.replace(secret, mask)
        return REDACTOR.redact(text)

    def _classifier(self, token: str, answered: list[Any]) -> Classify:
        outcome = shown(token)

        def classify(response: httpx.Response, label: str) -> MeasureError | None:
            status = response.status_code
            if 200 <= status < 300:
                answered.append(body_json(response))
                return None
            if status < 400:
                return QueryError(
                    f"HTTP {status} from {label}: a redirect, not followed (set url to "
                    f"{DEFAULT_URL})"
                )
            message = self._tability_error(response, token)
            said = f": {message}" if message else ""
            if status == 401:
                return AuthError(
                    f"HTTP 401: Tability refused the personal API token of destination "
                    f"{self._name!r} (copy it again from tability.app/account){said}"
                )
            if status in (402, 403):
                return AuthError(
                    f"HTTP {status}: Tability refused a check-in of outcome {outcome} (the "
                    f"Check-ins API needs Tability Plus or Premium, and the token's user "
                    f"access to the outcome){said}"
                )
            if status == 404:
                return QueryError(
                    f"HTTP 404: no Tability outcome with remote check-ins token {outcome} "
                    f"(a wrong token, or the outcome's Check-ins API is off){said}"
                )
            if status in (408, 425, 429) or status >= 500:
                return TransientError(
                    f"HTTP {status} from Tability checking in outcome {outcome}{said}",
                    retry_after=retry_after(response),
                )
            return QueryError(
                f"HTTP {status}: Tability refused the check-in of outcome {outcome}{said}"
            )

        return classify

    def _tability_error(self, response: httpx.Response, token: str) -> str:
        """The message of an error body, whatever its (undocumented) shape; tokens masked."""
        body = body_json(response)
        text: Any = None
        if isinstance(body, dict):
            text = body.get("error") or body.get("message") or body.get("errors")
            if isinstance(text, list):
                text = "; ".join(str(t) for t in text)
        if not isinstance(text, str):
            text = response.text
        return excerpt(self._scrub(text, token), 240)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()


def open_destination(
    name: str, settings: TabilitySettings, runtime: Runtime
) -> TabilityDestination:
    return TabilityDestination(name, settings, runtime)


PUBLISHER = PublisherType(
    type="tability",
    section="destinations",
    settings_model=TabilitySettings,
    open=open_destination,
    doc="Tability: each value as a check-in of its outcome (the Check-ins API, POST /webhooks/checkins).",
)

__all__ = [
    "DEFAULT_URL",
    "PUBLISHER",
    "TabilityDestination",
    "TabilitySettings",
    "check_remote_token",
    "score_text",
    "shown",
]

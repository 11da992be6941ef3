"""``type: asana``: each key result's value as the current value of its Asana goal's metric.

One ``POST {url}/goals/{goal_gid}/setMetricCurrentValue`` per push with ``Authorization:
Bearer <personal access token>`` and ``{"data": {"current_number_value": v}}``; Asana
answers ``{"data": Goal}``. ``opt_fields`` asks for the goal's name and metric only,
and the receipt quotes ``metric.current_display_value`` (Asana's own rendering, with
the metric's unit and precision). The key result's item is the goal's gid (digits).

Asana keeps one current value per goal metric, so the destination is not *dated*.
The provenance is **not sent**: this endpoint's body (``GoalMetricCurrentValueRequest``)
holds nothing but ``current_number_value``; a goal's text lives in status updates,
which would post a visible update per push.

Verified in Asana's OpenAPI (github.com/Asana/openapi, defs/asana_oas.yaml,
operation ``updateGoalMetric``): the path, the body, "otherwise responds with a 400
status code" for a goal without a metric, the 200 ``GoalResponse``, the 401/402/403/
404/500 answers, the error body ``{"errors": [{"message", "help", "phrase"}]}``
(``phrase`` on 500s); in developers.asana.com: "Not Authorized" for a missing or bad
token, the rate limits (per token, 150 requests a minute on a free domain, 1,500 on a
paid one; 429 with ``Retry-After`` in seconds), hence ``rate_limit: 2.5``.
**Unverified**: the exact texts of the 400 (no metric), 403 and 404 answers.

    ==================  ==========================================================
    400                 QueryError with Asana's message (and, when it is about
                        the metric: add a metric to the goal in Asana)
    401                 AuthError: "Not Authorized" (a wrong or revoked token)
    402                 AuthError: goals need a paid Asana plan
    403                 AuthError with Asana's message (no edit access to the goal)
    404                 QueryError naming the goal
    429, 5xx            TransientError, Retry-After honoured (500s quote the phrase)
    ==================  ==========================================================
"""

from __future__ import annotations

import math
import re
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

DEFAULT_URL = "https://app.asana.com/api/1.0"
OPT_FIELDS = "name,metric.current_number_value,metric.current_display_value"
_GID = re.compile(r"[0-9]{1,32}")


def check_goal_gid(item: str) -> str:
    """The goal's gid: its digits; else ValueError."""
    text = item.strip()
    if not _GID.fullmatch(text):
        raise ValueError(
            f"{excerpt(item, 80)!r} is not an Asana goal gid: use the goal's gid, the long "
            "number at the end of its address in Asana (e.g. 1204567890123456)"
        )
    return text


class AsanaSettings(DestinationSettings):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # never echo the token

    type: Literal["asana"]
    token: SecretStr = Field(description="A personal access token: ${ASANA_TOKEN}.")
    url: str = Field(default=DEFAULT_URL, description="The Asana API's base address.")
    rate_limit: PositiveFloat | None = Field(
        default=2.5, description="Requests per second (Asana: 150 a minute on free domains)."
    )

    _url = field_validator("url")(check_base_url)

    @field_validator("url")
    @classmethod
    def _no_trailing_slash(cls, url: str) -> str:
        return url.rstrip("/")


def _number(value: float) -> int | float:
    number = float(value)
    if not math.isfinite(number):
        raise SourceDataError(f"{value!r} cannot be set as an Asana goal metric")
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


class AsanaDestination:
    """One personal access token; every push sets one goal metric's current value."""

    dated = False

    def __init__(self, name: str, settings: AsanaSettings, runtime: Runtime) -> None:
        self._name, self._settings, self._runtime = name, settings, runtime
        self._secret = settings.token.get_secret_value()
        self._client = make_client(
            settings,
            headers={"Authorization": f"Bearer {self._secret}", "Accept": "application/json"},
        )
        self._closed = False

    async def push(self, item: PushItem) -> str:
        try:
            goal = check_goal_gid(item.item)
        except ValueError as exc:
            raise QueryError(str(exc)) from None
        value = _number(item.value)
        data, _ = await request_json(
            self._client,
            "POST",
            f"/goals/{goal}/setMetricCurrentValue",
            retry=self._settings.retry,
            sleep=self._runtime.sleep,
            json_body={"data": {"current_number_value": value}},
            params={"opt_fields": OPT_FIELDS},
            what=f"asana {self._name} goal {goal}",
            classify=self._classifier(goal),
        )
        return self._receipt(goal, value, data)

    def _receipt(self, goal: str, value: int | float, data: Any) -> str:
        inner = data.get("data") if isinstance(data, dict) else None
        found: dict[str, Any] = inner if isinstance(inner, dict) else {}
        metric = found.get("metric")
        shown = metric.get("current_display_value") if isinstance(metric, dict) else None
        name = found.get("name")
        named = f" ({excerpt(name, 60)})" if isinstance(name, str) and name else ""
        now = excerpt(shown, 40) if isinstance(shown, str) and shown else value
        return f"goal {goal}{named}: metric = {now}"

    def _scrub(self, text: str) -> str:
        return REDACTOR.redact(text.replace(self._secret, MASK) if self._secret else text)

    def _classifier(self, goal: str) -> Classify:
        def classify(response: httpx.Response, label: str) -> MeasureError | None:
            status = response.status_code
            if status < 300:
                return None
            if status < 400:
                return QueryError(
                    f"HTTP {status} from {label}: a redirect, not followed (set url to "
                    f"{DEFAULT_URL})"
                )
            message = self._asana_error(response)
            said = f": {message}" if message else ""
            if status == 400:
                hint = ""
                if "metric" in message.lower():
                    hint = " (add a metric to the goal in Asana: goals without one take no value)"
                return QueryError(f"HTTP 400: Asana refused the value of goal {goal}{hint}{said}")
            if status == 401:
                return AuthError(
                    f"HTTP 401: Asana refused the token of destination {self._name!r} (use a "
                    f"personal access token of a member of the goal's workspace){said}"
                )
            if status == 402:
                return AuthError(
                    f"HTTP 402: goals need a paid Asana plan (the workspace of goal {goal} "
                    f"has none){said}"
                )
            if status == 403:
                return AuthError(
                    f"HTTP 403: the token's user may not update goal {goal} (they need edit "
                    f"access to it; a metric linked to another source is updated there){said}"
                )
            if status == 404:
                return QueryError(
                    f"HTTP 404: no Asana goal {goal} for this token (a wrong gid, a deleted "
                    f"goal, or one its user cannot see){said}"
                )
            if status in (408, 425, 429) or status >= 500:
                return TransientError(
                    f"HTTP {status} from Asana updating goal {goal}{said}",
                    retry_after=retry_after(response),
                )
            return QueryError(f"HTTP {status}: Asana refused the value of goal {goal}{said}")

        return classify

    def _asana_error(self, response: httpx.Response) -> str:
        """Asana's ``errors[].message`` (with a 500's ``phrase``), token masked; or a body excerpt."""
        body = body_json(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        parts: list[str] = []
        for error in errors if isinstance(errors, list) else []:
            if not isinstance(error, dict) or not isinstance(error.get("message"), str):
                continue
            phrase = error.get("phrase")
            parts.append(
                error["message"] + (f" (phrase: {phrase})" if isinstance(phrase, str) else "")
            )
        text = "; ".join(parts) if parts else response.text
        return excerpt(self._scrub(text), 240)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()


def open_destination(name: str, settings: AsanaSettings, runtime: Runtime) -> AsanaDestination:
    return AsanaDestination(name, settings, runtime)


PUBLISHER = PublisherType(
    type="asana",
    section="destinations",
    settings_model=AsanaSettings,
    open=open_destination,
    doc="Asana: each value as its goal's metric current value (POST /goals/{gid}/setMetricCurrentValue).",
)

__all__ = [
    "DEFAULT_URL",
    "OPT_FIELDS",
    "PUBLISHER",
    "AsanaDestination",
    "AsanaSettings",
    "check_goal_gid",
]

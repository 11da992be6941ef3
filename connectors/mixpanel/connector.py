"""``type: mixpanel``: event counts (Segmentation) and saved Insights reports, Query API.

Two source forms, one GET each (PROTOCOLS-ANALYTICS.md, Mixpanel):

- ``event`` (+ ``type``, ``where``, ``date_range``) → ``GET /api/query/segmentation``.
  ``general`` asks ``unit=day`` and sums ``data.values[event]``. ``unique`` and
  ``average`` are per bucket, so summing days would double-count people: they
  ask ``interval=<days in the range>`` instead of ``unit`` (documented: "in lieu
  of 'unit' when 'type' is not 'general'. Determines the number of days your
  results are bucketed into", mixpanel/docs openapi/src/query.openapi.yaml) and
  require exactly one bucket back, else SourceDataError; never a sum.
- ``report`` (+ ``series``) → ``GET /api/query/insights?bookmark_id=``; the number is
  the series' only value or the sum over its dates (the documented shape is
  ``series: {name: {date: n}}``; a single-number report's shape is unverified, so
  a bare number or a one-entry map are read alike). A breakdown (nested maps) or
  several series without ``series:`` is a SourceDataError listing them. The
  endpoint takes no dates: the report runs over its own saved range, relative to
  now (e.g. "last 30 days" as of the sync), so ``date_range`` is refused for it;
  describe() says so and the raw answer shows Mixpanel's ``date_range``.
  (Reading the answers: :mod:`connectors.mixpanel.answers`.)

Empty ``values`` for the event is "no data" (SourceDataError): Mixpanel answers an
unknown event name that way (unverified), and it zero-fills days of a known
event, so a real zero still reads 0. Errors are ``{"request", "error"}``; a 429 that
says the hourly allowance is spent ("… 1/5 queries running concurrently and 61/60
queries running in the last hour. …", bodies quoted in airbytehq/airbyte#7126 and
#9410 and a third-party client's tests; the counts include the refused request, so
the allowance is spent when used > limit) is a QuotaError; a 429 for the 5-concurrent limit is retried, honouring
Retry-After. ``max_concurrency`` defaults to, and may not exceed, 5.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from connectors._analytics_basic import (
    BasicConnection,
    RegionalSettings,
    basic_classifier,
    concurrency_field,
)
from connectors.mixpanel.answers import Kind, report_value, segmentation_value
from okrsync.sdk.connector import Connector, Reading, RenderContext, Runtime, SourceBase
from okrsync.sdk.date_ranges import DateRange, check_range, render_window, span
from okrsync.sdk.http import CallCounter
from okrsync.sdk.quota import HOUR, Window

HOSTS = {
    "us": "https://mixpanel.com",
    "eu": "https://eu.mixpanel.com",
    "in": "https://in.mixpanel.com",
}
SEGMENTATION = "/api/query/segmentation"
INSIGHTS = "/api/query/insights"
SAVED_RANGE = "over the report's own saved date range (relative to now; date_range does not apply)"
_HOURLY = re.compile(r"(\d+)/(\d+) queries running in the last hour")


class MixpanelSettings(RegionalSettings):
    VENDOR: ClassVar[str] = "Mixpanel"
    HOSTS: ClassVar[Mapping[str, str]] = HOSTS

    type: Literal["mixpanel"]
    region: Literal["us", "eu", "in"] = Field(default="us", description="Data residency.")
    username: str = Field(min_length=1, description="Service account username.")
    secret: str = Field(min_length=1, description="Service account secret: ${ENV} or ${file:…}.")
    project_id: PositiveInt = Field(description="Sent with every query.")
    workspace_id: PositiveInt | None = Field(default=None, description="For data views.")
    max_concurrency: PositiveInt = concurrency_field("Mixpanel")


class MixpanelSource(SourceBase):
    event: str | None = Field(default=None, min_length=1, description="Segmentation: the event.")
    type: Kind | None = Field(default=None, description="general (default) | unique | average.")
    where: str | None = Field(default=None, min_length=1, description="Segmentation expression.")
    date_range: DateRange | None = Field(default=None, description="Default: cycle.")
    report: PositiveInt | None = Field(default=None, description="Insights bookmark id.")
    series: str | None = Field(default=None, min_length=1, description="With report: which one.")

    @model_validator(mode="before")
    @classmethod
    def _event_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("event") is not None:
            kind, window = data.get("type") or "general", data.get("date_range") or "cycle"
            return {**data, "type": kind, "date_range": window}
        return data

    @field_validator("date_range")
    @classmethod
    def _range(cls, spec: DateRange | None) -> DateRange | None:
        return None if spec is None else check_range(spec)

    @model_validator(mode="after")
    def _one_form(self) -> MixpanelSource:
        if (self.event is None) == (self.report is None):
            raise ValueError(
                "give either event (a Segmentation query) or report (a saved Insights report's bookmark id)"
            )
        if self.report is not None:
            extra = [k for k in ("type", "where", "date_range") if getattr(self, k) is not None]
            if extra:
                raise ValueError(
                    f"{', '.join(extra)}: only for event sources; a saved report keeps its own filters and dates"
                )
        elif self.series is not None:
            raise ValueError("series: only for report sources")
        return self


def render(source: MixpanelSource, ctx: RenderContext) -> MixpanelSource:
    """Event sources get concrete days; a report keeps its saved range."""
    return source if source.report is not None else render_window(source, ctx)


def describe(source: MixpanelSource) -> str:
    """``Segmentation "Purchase" general where … 2026-10-01..2026-11-15`` or ``Insights report 123 …``."""
    if source.report is not None:
        pick = f' series "{source.series}"' if source.series else ""
        return f"Insights report {source.report}{pick}, {SAVED_RANGE}"
    assert source.date_range is not None  # every event source has one (the before-validator)
    first, last = span(source.date_range)
    where = f" where {source.where}" if source.where else ""
    return f'Segmentation "{source.event}" {source.type}{where} {first}..{last}'


class MixpanelConnection(BasicConnection):
    vendor = "Mixpanel"

    def __init__(self, settings: MixpanelSettings, runtime: Runtime) -> None:
        who = f"service account {settings.username!r} on project {settings.project_id}"
        classify = basic_classifier(self.vendor, "hourly query allowance", _spent, who)
        super().__init__(settings, runtime, settings.username, settings.secret, classify)
        self._settings: MixpanelSettings = settings

    async def measure(self, source: MixpanelSource) -> Reading:
        counter = CallCounter()
        params: dict[str, Any] = {"project_id": self._settings.project_id}
        if self._settings.workspace_id is not None:
            params["workspace_id"] = self._settings.workspace_id
        if source.report is not None:
            params["bookmark_id"] = source.report
            data, raw = await self._get(INSIGHTS, params, counter)
            return Reading(
                report_value(data, raw, source.report, source.series), raw, counter.count
            )
        assert source.event is not None  # the event form: the validators guarantee both
        assert source.date_range is not None
        kind: Kind = source.type or "general"
        first, last = span(source.date_range)
        params.update(event=source.event, from_date=first.isoformat(), to_date=last.isoformat())
        params["type"] = kind
        if kind == "general":
            params["unit"] = "day"
        else:  # one bucket for the whole range: per-day uniques cannot be added up
            params["interval"] = max(1, (last - first).days + 1)
        if source.where:
            params["where"] = source.where
        data, raw = await self._get(SEGMENTATION, params, counter)
        value = segmentation_value(data, raw, source.event, kind, f"{first}..{last}")
        return Reading(value, raw, counter.count)


def _spent(message: str) -> bool:
    """ "… 61/60 queries running in the last hour": the hourly allowance is used up.

    The count includes the refused request itself, so 60/60 is still within it.
    """
    found = _HOURLY.search(message)
    return found is not None and int(found.group(1)) > int(found.group(2))


def open_connection(settings: MixpanelSettings, runtime: Runtime) -> MixpanelConnection:
    return MixpanelConnection(settings, runtime)


# docs.mixpanel.com/reference/rate-limits: 60 queries an hour (and 5 at once) per project.
QUOTA = (Window(60, HOUR, "requests", "Mixpanel's 60 queries an hour"),)


def quota(settings: MixpanelSettings) -> tuple[Window, ...]:
    return QUOTA


CONNECTOR = Connector(
    type="mixpanel",
    settings_model=MixpanelSettings,
    source_model=MixpanelSource,
    open=open_connection,
    render=render,
    describe=describe,
    doc="Mixpanel Query API: event counts (Segmentation) or a saved Insights report.",
    quota=quota,
)

__all__ = [
    "CONNECTOR",
    "HOSTS",
    "MixpanelConnection",
    "MixpanelSettings",
    "MixpanelSource",
    "describe",
    "render",
    "report_value",
    "segmentation_value",
]

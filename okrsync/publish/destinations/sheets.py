"""``type: sheets``: each key result's value into one cell of a Google spreadsheet.

One ``PUT {url}/v4/spreadsheets/{spreadsheet_id}/values/{cell}?valueInputOption=RAW``
per push, the cell URL-encoded (``KRs%21C7``), with the ValueRange ``{"range": cell,
"majorDimension": "ROWS", "values": [[value]]}``; Google answers UpdateValuesResponse
``{spreadsheetId, updatedRange, updatedRows, updatedColumns, updatedCells}``
(developers.google.com/sheets/api/reference/rest/v4/spreadsheets.values/update).
``RAW`` stores the number as a number, never parsed as a formula. With
``history_sheet`` each push also appends ``[kr_id, measured_at, value, comment]`` by
``POST …/values/{'tab'!A1}:append?valueInputOption=RAW&insertDataOption=INSERT_ROWS``
(…/spreadsheets.values/append): new rows after the tab's last row of data.

Sign-in: the service-account key file's JWT bearer grant with scope
``https://www.googleapis.com/auth/spreadsheets`` (:mod:`okrsync.sdk.google_auth`),
one token per destination, renewed before it expires and once on a 401.

Errors are Google's ``{"error": {"code", "message", "status"}}``; the message is
Google's, excerpted, with the access token masked:

    ===================================  ==============================================
    400 INVALID_ARGUMENT                 QueryError: "Unable to parse range: KRs!C7" (no
                                         such tab), a cell outside the grid …
    401 UNAUTHENTICATED                  the token is renewed and the write sent once
                                         more; again: AuthError
    403 PERMISSION_DENIED                AuthError: share the spreadsheet with the
                                         service account's client_email as Editor (or
                                         enable the Sheets API, or the scope is missing)
    404 NOT_FOUND                        QueryError naming the spreadsheet id
    429 RESOURCE_EXHAUSTED, 408, 5xx     TransientError, retried with backoff
                                         (Retry-After honoured when sent)
    ===================================  ==============================================

Verified in Google's docs: the update and append requests and answers, the scope, the
quotas (60 write requests a minute per user per project, 300 per project; a 429 asks
for exponential backoff; hence ``rate_limit: 1.0``), A1 quoting of tab names. Seen
only in client issues (**unverified** by Google's docs): the wording of "The caller
does not have permission", "Unable to parse range: …" and the quota message, and that
a service account must be shared on the spreadsheet like a person.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any, Literal
from urllib.parse import quote

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
from okrsync.sdk.google_auth import AccessTokens, TokenRejected, parse_service_account
from okrsync.sdk.http import (
    Classify,
    body_json,
    check_base_url,
    make_client,
    request_json,
    retry_after,
)
from okrsync.sdk.publisher import DestinationSettings, PublisherType, PushItem

DEFAULT_URL = "https://sheets.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/spreadsheets"
# A1 of one cell: an optional tab ('quoted' with '' for a quote, or plain letters,
# digits and _), column letters A…ZZZ, a row from 1 (developers.google.com/sheets/api/
# guides/concepts#cell).
_CELL = re.compile(
    r"(?:(?P<sheet>'(?:[^']|'')+'|[A-Za-z0-9_]+)!)?(?P<column>[A-Za-z]{1,3})(?P<row>[1-9]\d{0,7})"
)
_ID = re.compile(r"[A-Za-z0-9_-]{10,}")
_URL_ID = re.compile(r"https://docs\.google\.com/spreadsheets/d/([A-Za-z0-9_-]+)")
_DISABLED = re.compile(r"has not been used in project|API .*is disabled", re.IGNORECASE)
_SCOPES = re.compile(r"insufficient authentication scopes", re.IGNORECASE)


def tab_prefix(title: str) -> str:
    """A tab's title for an A1 range, always quoted (a title like ``A1`` is otherwise a cell)."""
    return "'" + title.replace("'", "''") + "'"


def check_cell(item: str) -> str:
    """``KRs!C7``, ``'My Sheet'!B2`` or ``C7`` (the first tab), column upper-cased; else ValueError."""
    match = _CELL.fullmatch(item.strip())
    if match is None:
        raise ValueError(
            f"{excerpt(item, 60)!r} is not one cell in A1 notation: write TAB!CELL, e.g. KRs!C7, "
            "or 'My Sheet'!B2 when the tab's name has spaces or punctuation"
        )
    sheet = f"{match['sheet']}!" if match["sheet"] else ""
    return f"{sheet}{match['column'].upper()}{match['row']}"


def check_spreadsheet_id(value: Any) -> Any:
    """The id, also taken out of a pasted ``https://docs.google.com/spreadsheets/d/ID/edit`` URL."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    found = _URL_ID.match(text)
    if found is not None:
        text = found.group(1)
    if not _ID.fullmatch(text):
        raise ValueError(
            f"spreadsheet_id {excerpt(value, 60)!r} is not a spreadsheet id: copy it from the "
            "spreadsheet's address, https://docs.google.com/spreadsheets/d/SPREADSHEET_ID/edit"
        )
    return text


class SheetsSettings(DestinationSettings):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # never echo the key

    type: Literal["sheets"]
    credentials: SecretStr = Field(
        description="The service-account key file's JSON: ${file:/run/secrets/sheets.json}."
    )
    spreadsheet_id: str = Field(description="The spreadsheet's id (or its address).")
    url: str = Field(default=DEFAULT_URL, description="The Sheets API's address.")
    token_url: str | None = Field(
        default=None, description="Token endpoint; default: the key file's token_uri."
    )
    history_sheet: str | None = Field(
        default=None,
        description="A tab that also gets a row [kr_id, measured_at, value, comment] per push.",
    )
    rate_limit: PositiveFloat | None = Field(
        default=1.0, description="Requests per second (Google: 60 writes a minute per user)."
    )

    _url = field_validator("url")(check_base_url)
    _spreadsheet = field_validator("spreadsheet_id", mode="before")(check_spreadsheet_id)

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, url: str | None) -> str | None:
        return None if url is None else check_base_url(url)

    @field_validator("credentials")
    @classmethod
    def _key_file(cls, secret: SecretStr) -> SecretStr:
        parse_service_account(secret.get_secret_value())
        return secret

    @field_validator("history_sheet")
    @classmethod
    def _history(cls, title: str | None) -> str | None:
        if title is not None and (not title.strip() or len(title) > 100):
            raise ValueError("history_sheet must be a tab's name (1 to 100 characters)")
        return title


def _number(value: float) -> int | float:
    """The value as JSON: whole numbers without ``.0``; NaN and infinities refused."""
    number = float(value)  # an int too (Python 3.11's int has no is_integer)
    if not math.isfinite(number):
        raise SourceDataError(f"{value!r} cannot be written to a spreadsheet cell")
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _reworded(exc: MeasureError, message: str) -> MeasureError:
    """``exc`` (its kind, calls and retry_after) with another message."""
    try:
        again = copy.copy(exc)
    except TypeError:
        again = MeasureError(str(exc))
        again.calls = exc.calls
    again.args = (message,)
    return again


class SheetsDestination:
    """One spreadsheet; every push writes one cell (and appends a history row when asked)."""

    dated = False

    def __init__(self, name: str, settings: SheetsSettings, runtime: Runtime) -> None:
        self._name, self._settings, self._runtime = name, settings, runtime
        account = parse_service_account(settings.credentials.get_secret_value())
        self._client = make_client(settings, headers={"Accept": "application/json"})
        self._tokens = AccessTokens(
            account,
            self._client,
            scope=SCOPE,
            retry=settings.retry,
            sleep=runtime.sleep,
            token_url=settings.token_url,
            what=f"sheets {name} token",
        )
        self._closed = False

    async def push(self, item: PushItem) -> str:
        try:
            cell = check_cell(item.item)
        except ValueError as exc:
            raise QueryError(str(exc)) from None
        value = _number(item.value)
        sid = self._settings.spreadsheet_id
        data = await self._write(
            "PUT",
            f"/v4/spreadsheets/{sid}/values/{quote(cell, safe='')}",
            {"valueInputOption": "RAW"},
            {"range": cell, "majorDimension": "ROWS", "values": [[value]]},
            cell,
        )
        updated = data.get("updatedRange") if isinstance(data, dict) else None
        receipt = f"{updated if isinstance(updated, str) else cell} = {value}"
        tab = self._settings.history_sheet
        if tab is None:
            return receipt
        where = f"{tab_prefix(tab)}!A1"
        row = [item.kr_id, item.measured_at.isoformat(), value, item.comment]
        try:
            appended = await self._write(
                "POST",
                f"/v4/spreadsheets/{sid}/values/{quote(where, safe='')}:append",
                {"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"},
                {"range": where, "majorDimension": "ROWS", "values": [row]},
                where,
            )
        except MeasureError as exc:  # the same kind, so a quota or a 5xx reads as such
            raise _reworded(
                exc, f"{cell} was written, but its history row was not: {exc}"
            ) from None
        updates = appended.get("updates") if isinstance(appended, dict) else None
        rows = updates.get("updatedRange") if isinstance(updates, dict) else None
        return f"{receipt}; history row {rows if isinstance(rows, str) else tab}"

    async def _write(
        self, method: str, path: str, params: dict[str, str], body: dict[str, Any], target: str
    ) -> Any:
        async def send(token: str) -> Any:
            data, _ = await request_json(
                self._client,
                method,
                path,
                retry=self._settings.retry,
                sleep=self._runtime.sleep,
                json_body=body,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
                what=f"sheets {self._name} {target}",
                classify=self._classifier(target),
            )
            return data

        return await self._tokens.call(send)

    def _classifier(self, target: str) -> Classify:
        sid, who = self._settings.spreadsheet_id, self._tokens.email

        def classify(response: httpx.Response, label: str) -> MeasureError | None:
            code = response.status_code
            if code < 400:
                return None
            status, message = self._google_error(response)
            head = f"HTTP {code}{' ' + status if status else ''}"
            said = f": {message}" if message else ""
            if code == 401:
                sent = response.request.headers.get("authorization", "")
                return TokenRejected(
                    f"{head} from Sheets as {who}{said}", sent.removeprefix("Bearer ")
                )
            if code == 403 and _DISABLED.search(message):
                return AuthError(f"{head}: enable the Google Sheets API in {who}'s project{said}")
            if code == 403 and _SCOPES.search(message):
                return AuthError(f"{head}: the access token lacks the {SCOPE} scope{said}")
            if code == 403:
                return AuthError(
                    f"{head}: {who} may not edit spreadsheet {sid}: share the spreadsheet with "
                    f"{who} as Editor{said}"
                )
            if code == 404:
                return QueryError(
                    f"{head}: no spreadsheet {sid} (check spreadsheet_id: the part of its "
                    f"address after /d/){said}"
                )
            if code in (408, 425, 429) or code >= 500:
                return TransientError(
                    f"{head} from Sheets writing {target}{said}", retry_after=retry_after(response)
                )
            return QueryError(f"{head}: Google refused writing {target} in {sid}{said}")

        return classify

    def _google_error(self, response: httpx.Response) -> tuple[str, str]:
        """(status, message) of Google's error body, token masked; or ("", a body excerpt)."""
        body = body_json(response)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            status = error.get("status") if isinstance(error.get("status"), str) else ""
            message = error.get("message") if isinstance(error.get("message"), str) else ""
            return str(status), excerpt(self._tokens.scrub(str(message)), 240)
        return "", excerpt(self._tokens.scrub(response.text), 240)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()


def open_destination(name: str, settings: SheetsSettings, runtime: Runtime) -> SheetsDestination:
    return SheetsDestination(name, settings, runtime)


PUBLISHER = PublisherType(
    type="sheets",
    section="destinations",
    settings_model=SheetsSettings,
    open=open_destination,
    doc="Google Sheets: each key result's value into one cell (values.update), history rows optional.",
)

__all__ = [
    "PUBLISHER",
    "SCOPE",
    "SheetsDestination",
    "SheetsSettings",
    "check_cell",
    "check_spreadsheet_id",
    "tab_prefix",
]

"""Google Sheets on 127.0.0.1: the OAuth token endpoint and Sheets API v4 values.update/append.

- ``POST /token``: Google's JWT-bearer grant for service accounts, checked as
  :mod:`okrsync.demo.simulators._ga4_oauth` describes (signature, audience, lifetime,
  scope); it hands out Bearer tokens.
- ``PUT /v4/spreadsheets/{id}/values/{range}?valueInputOption=RAW|USER_ENTERED`` with a
  ValueRange ``{"range", "majorDimension", "values"}`` → UpdateValuesResponse
  ``{spreadsheetId, updatedRange, updatedRows, updatedColumns, updatedCells}``.
- ``POST /v4/spreadsheets/{id}/values/{range}:append?valueInputOption=…&insertDataOption=
  OVERWRITE|INSERT_ROWS`` → AppendValuesResponse ``{spreadsheetId, tableRange, updates}``;
  rows go after the last row holding a value (the "table"), from the range's column.

Checked in this order: the Bearer token (401 ``UNAUTHENTICATED``) and its scopes (403
"Request had insufficient authentication scopes."), the per-minute write quota per user
and per project (429 ``RESOURCE_EXHAUSTED`` "Quota exceeded for quota metric 'Write
requests' …"; ``Retry-After`` only when ``send_retry_after``, since Google's documented
advice is exponential backoff), the spreadsheet (404 ``NOT_FOUND`` "Requested entity was
not found."), the share (403 ``PERMISSION_DENIED`` "The caller does not have permission"
unless the service account is among the spreadsheet's editors), then the request: a
missing ``valueInputOption``, an A1 range naming no tab ("Unable to parse range: …"),
values outside the range or the grid, all 400 ``INVALID_ARGUMENT``. Errors are Google's
``{"error": {"code", "message", "status"}}``. The range in the path may be URL-encoded
(``KRs%21C7``) or not, as Google accepts both.

``received`` lists every accepted write; :meth:`SheetsSimulator.cell` and
:meth:`SheetsSimulator.rows` read the cells back.
"""

from __future__ import annotations

import hmac
import json
import math
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

from okrsync.demo.simulators._ga4_oauth import (
    Grant,
    check_grant,
    demo_key,
    new_access_token,
    token_response,
)
from okrsync.demo.simulators._ga4_report import GoogleError, invalid
from okrsync.demo.simulators.server import FakeServer, Request, Response

DEMO_SPREADSHEET_ID = "1OkrSyncDemoSheetKRs2026q4abcdefghijklmnopq"
DEMO_CLIENT_EMAIL = "okrsync-sheets@okrsync-demo.iam.gserviceaccount.com"
DEMO_KEY_ID = "5h33t5k3y1d0kr5ync0000000000000000000000"
WRITE_SCOPES = {
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/drive",
    "https://www.googleapis.com/auth/drive.file",
}
PROJECT_NUMBER = "424242424242"
_CREDS = "Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
_A1 = re.compile(
    r"(?:(?P<sheet>'(?:[^']|'')+'|[^'!]+)!)?"
    r"(?P<c1>[A-Za-z]{1,3})(?P<r1>[1-9]\d*)(?::(?P<c2>[A-Za-z]{1,3})(?P<r2>[1-9]\d*))?"
)
_INPUT_OPTIONS = ("RAW", "USER_ENTERED")
_INSERT_OPTIONS = ("OVERWRITE", "INSERT_ROWS")


@dataclass
class Tab:
    """One sheet (tab): a grid of ``rows`` by ``columns`` and the cells holding a value."""

    title: str
    rows: int = 1000
    columns: int = 26
    cells: dict[tuple[int, int], Any] = field(default_factory=dict)  # (row, column) 1-based


@dataclass
class Spreadsheet:
    id: str
    tabs: dict[str, Tab]
    editors: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Received:
    """One accepted write, as Google reports it (``range`` is the updatedRange)."""

    spreadsheet_id: str
    kind: Literal["update", "append"]
    range: str
    values: list[list[Any]]
    email: str
    value_input_option: str


@dataclass(frozen=True)
class _Range:
    tab: Tab
    row: int
    column: int
    last_row: int | None  # None: the range names one start cell
    last_column: int | None


def column_letters(index: int) -> str:
    """1 → A, 27 → AA."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def column_index(letters: str) -> int:
    index = 0
    for char in letters.upper():
        index = index * 26 + ord(char) - 64
    return index


def sheet_prefix(title: str) -> str:
    """The title as Google writes it in an A1 range: quoted unless plain letters and digits."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title):
        return title
    return "'" + title.replace("'", "''") + "'"


class SheetsSimulator(FakeServer):
    """Spreadsheets with tabs and cells; the demo service account edits DEMO_SPREADSHEET_ID."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        writes_per_minute_per_user: int = 60,
        writes_per_minute: int = 300,
        send_retry_after: bool = False,
        token_lifetime: int = 3599,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(latency=latency)
        self.writes_per_minute_per_user = writes_per_minute_per_user
        self.writes_per_minute = writes_per_minute
        self.send_retry_after, self.token_lifetime, self.clock = (
            send_retry_after,
            token_lifetime,
            clock,
        )
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.received: list[Received] = []
        self.issued: list[str] = []  # access tokens handed out, oldest first
        self._accounts: dict[str, tuple[str, bytes]] = {}  # email → (key id, public PEM)
        self._grants: dict[str, Grant] = {}
        self._writes: dict[tuple[str, int], int] = {}  # (email or "", minute) → writes
        self._state = threading.Lock()
        self.add_account(DEMO_CLIENT_EMAIL, demo_key()[1], DEMO_KEY_ID)
        self.add_spreadsheet(DEMO_SPREADSHEET_ID, ("KRs", "History"), editors=(DEMO_CLIENT_EMAIL,))
        self.route("POST", r"/token", self._token)
        self.route("PUT", r"/v4/spreadsheets/(?P<id>[^/]+)/values/(?P<range>[^/]+)", self._update)
        self.route(
            "POST", r"/v4/spreadsheets/(?P<id>[^/]+)/values/(?P<range>[^/]+):append", self._append
        )

    # -- set-up for tests and the demo ---------------------------------------

    def add_account(self, email: str, public_pem: bytes, key_id: str = "") -> None:
        self._accounts[email] = (key_id, public_pem)

    def add_spreadsheet(
        self, spreadsheet_id: str, tabs: Iterable[str] = ("Sheet1",), editors: Iterable[str] = ()
    ) -> Spreadsheet:
        sheet = Spreadsheet(spreadsheet_id, {t: Tab(t) for t in tabs}, set(editors))
        self.spreadsheets[spreadsheet_id] = sheet
        return sheet

    def share(self, spreadsheet_id: str, email: str) -> None:
        """Give ``email`` edit access (Share → Editor)."""
        self.spreadsheets[spreadsheet_id].editors.add(email)

    def service_account_info(
        self, email: str = DEMO_CLIENT_EMAIL, private_pem: str | None = None
    ) -> dict[str, str]:
        """A key file as the Cloud console downloads it, its token_uri pointing here."""
        key_id = self._accounts.get(email, ("", b""))[0]
        return {
            "type": "service_account",
            "project_id": email.split("@")[-1].split(".")[0],
            "private_key_id": key_id,
            "private_key": private_pem or demo_key()[0],
            "client_email": email,
            "client_id": str(zlib.crc32(email.encode())),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": f"{self.url}/token",
            "universe_domain": "googleapis.com",
        }

    def service_account_json(self, **kwargs: Any) -> str:
        return json.dumps(self.service_account_info(**kwargs), indent=2)

    def expire_tokens(self) -> None:
        """Every access token handed out so far is rejected from now on."""
        with self._state:
            self._grants.clear()

    def cell(self, spreadsheet_id: str, a1: str) -> Any:
        """The value of one cell, e.g. ``cell(id, "KRs!C7")``; None when empty."""
        where = self._parse(self.spreadsheets[spreadsheet_id], a1)
        return where.tab.cells.get((where.row, where.column))

    def rows(self, spreadsheet_id: str, tab: str) -> list[list[Any]]:
        """The tab's rows from the first to the last holding a value (empty cells are None)."""
        cells = self.spreadsheets[spreadsheet_id].tabs[tab].cells
        if not cells:
            return []
        last_row = max(r for r, _ in cells)
        last_col = max(c for _, c in cells)
        return [[cells.get((r, c)) for c in range(1, last_col + 1)] for r in range(1, last_row + 1)]

    # -- POST /token ------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        checked = check_grant(request.body, self._accounts)
        if isinstance(checked, Response):
            return checked
        email, scopes = checked
        token = new_access_token()
        with self._state:
            self._grants[token] = Grant(email, scopes, time.monotonic() + self.token_lifetime)
            self.issued.append(token)
        return token_response(token, self.token_lifetime)

    # -- the API ----------------------------------------------------------------

    def authorize(self, request: Request) -> Response | None:
        if request.path == "/token":
            return None
        given = request.headers.get("authorization", "")
        if not given.startswith("Bearer "):
            message = f"Request is missing required authentication credential. {_CREDS}"
            return GoogleError(401, "UNAUTHENTICATED", message).response
        grant = self._grant(given.removeprefix("Bearer "))
        if grant is None or grant.expires <= time.monotonic():
            message = f"Request had invalid authentication credentials. {_CREDS}"
            error = GoogleError(401, "UNAUTHENTICATED", message).response
            header = {
                "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
            }
            return Response(401, error.body, {**error.headers, **header})
        if not grant.scopes & WRITE_SCOPES:
            return GoogleError(
                403, "PERMISSION_DENIED", "Request had insufficient authentication scopes."
            ).response
        return self._spend(grant.email)

    def _grant(self, token: str) -> Grant | None:
        with self._state:
            return next((g for t, g in self._grants.items() if hmac.compare_digest(t, token)), None)

    def _email(self, request: Request) -> str:
        grant = self._grant(request.headers.get("authorization", "").removeprefix("Bearer "))
        assert grant is not None  # authorize() let it through
        return grant.email

    def _spend(self, email: str) -> Response | None:
        """One write against the per-minute quotas (a fixed window per minute), or the 429."""
        now = self.clock()
        minute = int(now // 60)
        with self._state:
            mine = self._writes.get((email, minute), 0)
            everyone = self._writes.get(("", minute), 0)
            if mine >= self.writes_per_minute_per_user:
                limit = "Write requests per minute per user"
            elif everyone >= self.writes_per_minute:
                limit = "Write requests per minute"
            else:
                self._writes[(email, minute)] = mine + 1
                self._writes[("", minute)] = everyone + 1
                return None
        message = (
            f"Quota exceeded for quota metric 'Write requests' and limit '{limit}' of service "
            f"'sheets.googleapis.com' for consumer 'project_number:{PROJECT_NUMBER}'."
        )
        error = GoogleError(429, "RESOURCE_EXHAUSTED", message).response
        if not self.send_retry_after:
            return error
        wait = str(max(1, math.ceil((minute + 1) * 60 - now)))
        return Response(429, error.body, {**error.headers, "Retry-After": wait})

    def _update(self, request: Request) -> Response:
        try:
            return Response.json(self._write(request, "update"))
        except GoogleError as exc:
            return exc.response

    def _append(self, request: Request) -> Response:
        try:
            return Response.json(self._write(request, "append"))
        except GoogleError as exc:
            return exc.response

    def _write(self, request: Request, kind: Literal["update", "append"]) -> dict[str, Any]:
        sheet = self.spreadsheets.get(request.params["id"])
        if sheet is None:
            raise GoogleError(404, "NOT_FOUND", "Requested entity was not found.")
        email = self._email(request)
        if email not in sheet.editors:
            raise GoogleError(403, "PERMISSION_DENIED", "The caller does not have permission")
        option = request.query.get("valueInputOption")
        if option is None:
            raise invalid("'valueInputOption' is required but not specified")
        if option not in _INPUT_OPTIONS:
            raise invalid(
                "Invalid value at 'value_input_option' "
                f'(type.googleapis.com/google.apps.sheets.v4.ValueInputOption), "{option}"'
            )
        text = unquote(request.params["range"])
        where = self._parse(sheet, text)
        values = self._values(request.body, text)
        if kind == "update":
            written = self._put(where, text, values)
            self._record(sheet.id, kind, written, values, email, option)
            return {"spreadsheetId": sheet.id, **self._counts(written, values)}
        insert = request.query.get("insertDataOption", "OVERWRITE")
        if insert not in _INSERT_OPTIONS:
            raise invalid(
                "Invalid value at 'insert_data_option' "
                f'(type.googleapis.com/google.apps.sheets.v4.InsertDataOption), "{insert}"'
            )
        tab = where.tab
        last = max((r for r, _ in tab.cells), default=0)
        table = None
        if last:
            right = max(c for _, c in tab.cells)
            table = f"{sheet_prefix(tab.title)}!A1:{column_letters(right)}{last}"
        if insert == "INSERT_ROWS":
            tab.rows += len(values)
        start = _Range(tab, last + 1, where.column, None, None)
        written = self._put(start, text, values)
        self._record(sheet.id, kind, written, values, email, option)
        answer: dict[str, Any] = {"spreadsheetId": sheet.id}
        if table is not None:
            answer["tableRange"] = table
        answer["updates"] = {"spreadsheetId": sheet.id, **self._counts(written, values)}
        return answer

    def _record(
        self,
        sid: str,
        kind: Literal["update", "append"],
        rng: str,
        values: list[list[Any]],
        email: str,
        option: str,
    ) -> None:
        with self._state:
            self.received.append(Received(sid, kind, rng, values, email, option))

    def _parse(self, sheet: Spreadsheet, text: str) -> _Range:
        match = _A1.fullmatch(text.strip())
        if match is None:
            raise invalid(f"Unable to parse range: {text}")
        name = match["sheet"]
        if name is None:
            tab = next(iter(sheet.tabs.values()))  # the first visible sheet
        else:
            title = name[1:-1].replace("''", "'") if name.startswith("'") else name
            found = sheet.tabs.get(title)
            if found is None:
                raise invalid(f"Unable to parse range: {text}")
            tab = found
        c1, r1 = column_index(match["c1"]), int(match["r1"])
        if match["c2"] is None:
            return _Range(tab, r1, c1, None, None)
        c2, r2 = column_index(match["c2"]), int(match["r2"])
        return _Range(tab, min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2))

    def _values(self, body: bytes, text: str) -> list[list[Any]]:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise invalid("Invalid JSON payload received. Unexpected token.") from None
        if not isinstance(data, dict):
            raise invalid("Invalid JSON payload received. Expected an object.")
        unknown = sorted(set(data) - {"range", "majorDimension", "values"})
        if unknown:
            raise invalid(
                f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.'
            )
        given = data.get("range")
        if given is not None and given != text:
            raise invalid(
                f"Invalid request: the range in the body ({given}) does not match the range "
                f"in the URL ({text})"
            )
        dimension = data.get("majorDimension", "ROWS")
        if dimension not in ("ROWS", "COLUMNS"):
            raise invalid(
                "Invalid value at 'data.major_dimension' "
                f'(type.googleapis.com/google.apps.sheets.v4.Dimension), "{dimension}"'
            )
        values = data.get("values", [])
        ok_cell = (str, int, float, bool, type(None))
        if not isinstance(values, list) or not all(
            isinstance(row, list) and all(isinstance(v, ok_cell) for v in row) for row in values
        ):
            raise invalid(
                "Invalid values: expected a list of lists of numbers, strings or booleans"
            )
        if dimension == "COLUMNS":
            width = max((len(col) for col in values), default=0)
            values = [[col[i] if i < len(col) else None for col in values] for i in range(width)]
        return values

    def _put(self, where: _Range, text: str, values: list[list[Any]]) -> str:
        """Write ``values`` from the range's top-left cell; the updated range in A1."""
        tab = where.tab
        height = len(values)
        width = max((len(row) for row in values), default=0)
        if where.last_row is not None and where.last_column is not None:
            if where.row + height - 1 > where.last_row:
                raise invalid(
                    f"Requested writing within range [{text}], but tried writing to row "
                    f"[{where.row + height - 1}]"
                )
            if where.column + width - 1 > where.last_column:
                raise invalid(
                    f"Requested writing within range [{text}], but tried writing to column "
                    f"[{column_letters(where.column + width - 1)}]"
                )
        bottom, right = where.row + max(height, 1) - 1, where.column + max(width, 1) - 1
        if bottom > tab.rows or right > tab.columns:
            raise invalid(
                f"Range ({sheet_prefix(tab.title)}!{column_letters(right)}{bottom}) exceeds grid "
                f"limits. Max rows: {tab.rows}, max columns: {tab.columns}"
            )
        with self._state:
            for i, row in enumerate(values):
                for j, value in enumerate(row):
                    key = (where.row + i, where.column + j)
                    if value is None or value == "":
                        tab.cells.pop(key, None)
                    else:
                        tab.cells[key] = value
        first = f"{column_letters(where.column)}{where.row}"
        last = f"{column_letters(right)}{bottom}"
        span = first if first == last else f"{first}:{last}"
        return f"{sheet_prefix(tab.title)}!{span}"

    @staticmethod
    def _counts(updated: str, values: list[list[Any]]) -> dict[str, Any]:
        width = max((len(row) for row in values), default=0)
        return {
            "updatedRange": updated,
            "updatedRows": len(values),
            "updatedColumns": width,
            "updatedCells": sum(len(row) for row in values),
        }


__all__ = [
    "DEMO_CLIENT_EMAIL",
    "DEMO_KEY_ID",
    "DEMO_SPREADSHEET_ID",
    "PROJECT_NUMBER",
    "WRITE_SCOPES",
    "Received",
    "SheetsSimulator",
    "Spreadsheet",
    "Tab",
    "column_index",
    "column_letters",
    "sheet_prefix",
]

"""Secrets never reach logs, the store, error messages or command output."""

from __future__ import annotations

import base64
import html
import io
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import structlog

from okrsync.config.secrets import MAX_SECRET_FILE_BYTES, SecretError, expand, resolve
from okrsync.demo.simulators.server import FakeServer, Request, Response
from okrsync.sdk.connector import Runtime
from okrsync.sdk.redaction import MASK, Redactor
from okrsync.service.logging import configure
from okrsync.store.database import Store
from tests.support import (
    NOW,
    TOKEN,
    connections_yaml,
    kr_yaml,
    load,
    mapping,
    objective_yaml,
    sync_now,
    write,
)


def test_redactor_masks_every_registered_value_longest_first() -> None:
    r = Redactor()
    r.add("abcd1234")
    r.add("abcd1234-and-more")
    r.add("xy")  # too short to mask safely: ignored
    assert r.redact("a abcd1234-and-more b abcd1234 xy") == f"a {MASK} b {MASK} xy"
    assert r.redact_any({"k": ["abcd1234", 3]}) == {"k": [MASK, 3]}


# A secret with every character that an encoding changes (#16.4).
AWKWARD = 'tok"en\\/se&cr<et>+=%é 7f3a'


@pytest.mark.parametrize(
    ("form", "sent"),
    [
        ("json", json.dumps({"token": AWKWARD})),
        ("json, ascii only", json.dumps({"token": AWKWARD}, ensure_ascii=True)),
        ("json, solidus escaped", json.dumps({"t": AWKWARD}).replace("/", "\\/")),
        ("query string", "?" + urlencode({"api_key": AWKWARD})),
        ("path segment", "/keys/" + quote(AWKWARD, safe="")),
        ("xml text", f"<password>{html.escape(AWKWARD, quote=False)}</password>"),
        ("xml attribute", f'<login password="{html.escape(AWKWARD)}"/>'),
    ],
)
def test_redactor_masks_escaped_forms(form: str, sent: str) -> None:
    r = Redactor()
    r.add(AWKWARD)
    masked = r.redact(f"echo: {sent} end")
    assert MASK in masked, form
    assert "7f3a" not in masked, form  # no tail of the secret is left over
    assert masked.endswith(" end")


@pytest.mark.parametrize("user", ["", "a", "ab", "abc", "okrsync", "service-account@x.example"])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_redactor_masks_a_secret_inside_any_base64(
    user: str, encode: Callable[[bytes], bytes]
) -> None:
    """Basic auth sends base64 of user:secret; the user shifts where the secret's bits start."""
    secret = "s3cret-Pa55/word+x"
    r = Redactor()
    r.add(secret)
    token = encode(f"{user}:{secret}".encode()).decode()
    masked = r.redact(f"Authorization: Basic {token}, next")
    assert token not in masked
    assert masked.endswith(f"{MASK}, next")
    rest = masked.removeprefix("Authorization: Basic ").removesuffix(f"{MASK}, next")
    assert token.startswith(rest)
    assert len(rest) * 6 <= (len(user) + 1) * 8  # what is left holds no bit of the secret


def test_redactor_leaves_unrelated_base64_alone() -> None:
    r = Redactor()
    r.add("s3cret-Pa55/word+x")
    text = "Basic " + base64.b64encode(b"okrsync:another-password").decode()
    assert r.redact(text) == text


def test_expand_env_and_file_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret-from-file\n")
    r = Redactor()
    got = expand(
        {"a": "Bearer ${TOK}", "b": ["${file:" + str(tmp_path / "pw") + "}"], "c": "$HOME {x}"},
        r,
        {"TOK": "s3cret-env-value"},
    )
    assert got == {"a": "Bearer s3cret-env-value", "b": ["s3cret-from-file"], "c": "$HOME {x}"}
    assert r.redact("s3cret-env-value s3cret-from-file") == f"{MASK} {MASK}"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("MISSING_VAR", "environment variable MISSING_VAR is not set"),
        ("file:/nonexistent/secret", "secret file /nonexistent/secret cannot be read"),
        ("not a name", "is not a secret reference"),
    ],
)
def test_unresolvable_references_say_why_without_values(ref: str, message: str) -> None:
    with pytest.raises(SecretError, match=message):
        resolve(ref, {})


SECRET_BYTES = b"tok-\xff\xfe-not-text"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"  \n\t\n", "is empty"),  # sent as "Bearer " before: issue #16.9b
        (SECRET_BYTES, "is not UTF-8 text"),  # raised UnicodeDecodeError: issue #16.7
        (b"x" * (MAX_SECRET_FILE_BYTES + 1), "is larger than 64 KiB"),
    ],
    ids=["empty", "blank", "not-utf8", "too-big"],
)
def test_secret_files_that_hold_no_usable_secret_are_errors(
    tmp_path: Path, content: bytes, message: str
) -> None:
    secret = tmp_path / "token"
    secret.write_bytes(content)
    with pytest.raises(SecretError, match=message) as info:
        resolve(f"file:{secret}", {})
    assert str(secret) in str(info.value)
    for part in ("tok-", "\\x", "0xff", "0xfe"):  # no byte of the secret
        assert part not in str(info.value)


def test_a_device_as_secret_file_costs_one_read_of_the_limit() -> None:
    began = time.monotonic()
    with pytest.raises(SecretError, match="larger than 64 KiB"):
        resolve("file:/dev/zero", {})  # read without limit before: 2.7 GB in 6.7 s
    assert time.monotonic() - began < 0.5


@pytest.mark.parametrize(
    ("ref", "environ", "message"),
    [
        ("file:", {}, "names no file"),
        ("file:/run/secrets/a\0b", {}, "invalid path"),
        ("BLANK", {"BLANK": " \t"}, "environment variable BLANK holds only whitespace"),
        ("EMPTY", {"EMPTY": ""}, "environment variable EMPTY is not set"),
    ],
)
def test_references_to_nothing_are_errors(ref: str, environ: dict[str, str], message: str) -> None:
    with pytest.raises(SecretError, match=message):
        resolve(ref, environ)


class EchoServer(FakeServer):
    """A careless API that puts the caller's credentials into its error body."""

    def __init__(self) -> None:
        super().__init__()
        self.route("GET", r"/api/v1/metrics/(?P<name>\w+)", self._echo)

    def _echo(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        return Response.json({"error": f"token rejected: {auth}", "query": request.query}, 401)


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server  # type: ignore[misc]


def test_a_failed_sync_leaks_the_token_nowhere(
    tmp_path: Path, echo: EchoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "connections.yaml": connections_yaml(echo.url),
        "okrs.yaml": mapping([objective_yaml("o", [kr_yaml("k", "support_tickets_month")])]),
    }
    config = load(write(tmp_path / "m", files))
    logs = io.StringIO()
    configure("json", "debug", stream=logs)
    try:
        db = tmp_path / "store.db"
        with Store.open(f"sqlite:///{db}") as store:
            result = sync_now(config, store, now=NOW, runtime=Runtime())
            structlog.get_logger("test").error("boom", detail=f"Bearer {TOKEN}")
    finally:
        configure("console", "info")

    [record] = result.records
    assert record.status == "error"
    assert record.error_kind == "auth"
    assert echo.requests[0].headers["authorization"] == f"Bearer {TOKEN}"  # it was sent
    assert TOKEN not in (record.error or "")
    assert TOKEN not in (record.raw or "")
    assert MASK in (record.error or "")

    text = logs.getvalue()
    assert "sync finished" in text
    assert "boom" in text
    assert TOKEN not in text

    conn = sqlite3.connect(db)
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    assert "token rejected" in dump  # the error is stored ...
    assert TOKEN not in dump  # ... without the token
    assert TOKEN not in json.dumps(result.summary)
    assert TOKEN not in capsys.readouterr().err

"""The email channel over real SMTP: aiosmtpd on 127.0.0.1 with STARTTLS, implicit TLS or neither."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pydantic
import pytest
import structlog
import yaml

from okrsync.errors import AuthError, MeasureError, QueryError, TransientError
from okrsync.publish.channels.email import PUBLISHER, EmailSettings, render_html
from okrsync.sdk.connector import Runtime
from okrsync.sdk.messages import Item, Message, Section
from okrsync.testing.runtime import FAST, Sleeps
from tests.publish.channels.smtp_receiver import (
    PASSWORD,
    USER,
    Received,
    SmtpReceiver,
    free_port,
)

SENDER = "okrsync <okrsync@acme.test>"
TO = "product@acme.test"
HOSTILE = 'Pipeline <script>alert("x")</script> & co'
DASHBOARD = "https://okr.acme.test"
DOCS = Path(__file__).parents[3] / "docs" / "channels" / "email.md"


def digest(title: str = "Weekly check-in, product: 16 Nov 2026") -> Message:
    return Message(
        kind="digest",
        key="digest:2026-11-16T09:00Z",
        title=title,
        summary="3 key results in 1 objectives: 1 on track, 1 at risk, 1 off track.",
        sections=[
            Section(
                "Objectives",
                [Item("Grow pipeline", "67% (+5 pts) · on track", "on_track", f"{DASHBOARD}/#o-g")],
            ),
            Section(
                "At risk or off track",
                [
                    Item(
                        "Checkout steps", "off track · 7 steps of 6", "off_track", "javascript:x()"
                    ),
                    Item("NPS <b>survey</b>", "at risk", "at_risk"),
                ],
            ),
        ],
        link=f"{DASHBOARD}/",
        data={"channel": "product"},
    )


def settings(smtp: SmtpReceiver, **extra: Any) -> EmailSettings:
    security = {"plain": "none", "starttls": "starttls", "tls": "tls"}[smtp.mode]
    raw: dict[str, Any] = {
        "type": "email",
        "host": smtp.host,
        "port": smtp.port,
        "security": security,
        "username": USER,
        "password": PASSWORD,
        "sender": SENDER,
        "to": [TO],
        "ca_bundle": str(smtp.ca_bundle),
        "timeout": 5,
        "dashboard_url": DASHBOARD,
    }
    raw.update(extra)
    return EmailSettings.model_validate({k: v for k, v in raw.items() if v is not None})


def send_all(config: EmailSettings, messages: list[Message], runtime: Runtime = FAST) -> list[str]:
    async def go() -> list[str]:
        channel = PUBLISHER.open("product", config, runtime)
        try:
            return [await channel.send(m) for m in messages]
        finally:
            await channel.aclose()

    return asyncio.run(go())


def send_error(config: EmailSettings, message: Message, runtime: Runtime = FAST) -> MeasureError:
    with pytest.raises(MeasureError) as caught:
        send_all(config, [message], runtime)
    return caught.value


def parts(got: Received) -> tuple[EmailMessage, EmailMessage]:
    assert got.message.get_content_type() == "multipart/alternative"
    text, html = got.message.iter_parts()
    assert isinstance(text, EmailMessage)
    assert isinstance(html, EmailMessage)
    return text, html


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_starttls_and_auth_deliver_one_mail_text_first_html_last(mechanism: str) -> None:
    message = digest(HOSTILE)
    with SmtpReceiver("starttls", mechanisms=[mechanism]) as smtp:
        before = datetime.now(UTC)
        [receipt] = send_all(settings(smtp), [message])
        [got] = smtp.received
    assert smtp.logins[0].mechanism == mechanism
    assert all(login.tls for login in smtp.logins)  # AUTH only after STARTTLS
    assert [login.ok for login in smtp.logins] == [True]
    assert got.tls
    assert got.login == USER
    assert got.mail_from == "okrsync@acme.test"
    assert got.rcpt_tos == [TO]
    mail = got.message
    assert mail["Subject"] == f"[okrsync] {HOSTILE}"
    assert mail["From"] == SENDER
    assert mail["To"] == TO
    assert mail["X-Okrsync-Key"] == "digest:2026-11-16T09:00Z"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Date"].endswith(" -0000")  # UTC (RFC 5322 3.3), whatever the host's zone
    sent = parsedate_to_datetime(mail["Date"]).replace(tzinfo=UTC)
    assert before - timedelta(seconds=2) <= sent <= datetime.now(UTC) + timedelta(seconds=2)
    assert re.fullmatch(r"<[^<>@\s]+@acme\.test>", mail["Message-ID"])
    assert receipt == f"sent to 1 recipient(s) as {mail['Message-ID']}"
    text, html = parts(got)
    assert not any(byte > 127 for byte in got.raw)  # 7-bit on the wire: "·" quoted-printable
    assert text.get_content_type() == "text/plain"
    assert text.get_content().replace("\r\n", "\n") == message.text()  # CRLF on the wire
    assert html.get_content_type() == "text/html"
    body = html.get_content()
    assert "<script>" not in body
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in body
    assert "NPS &lt;b&gt;survey&lt;/b&gt;" in body
    assert f'<a href="{DASHBOARD}/#o-g"' in body
    assert "javascript:" not in body  # only http(s) links become links
    off_track = r'<span style="[^"]*background-color:#cf222e;color:#ffffff;[^"]*">off track</span>'
    assert re.search(off_track, body)  # the status's colour, as an inline style
    assert re.search(r'background-color:#1a7f37;[^"]*">on track</span>', body)
    assert f'href="{DASHBOARD}/"' in body  # the dashboard
    for external in ("<img", "<link", "<style", "@import", "<script", "src="):
        assert external not in body


def test_implicit_tls_delivers_with_a_verified_certificate() -> None:
    with SmtpReceiver("tls") as smtp:
        [receipt] = send_all(settings(smtp, to=[TO, "Lead <lead@acme.test>"]), [digest()])
        [got] = smtp.received
    assert receipt.startswith("sent to 2 recipient(s) as <")
    assert got.tls
    assert got.login == USER
    assert got.rcpt_tos == [TO, "lead@acme.test"]
    assert got.message["To"] == f"{TO}, Lead <lead@acme.test>"
    assert [p.get_content_type() for p in got.message.iter_parts()] == ["text/plain", "text/html"]


def test_a_wrong_password_is_an_auth_error_in_the_servers_words_without_it() -> None:
    wrong = "not-the-password-0123456789"
    with SmtpReceiver("starttls") as smtp:
        error = send_error(settings(smtp, password=wrong), digest())
        assert smtp.received == []
    assert isinstance(error, AuthError)
    assert "535 5.7.8 Authentication credentials invalid" in str(error)
    assert f"refused the login of {USER!r}" in str(error)
    assert wrong not in str(error)
    assert PASSWORD not in str(error)
    assert error.calls == 1  # not retried
    assert smtp.logins  # smtplib tries PLAIN, then LOGIN
    assert not any(login.ok for login in smtp.logins)


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_a_certificate_not_trusted_is_an_auth_error_naming_ca_bundle(mode: Any) -> None:
    with SmtpReceiver(mode) as smtp:
        error = send_error(settings(smtp, ca_bundle=None), digest())
        assert smtp.logins == []  # nothing, least of all the password, before TLS verifies
        assert smtp.received == []
    assert isinstance(error, AuthError)
    assert "the server's certificate did not verify" in str(error)
    assert "set ca_bundle" in str(error)
    assert error.calls == 1


def test_a_refused_recipient_is_a_query_error_and_a_partial_refusal_is_in_the_receipt() -> None:
    with SmtpReceiver("starttls", refuse=["nobody@acme.test"]) as smtp:
        error = send_error(settings(smtp, to=["nobody@acme.test"]), digest())
        assert smtp.received == []
        [receipt] = send_all(settings(smtp, to=[TO, "nobody@acme.test"]), [digest()])
        [got] = smtp.received
    assert isinstance(error, QueryError)
    assert "refused every recipient: nobody@acme.test (550 5.1.1" in str(error)
    assert "User unknown" in str(error)
    assert error.calls == 1
    assert receipt.startswith("sent to 1 recipient(s) as <")
    assert receipt.endswith("; refused: nobody@acme.test (550 5.1.1 <nobody@acme.test>: "
                            "Recipient address rejected: User unknown)")  # fmt: skip
    assert got.rcpt_tos == [TO]


def test_a_server_that_is_down_is_a_transient_error_after_the_configured_attempts() -> None:
    sleeps = Sleeps()
    config = EmailSettings.model_validate(
        base(
            host="127.0.0.1",
            port=free_port(),
            username=USER,
            password=PASSWORD,
            retry={"attempts": 3},
        )
    )
    error = send_error(config, digest(), Runtime(sleep=sleeps))
    assert isinstance(error, TransientError)
    assert f"127.0.0.1:{config.port} refused the connection" in str(error)
    assert error.calls == 3
    assert len(sleeps.waits) == 2


def test_a_4xx_reply_is_retried_by_the_policy_and_the_password_never_shows() -> None:
    sleeps = Sleeps()
    busy = f"451 4.3.0 Busy, try again ({PASSWORD})"  # a server that echoes what it should not
    with SmtpReceiver("starttls", data_replies=[busy]) as smtp:
        with structlog.testing.capture_logs() as logs:
            [receipt] = send_all(settings(smtp), [digest()], Runtime(sleep=sleeps))
        [got] = smtp.received
    assert receipt == f"sent to 1 recipient(s) as {got.message['Message-ID']}"
    assert len(sleeps.waits) == 1
    [retry] = [e for e in logs if e["event"] == "retrying"]
    assert "451 4.3.0 Busy, try again (***)" in retry["error"]
    assert PASSWORD not in str(logs)
    with SmtpReceiver("starttls", data_replies=[busy, busy]) as smtp:
        error = send_error(settings(smtp, retry={"attempts": 2}), digest())
    assert isinstance(error, TransientError)
    assert error.calls == 2
    assert PASSWORD not in str(error)


def test_security_none_sends_auth_in_clear_only_to_localhost() -> None:
    with SmtpReceiver("plain") as smtp:
        [receipt] = send_all(settings(smtp, host="localhost", ca_bundle=None), [digest()])
        [got] = smtp.received
    assert receipt.startswith("sent to 1 recipient(s)")
    assert not got.tls
    assert got.login == USER


def test_a_server_without_starttls_is_a_query_error_and_nothing_is_sent_in_clear() -> None:
    with SmtpReceiver("plain") as smtp:
        error = send_error(settings(smtp, security="starttls"), digest())
        assert smtp.logins == []
        assert smtp.received == []
    assert isinstance(error, QueryError)
    assert "does not offer STARTTLS: use security: tls (port 465)" in str(error)


def test_implicit_tls_against_a_plain_server_is_a_query_error_naming_the_ports() -> None:
    with SmtpReceiver("starttls") as smtp:
        error = send_error(settings(smtp, security="tls"), digest())
        assert smtp.received == []
    assert isinstance(error, QueryError)
    assert "port 587 starts plain and upgrades (security: starttls)" in str(error)


def base(**extra: Any) -> dict[str, Any]:
    raw = {"type": "email", "host": "smtp.acme.test", "sender": SENDER, "to": [TO]}
    return {**raw, **extra}


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (
            {"security": "none", "username": USER, "password": PASSWORD},
            "security: none would send the password in clear text to smtp.acme.test",
        ),
        ({"password": PASSWORD}, "username and password go together"),
        ({"username": USER}, "username and password go together"),
        ({"sender": "not an address"}, "sender 'not an address' is not one email address"),
        ({"sender": "a@acme.test, b@acme.test"}, "is not one email address"),
        ({"sender": "okrsync@acme.test\nBcc: all@acme.test"}, "sender must be one line"),
        ({"to": []}, "at least 1 item"),
        ({"to": [TO, "@acme.test"]}, "to[1] '@acme.test' is not one email address"),
        ({"host": "smtp.acme.test:587"}, "write the port as port:"),
        ({"port": 0}, "greater than or equal to 1"),
        ({"tls": True}, "Extra inputs are not permitted"),
    ],
)
def test_settings_refuse_what_cannot_work(extra: dict[str, Any], words: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        EmailSettings.model_validate(base(**extra))
    assert words in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_settings_defaults_and_the_localhost_exception() -> None:
    ports = {s: EmailSettings.model_validate(base(security=s)).smtp_port for s in ("starttls", "tls", "none")}  # fmt: skip
    assert ports == {"starttls": 587, "tls": 465, "none": 25}
    config = EmailSettings.model_validate(base())
    assert (config.security, config.subject_prefix, config.port) == ("starttls", "[okrsync] ", None)
    for host in ("localhost", "127.0.0.1", "::1", "mail.localhost"):
        local = base(host=host, security="none", username=USER, password=PASSWORD)
        assert EmailSettings.model_validate(local).username == USER


def test_a_title_on_several_lines_is_one_subject_and_every_text_is_escaped() -> None:
    message = digest("Weekly\r\nBcc: all@acme.test")
    with SmtpReceiver("starttls") as smtp:
        send_all(settings(smtp, subject_prefix="OKR: "), [message])
        [got] = smtp.received
    assert got.message["Subject"] == "OKR: Weekly Bcc: all@acme.test"
    assert got.message["Bcc"] is None
    assert got.rcpt_tos == [TO]
    html = render_html(digest("<i>x</i>"), "product <team>")
    assert "&lt;i&gt;x&lt;/i&gt;" in html
    assert "channel product &lt;team&gt;." in html
    assert "Sent by okrsync." in render_html(digest())  # okrsync report --format html


def test_the_docs_name_every_setting_and_their_example_validates() -> None:
    page = DOCS.read_text()
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    named = {name for row in rows for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
    assert set(EmailSettings.model_fields) - named == set()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", page, re.S)]
    examples = [c for b in blocks if "channels" in b for c in b["channels"].values()]
    assert examples
    for example in examples:
        filled = {k: "stand-in" if str(v).startswith("${") else v for k, v in example.items()}
        assert EmailSettings.model_validate(filled).type == "email"

"""``type: email`` channel: each digest and alert as one mail over SMTP, a text and an HTML part.

    Subject: [okrsync] <title>
    From: <sender>            To: <to, all of them>
    Date: <now, RFC 5322>     Message-ID: <…@sender's domain>
    X-Okrsync-Key: <the message key, the same on every attempt: receivers dedupe on it>
    Auto-Submitted: auto-generated
    multipart/alternative: text/plain (Message.text()) first, text/html (the template) last

One connection per message: connect, STARTTLS (``security: starttls``, port
587) or TLS from the first byte (``tls``, 465), then AUTH, then the mail.
Certificates are always verified (the system store plus ``ca_bundle``), TLS
always comes before AUTH, and a password is never sent in clear text except
to localhost (RFC 8314). smtplib blocks, so each attempt runs in a thread;
transient failures (refused or dropped connections, timeouts, 4xx replies)
are retried by the one policy (``retry:``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any, Literal
from urllib.parse import urlsplit

import jinja2
from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from okrsync.errors import AuthError, MeasureError, QueryError, TransientError, excerpt
from okrsync.sdk.connector import Runtime
from okrsync.sdk.messages import Message
from okrsync.sdk.publisher import ChannelSettings, PublisherType
from okrsync.sdk.redaction import REDACTOR, Redactor
from okrsync.sdk.retry import call_with_retries
from okrsync.sdk.tls import ssl_context

Security = Literal["starttls", "tls", "none"]
DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "tls": 465, "none": 25}

# The dashboard's words and (light theme) colours for a status: mail clients know no CSS variables.
STATUS_WORDS = {
    "done": "done", "on_track": "on track", "at_risk": "at risk", "off_track": "off track",
    "stale": "stale", "error": "error", "held": "held", "not_measured": "not measured",
    "throttled": "throttled",
}  # fmt: skip
STATUS_COLOURS = {
    "done": "#1a7f37", "on_track": "#1a7f37", "at_risk": "#9a6700", "off_track": "#cf222e",
    "stale": "#6e7781", "error": "#a40e26", "held": "#8250df", "not_measured": "#6e7781",
    "throttled": "#bc4c00",
}  # fmt: skip
OTHER_COLOUR = "#57606a"  # a status word okrsync does not know
PLAIN_COLOUR = "#d0d7de"  # a line with no status, e.g. an alert's "Why"


def check_address(value: str, what: str) -> str:
    """One address, bare or with a display name (``Name <name@example.com>``); ValueError else."""
    value = value.strip()
    if "\r" in value or "\n" in value:
        raise ValueError(f"{what} must be one line")
    found = getaddresses([value])
    addr = found[0][1] if len(found) == 1 else ""
    local, at, domain = addr.rpartition("@")
    if not (at and local and domain) or any(c.isspace() for c in addr):
        raise ValueError(
            f"{what} {value!r} is not one email address: write name@example.com "
            'or "Name <name@example.com>"'
        )
    return value


def bare_address(value: str) -> str:
    """``name@example.com`` of an address that passed :func:`check_address`."""
    return getaddresses([value])[0][1]


def is_local(host: str) -> bool:
    """``localhost``, a ``*.localhost`` name or a loopback address: the wire never leaves the box."""
    name = host.strip().lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


class EmailSettings(ChannelSettings):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    type: Literal["email"]
    host: str = Field(description="The SMTP server (submission), e.g. smtp.example.com.")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="By security: 587 starttls, 465 tls, 25 none."
    )
    security: Security = Field(
        default="starttls",
        description="starttls: plain, then upgraded; tls: TLS from the first byte; none: no TLS.",
    )
    username: str | None = Field(default=None, description="The AUTH login (with password).")
    password: SecretStr | None = Field(default=None, description="Write ${SMTP_PASSWORD}.")
    sender: str = Field(description='From: "okrsync <okrsync@example.com>" or a bare address.')
    to: list[str] = Field(min_length=1, description="Recipients (To:), one address each.")
    subject_prefix: str = Field(default="[okrsync] ", description="Put before every title.")

    @field_validator("host")
    @classmethod
    def _host(cls, host: str) -> str:
        host = host.strip()
        if not host or any(c.isspace() for c in host) or "/" in host:
            raise ValueError(f"host {host!r} is not a host name: write e.g. smtp.example.com")
        if ":" in host and not _is_ipv6(host):
            raise ValueError(f"host {host!r}: write the port as port:, not in host")
        return host

    @field_validator("sender")
    @classmethod
    def _sender(cls, sender: str) -> str:
        return check_address(sender, "sender")

    @field_validator("to")
    @classmethod
    def _to(cls, to: list[str]) -> list[str]:
        return [check_address(a, f"to[{n}]") for n, a in enumerate(to)]

    @field_validator("subject_prefix")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        if "\r" in prefix or "\n" in prefix:
            raise ValueError("subject_prefix must be one line")
        return prefix

    @model_validator(mode="after")
    def _login(self) -> EmailSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: set both, or neither")
        if self.username is not None and self.security == "none" and not is_local(self.host):
            raise ValueError(
                f"security: none would send the password in clear text to {self.host}: use "
                "security: starttls (port 587) or tls (port 465); AUTH over a plain "
                "connection is allowed only to localhost"
            )
        return self

    @property
    def smtp_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[self.security]


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).version == 6
    except ValueError:
        return False


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("okrsync.publish.channels", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("message.html")


def _web_link(url: str | None) -> str | None:
    """Only http(s) addresses become links: a ``javascript:`` one stays text."""
    if not url:
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def render_html(message: Message, channel: str | None = None) -> str:
    """The mail's HTML part (and ``okrsync report --format html``): tables and inline styles,
    what mail clients render; every text escaped, only http(s) links made links."""
    sections = [
        {
            "title": section.title,
            "rows": [
                {
                    "text": item.text,
                    "detail": item.detail,
                    "link": _web_link(item.link),
                    "label": STATUS_WORDS.get(item.status, item.status) if item.status else "",
                    "colour": (
                        STATUS_COLOURS.get(item.status, OTHER_COLOUR)
                        if item.status
                        else PLAIN_COLOUR
                    ),
                }
                for item in section.items
            ],
        }
        for section in message.sections
    ]
    return _template().render(
        kind=message.kind,
        title=message.title,
        summary=message.summary,
        sections=sections,
        link=_web_link(message.link),
        channel=channel,
    )


Refused = dict[str, tuple[int, bytes]]


class EmailChannel:
    def __init__(self, name: str, settings: EmailSettings, runtime: Runtime) -> None:
        self._name, self._settings, self._runtime = name, settings, runtime
        self._redactor = Redactor()
        if settings.password is not None:
            self._redactor.add(settings.password.get_secret_value())
        self._label = f"{settings.host}:{settings.smtp_port}"
        self._domain = bare_address(settings.sender).rpartition("@")[2]
        self._closed = False

    def compose(self, message: Message) -> EmailMessage:
        """The mail: headers, then text/plain first and text/html last (RFC 2046 §5.1.4)."""
        settings = self._settings
        mail = EmailMessage()
        mail["Subject"] = settings.subject_prefix + " ".join(message.title.split())
        mail["From"] = settings.sender
        mail["To"] = ", ".join(settings.to)
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=self._domain)
        mail["X-Okrsync-Key"] = " ".join(message.key.split())
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
        # quoted-printable: 7-bit clean, so no relay needs 8BITMIME for "→" or "·"
        mail.set_content(message.text(), cte="quoted-printable")
        html = render_html(message, self._name)
        mail.add_alternative(html, subtype="html", cte="quoted-printable")
        return mail

    async def send(self, message: Message) -> str:
        if self._closed:
            raise RuntimeError(f"email channel {self._name} is closed")
        mail = self.compose(message)  # once: every attempt sends the same Message-ID

        async def attempt() -> Refused:
            return await asyncio.to_thread(self._deliver, mail)

        refused = await call_with_retries(
            attempt,
            self._settings.retry,
            self._runtime.sleep,
            what=f"email channel {self._name} ({self._label})",
        )
        count = len(self._settings.to) - len(refused)
        receipt = f"sent to {count} recipient(s) as {mail['Message-ID']}"
        if refused:
            receipt += "; refused: " + "; ".join(
                f"{addr} ({_words(code, text)})" for addr, (code, text) in refused.items()
            )
        return self._scrub(receipt)

    def _deliver(self, mail: EmailMessage) -> Refused:
        """One attempt, in a thread: its failure as a MeasureError kind."""
        settings = self._settings
        step = "connect"
        smtp: smtplib.SMTP | None = None
        try:  # smtplib closes the socket itself when connecting fails
            if settings.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    settings.host, settings.smtp_port, timeout=settings.timeout, context=self._tls()
                )
            else:
                smtp = smtplib.SMTP(settings.host, settings.smtp_port, timeout=settings.timeout)
            if settings.security == "starttls":
                step = "starttls"
                smtp.ehlo()
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            if settings.username is not None and settings.password is not None:
                step = "auth"
                smtp.login(settings.username, settings.password.get_secret_value())
            step = "send"
            refused: Refused = smtp.send_message(
                mail,
                from_addr=bare_address(settings.sender),
                to_addrs=[bare_address(a) for a in settings.to],
            )
        except BaseException as exc:
            if smtp is not None:
                smtp.close()
            if isinstance(exc, OSError):  # smtplib's, ssl's and socket's errors all are
                kind, text = self._classify(exc, step)
                raise kind(self._scrub(text)) from None
            raise
        with contextlib.suppress(OSError):  # sent: a failing QUIT must not send it twice
            smtp.quit()
        smtp.close()
        return refused

    def _tls(self) -> ssl.SSLContext:
        try:
            return ssl_context(self._settings.ca_bundle)
        except ValueError as exc:
            raise QueryError(str(exc)) from None

    def _classify(self, exc: OSError, step: str) -> tuple[type[MeasureError], str]:
        """smtplib's, ssl's and socket's failures, each as the kind it is (the table in the docs)."""
        label, settings = self._label, self._settings
        hint = (
            "; port 465 speaks TLS from the first byte (security: tls)"
            if step == "connect" and settings.smtp_port == 465 and settings.security != "tls"
            else ""
        )
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            words = _words(exc.smtp_code, exc.smtp_error)
            if 400 <= exc.smtp_code < 500:
                return TransientError, f"{label} could not check the login now ({words})"
            return AuthError, (
                f"{label} refused the login of {settings.username!r} ({words}): "
                "check username and password"
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return QueryError, self._unsupported(step, str(exc))
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            every = "; ".join(f"{a} ({_words(c, t)})" for a, (c, t) in exc.recipients.items())
            if all(400 <= c < 500 for c, _ in exc.recipients.values()):
                return TransientError, f"{label} refused the recipients for now: {every}"
            return QueryError, f"{label} refused every recipient: {every}; check to:"
        if isinstance(exc, smtplib.SMTPSenderRefused):
            words = _words(exc.smtp_code, exc.smtp_error)
            if exc.smtp_code == 530:
                return AuthError, (
                    f"{label} wants a login before it sends ({words}): set username and password"
                )
            if 400 <= exc.smtp_code < 500:
                return TransientError, f"{label} refused the sender for now ({words})"
            return QueryError, (
                f"{label} refused the sender {exc.sender!r} ({words}): the account may not "
                "send as this address; check sender"
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            words = _words(exc.smtp_code, exc.smtp_error)
            if 400 <= exc.smtp_code < 500:
                return TransientError, f"{label} answered {words} ({step})"
            if isinstance(exc, smtplib.SMTPDataError):
                return QueryError, f"{label} refused the message ({words})"
            return QueryError, f"{label} answered {words} ({step})"
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return TransientError, f"{label} closed the connection ({step}): {exc}{hint}"
        if isinstance(exc, smtplib.SMTPException):
            return QueryError, f"{label}: {exc} ({step})"
        if isinstance(exc, ssl.SSLCertVerificationError):
            return AuthError, (
                f"the server's certificate did not verify ({exc.verify_message}) at {label}: "
                "set ca_bundle to the CA that issued it (certificates are always verified)"
            )
        if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return TransientError, f"{label} closed the connection during TLS ({step})"
        if isinstance(exc, ssl.SSLError):
            return QueryError, (
                f"TLS with {label} failed ({exc.reason or exc}): port 465 speaks TLS from the "
                "first byte (security: tls), port 587 starts plain and upgrades "
                "(security: starttls); check security and port"
            )
        if isinstance(exc, TimeoutError):
            return TransientError, f"no answer from {label} within {settings.timeout:g}s{hint}"
        if isinstance(exc, ConnectionRefusedError):
            return TransientError, f"{label} refused the connection: is the server up there?"
        if isinstance(exc, socket.gaierror):
            if exc.errno == socket.EAI_NONAME:
                return QueryError, f"host {settings.host!r} is not known (DNS): check host"
            return TransientError, f"cannot resolve {settings.host!r} now: {exc}"
        return TransientError, f"{type(exc).__name__} talking to {label} ({step}): {exc}"

    def _unsupported(self, step: str, said: str) -> str:
        if step == "starttls":
            return (
                f"{self._label} does not offer STARTTLS: use security: tls (port 465) if it "
                "speaks TLS from the first byte; okrsync sends in clear text only with "
                "security: none"
            )
        if step == "auth":
            return (
                f"{self._label} offers no AUTH on this connection ({said}): check security "
                "and port, or leave out username and password if it relays without a login"
            )
        return f"{self._label}: {said}"

    def _scrub(self, text: str) -> str:
        return self._redactor.redact(REDACTOR.redact(excerpt(text, 600)))

    async def aclose(self) -> None:
        self._closed = True  # nothing held open: one connection per message


def _words(code: int, text: bytes | str) -> str:
    """The server's reply, ``535 5.7.8 Authentication credentials invalid``, shortened."""
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return excerpt(f"{code} {said}", 240)


def open_channel(name: str, settings: Any, runtime: Runtime) -> EmailChannel:
    return EmailChannel(name, settings, runtime)


PUBLISHER = PublisherType(
    type="email",
    section="channels",
    settings_model=EmailSettings,
    open=open_channel,
    doc="Any SMTP server: each digest and alert as one mail with a text and an HTML part.",
)

__all__ = [
    "DEFAULT_PORTS",
    "PUBLISHER",
    "EmailChannel",
    "EmailSettings",
    "check_address",
    "is_local",
    "render_html",
]

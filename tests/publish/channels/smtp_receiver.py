"""A real SMTP server for the email channel's tests: aiosmtpd on 127.0.0.1, in its own thread.

    with SmtpReceiver("starttls") as smtp:      # or "tls" (implicit, RFC 8314) or "plain"
        ... send to smtp.host:smtp.port, trusting smtp.ca_bundle ...
        [mail] = smtp.received                  # envelope from/to and the parsed EmailMessage

Each receiver has its own self-signed certificate (``cryptography``, for
``localhost`` and ``127.0.0.1``) in a temporary folder, and a free port the
operating system chose. AUTH PLAIN and LOGIN accept :data:`USER` /
:data:`PASSWORD` only (anything else gets aiosmtpd's ``535 5.7.8``); with
STARTTLS, AUTH is offered only after the upgrade, as RFC 8314 wants
(``mechanisms`` narrows what is offered).
``refuse`` names recipients answered ``550``; ``data_replies`` are answers to
the next DATA commands (a ``451`` to test retries) before mail is accepted again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import logging
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

USER = "okrsync@acme.test"
PASSWORD = "correct-horse-battery-staple"
HOST = "127.0.0.1"

Mode = Literal["plain", "starttls", "tls"]


@dataclass(frozen=True)
class Received:
    """One accepted mail: the envelope as the client sent it, and the message parsed."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    tls: bool  # the mail came over an encrypted connection
    login: str | None  # who authenticated, if anyone


@dataclass(frozen=True)
class Login:
    """One AUTH attempt: the mechanism, the user, whether it passed and whether TLS was on."""

    mechanism: str
    user: str
    ok: bool
    tls: bool


def free_port() -> int:
    """A port nothing listens on (for the server-is-down test)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 and its key, as PEM files in ``folder``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "okrsync test SMTP")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class _NoDeprecationNotes(logging.Filter):
    """aiosmtpd itself sets its deprecated ``Session.login_data`` and logs so on every AUTH."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_NoDeprecationNotes())


def _tls_on(server: SMTP) -> bool:
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class _Handler:
    """aiosmtpd's hooks: recipients checked, mail parsed and kept."""

    def __init__(self, receiver: SmtpReceiver) -> None:
        self._receiver = receiver

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.lower() in self._receiver.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._receiver._lock:
            if self._receiver.data_replies:
                return self._receiver.data_replies.pop(0)
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        data = session.auth_data
        login = data.login.decode() if isinstance(data, LoginPassword) else None
        got = Received(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            message=parsed,
            raw=raw,
            tls=_tls_on(server),
            login=login,
        )
        with self._receiver._lock:
            self._receiver.received.append(got)
        return "250 2.0.0 Ok: queued"


class _Controller(Controller):
    """Binds port 0 and reads the port the system chose: free, with no race for it."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]  # aiosmtpd leaves it untyped


class SmtpReceiver:
    """A running SMTP server (a context manager); ``received`` lists what it accepted."""

    def __init__(
        self,
        mode: Mode = "starttls",
        *,
        refuse: Iterable[str] = (),
        data_replies: Iterable[str] = (),
        mechanisms: Iterable[str] = ("PLAIN", "LOGIN"),
    ) -> None:
        self.mode = mode
        self.host = HOST
        self.port = 0
        self.refuse = {a.lower() for a in refuse}
        self.data_replies = list(data_replies)
        self.mechanisms = {m.upper() for m in mechanisms}
        self.received: list[Received] = []
        self.logins: list[Login] = []
        self._lock = threading.Lock()
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._controller: _Controller | None = None
        self.ca_bundle = Path()

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == USER.encode()
            and auth_data.password == PASSWORD.encode()
        )
        user = ""
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode("utf-8", "replace")
        with self._lock:
            self.logins.append(Login(mechanism, user, ok, _tls_on(server)))
        if not ok:  # not handled here: aiosmtpd answers its 535 5.7.8
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=auth_data)

    def __enter__(self) -> SmtpReceiver:
        self._folder = tempfile.TemporaryDirectory(prefix="okrsync-smtp-")
        cert, key = self_signed(Path(self._folder.name))
        self.ca_bundle = cert
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        options: dict[str, Any] = {
            "ident": "okrsync test SMTP",
            # AUTH is offered only under TLS for STARTTLS; the other modes test the client's rules.
            "auth_require_tls": self.mode == "starttls",
            "authenticator": self._authenticate,
            "auth_exclude_mechanism": sorted({"PLAIN", "LOGIN"} - self.mechanisms),
        }
        if self.mode == "starttls":
            options["tls_context"] = context
        try:
            self._controller = _Controller(
                _Handler(self),
                hostname=HOST,
                port=0,
                ssl_context=context if self.mode == "tls" else None,
                server_hostname="smtp.acme.test",
                **options,
            )
            self._controller.start()
        except BaseException:
            self._controller = None
            self._folder.cleanup()
            self._folder = None
            raise
        self.port = self._controller.port
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


__all__ = ["HOST", "PASSWORD", "USER", "Login", "Received", "SmtpReceiver", "free_port"]

"""The Salesforce simulator's logins: SOAP ``login`` and OAuth ``token``.

SOAP answers unprefixed ``<sessionId>``/``<serverUrl>``, or a 500 fault
``INVALID_LOGIN`` with ``<sf:exceptionCode>``. OAuth takes ``client_credentials``
(Basic auth, run as the app's user), JWT bearer (RS256 signature checked with the app's
registered public key; ``iss``, ``sub``, ``aud``, ``exp`` as simple-salesforce sends
them) and ``password``. Each success is a new session id of the simulator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from okrsync.demo.simulators._salesforce_data import ORG_ID
from okrsync.demo.simulators.server import Request, Response


class Org(Protocol):
    """What the logins ask of the simulated org: its address and a new session."""

    @property
    def url(self) -> str: ...

    def new_session(self, username: str = ...) -> str: ...


@dataclass
class App:
    secret: str | None
    public_key: bytes | None  # PEM, for JWT bearer
    run_as: str | None  # the client-credentials user


class Logins:
    """The org's users and connected apps, and the two login endpoints."""

    def __init__(self, sim: Org) -> None:
        self._sim = sim
        self.users: dict[str, str] = {}  # username → password + security token
        self.apps: dict[str, App] = {}

    def soap_login(self, request: Request) -> Response:
        try:
            root = ET.fromstring(request.body)  # noqa: S314 - our own client's XML
        except ET.ParseError:
            return _soap_fault("INVALID_SOAP", "could not parse the request")
        found = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in root.iter()}
        username, password = found.get("username", ""), found.get("password", "")
        expected = self.users.get(username)
        if expected is None or not hmac.compare_digest(expected, password):
            return _soap_fault(
                "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
            )
        ver, sid = request.params["ver"], self._sim.new_session(username)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse><result>'
            f"<metadataServerUrl>{self._sim.url}/services/Soap/m/{ver}/{ORG_ID}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>{self._sim.url}/services/Soap/u/{ver}/{ORG_ID}</serverUrl>"
            f"<sessionId>{escape(sid)}</sessionId><userId>005SIM000000000001</userId>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Response(200, body.encode(), {"Content-Type": "text/xml;charset=UTF-8"})

    def token(self, request: Request) -> Response:
        form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        grant = form.get("grant_type", "")
        if grant == "client_credentials":
            key, secret = _basic(request.headers.get("authorization", ""))
            app = self.apps.get(key)
            if app is None or app.secret is None or not hmac.compare_digest(app.secret, secret):
                return _oauth_error("invalid_client", "invalid client credentials")
            if app.run_as is None:
                return _oauth_error("invalid_grant", "no client credentials user enabled")
            return self._token_reply(app.run_as)
        if grant == "password":
            app = self.apps.get(form.get("client_id", ""))
            if app is None or app.secret != form.get("client_secret"):
                return _oauth_error("invalid_client", "invalid client credentials")
            expected = self.users.get(form.get("username", ""))
            if expected is None or form.get("password") != expected:
                return _oauth_error("invalid_grant", "authentication failure")
            return self._token_reply(form["username"])
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            prefix = request.path.removesuffix("/services/oauth2/token")
            audience = f"https://{request.headers.get('host', '')}{prefix}"
            return self._jwt(form.get("assertion", ""), audience)
        return _oauth_error("unsupported_grant_type", "grant type not supported")

    def _jwt(self, assertion: str, audience: str) -> Response:
        import jwt  # PyJWT comes with simple-salesforce

        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
            app = self.apps.get(str(claims.get("iss")))
            if app is None or app.public_key is None:
                return _oauth_error("invalid_client_id", "client identifier invalid")
            claims = jwt.decode(
                assertion,
                app.public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_aud": False, "verify_iss": False},
            )
        except jwt.PyJWTError:
            return _oauth_error("invalid_grant", "invalid assertion")
        if claims.get("aud") != audience:
            return _oauth_error("invalid_grant", "audience is invalid")
        exp = claims.get("exp")  # simple-salesforce sends a string; both forms are accepted
        if not str(exp).isdigit() or not time.time() < int(str(exp)) <= time.time() + 300:
            return _oauth_error("invalid_grant", "expired authorization code")
        username = str(claims.get("sub"))
        if username not in self.users:
            return _oauth_error("invalid_grant", "user hasn't been approved")
        return self._token_reply(username)

    def _token_reply(self, username: str) -> Response:
        sid, issued = self._sim.new_session(username), str(int(time.time() * 1000))
        ident = f"{self._sim.url}/id/{ORG_ID}/005SIM000000000001"
        mac = hmac.new(b"simulator", f"{ident}{issued}".encode(), hashlib.sha256).digest()
        return Response.json(
            {
                "access_token": sid,
                "instance_url": self._sim.url,
                "id": ident,
                "token_type": "Bearer",
                "issued_at": issued,
                "signature": base64.b64encode(mac).decode(),
                "scope": "api",
            }
        )


def _soap_fault(code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}</faultstring>"
        '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
        f"<sf:exceptionCode>{code}</sf:exceptionCode>"
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        "</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(500, body.encode(), {"Content-Type": "text/xml;charset=UTF-8"})


def _oauth_error(error: str, description: str) -> Response:
    return Response.json({"error": error, "error_description": description}, 400)


def _basic(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        key, _, secret = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return "", ""
    return key, secret

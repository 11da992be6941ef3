"""A canary secret per connector, echoed back by its server, is found nowhere (#16.4).

Every connector's simulator is turned into a careless server that answers each
request with an error whose body repeats the whole request: the headers (Basic
auth as base64 of ``user:secret``, Bearer tokens), the query string and the body
(JSON, form-encoded, SOAP XML). Each canary holds the characters those
encodings change, so each form differs from the others. After a whole sync the
test looks for every form, spelled out here independently of the redactor, in
the log lines, every row of the store and the output of ``sync``, ``plan``,
``status``, ``explain`` and ``history``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import structlog
from typer.testing import CliRunner

from okrsync.cli.app import app
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators.amplitude import AmplitudeSimulator
from okrsync.demo.simulators.ga4 import DEMO_PROPERTY, Ga4Simulator
from okrsync.demo.simulators.jira import JiraSimulator
from okrsync.demo.simulators.mixpanel import DEMO_PROJECT_ID as MIXPANEL_PROJECT
from okrsync.demo.simulators.mixpanel import MixpanelSimulator
from okrsync.demo.simulators.plausible import DEMO_SITE_ID, PlausibleSimulator
from okrsync.demo.simulators.posthog import DEMO_PROJECT_ID as POSTHOG_PROJECT
from okrsync.demo.simulators.posthog import PostHogSimulator
from okrsync.demo.simulators.prometheus import PrometheusSimulator
from okrsync.demo.simulators.salesforce import SalesforceSimulator
from okrsync.demo.simulators.server import FakeServer, Request, Response
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.service.logging import configure
from okrsync.store.database import Store
from tests.faults.tally import TALLY
from tests.support import FAST, NOW, sync_now, write

USER = "ops@example.com"


def canary(name: str) -> str:
    """Quote, backslash, solidus, ampersand, angle bracket, plus, equals, percent."""
    return f'Cn-{name}-q"b\\s/a&l<e+p=c%7Qz'


def forms(secret: str, users: tuple[str, ...] = ()) -> dict[str, str]:
    """Every spelling of ``secret`` a request or an echo of it may carry."""
    found = {
        "raw": secret,
        "json": json.dumps(secret)[1:-1],
        "json-solidus": json.dumps(secret)[1:-1].replace("/", "\\/"),
        "url": quote(secret, safe=""),
        "url-plus": quote_plus(secret),
        "xml": html.escape(secret, quote=False),
        "xml-attr": html.escape(secret),
        "base64": base64.b64encode(secret.encode()).decode(),
    }
    for user in users:
        found[f"basic {user}"] = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return found


def echo_of(request: Request) -> str:
    headers = " ".join(f"{k}: {v}" for k, v in request.headers.items())
    query = "&".join(f"{k}={v}" for k, v in request.query.items())
    body = request.body.decode("utf-8", "replace")
    return f"ECHO {request.method} {request.path}?{query} {headers} {body}"


def careless(request: Request) -> Response:
    """The same error in every vendor's error shape, carrying the request."""
    text = echo_of(request)
    if "/services/Soap/" in request.path:
        fault = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault>'
            "<faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN</faultstring>"
            "<detail><sf:LoginFault><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>"
            f"<sf:exceptionMessage>{html.escape(text)}</sf:exceptionMessage></sf:LoginFault>"
            "</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
        )
        return Response(500, fault.encode(), {"Content-Type": "text/xml; charset=utf-8"})
    body = {
        "error": text,
        "error_description": text,
        "message": text,
        "detail": text,
        "errorMessages": [text],
        "errors": [{"message": text}],
        "status": "error",
        "errorType": "bad_data",
    }
    return Response.json(body, 400)


@dataclass
class Case:
    type: str
    connection: str  # the connection's YAML body, with {url} etc. filled
    source: str  # the source block's YAML body
    environ: dict[str, str]
    server: FakeServer
    users: tuple[str, ...] = ()  # who the secret is paired with in Basic auth
    pairs: tuple[tuple[str, str], ...] = ()  # Basic auth of two secrets (key:secret)
    sends_secret: bool = True  # GA4 sends a signed assertion, never the key


def _start(sim: FakeServer, stack: ExitStack) -> FakeServer:
    sim.start()
    stack.callback(sim.stop)
    sim.authorize = careless  # type: ignore[method-assign]
    return sim


def cases(stack: ExitStack) -> Iterator[Case]:
    stats = _start(StatsSimulator(), stack)
    yield Case(
        "http",
        f"url: {stats.url}\nheaders:\n  Authorization: Bearer ${{C_HTTP}}",
        "path: /api/v1/metrics/support_tickets_month\nvalue: $.data.value",
        {"C_HTTP": canary("http")},
        stats,
    )
    jira = _start(JiraSimulator("cloud"), stack)
    yield Case(
        "jira",
        f"url: {jira.url}\nflavor: cloud\nemail: {USER}\ntoken: ${{C_JIRA}}",
        "jql: project = SUP\naggregate: count",
        {"C_JIRA": canary("jira")},
        jira,
        users=(USER,),
    )
    sf = SalesforceSimulator()
    _start(sf, stack)
    yield Case(
        "salesforce",
        f"domain: {sf.domain}\nca_bundle: {sf.ca_file}\nusername: {USER}\n"
        "password: ${C_SF_PASSWORD}\nsecurity_token: ${C_SF_TOKEN}",
        "soql: SELECT COUNT() FROM Opportunity\nvalue: totalSize",
        {"C_SF_PASSWORD": canary("sfpass"), "C_SF_TOKEN": canary("sftok")},
        sf,
    )
    ga4 = Ga4Simulator()
    _start(ga4, stack)
    key = ga4.service_account_json()
    yield Case(
        "ga4",
        f"url: {ga4.url}\ncredentials: ${{C_GA4}}\nproperty: '{DEMO_PROPERTY}'",
        "metric: activeUsers",
        {"C_GA4": key},
        ga4,
        sends_secret=False,
    )
    mixpanel = _start(MixpanelSimulator(), stack)
    yield Case(
        "mixpanel",
        f"url: {mixpanel.url}\nusername: {USER}\nsecret: ${{C_MIXPANEL}}\n"
        f"project_id: {MIXPANEL_PROJECT}",
        "event: Signed Up",
        {"C_MIXPANEL": canary("mixpanel")},
        mixpanel,
        users=(USER,),
    )
    amplitude = _start(AmplitudeSimulator(), stack)
    yield Case(
        "amplitude",
        f"url: {amplitude.url}\napi_key: ${{C_AMP_KEY}}\nsecret_key: ${{C_AMP_SECRET}}",
        "event: Signed Up\nmetric: totals",
        {"C_AMP_KEY": canary("ampkey"), "C_AMP_SECRET": canary("ampsecret")},
        amplitude,
        pairs=((canary("ampkey"), canary("ampsecret")),),
    )
    posthog = _start(PostHogSimulator(), stack)
    yield Case(
        "posthog",
        f"url: {posthog.url}\nproject_id: {POSTHOG_PROJECT}\napi_key: ${{C_POSTHOG}}",
        "hogql: SELECT count() FROM events",
        {"C_POSTHOG": canary("posthog")},
        posthog,
    )
    plausible = _start(PlausibleSimulator(), stack)
    yield Case(
        "plausible",
        f"url: {plausible.url}\napi_key: ${{C_PLAUSIBLE}}\nsite_id: {DEMO_SITE_ID}",
        "metric: visitors",
        {"C_PLAUSIBLE": canary("plausible")},
        plausible,
    )
    prometheus = _start(PrometheusSimulator(), stack)
    yield Case(
        "prometheus",
        f"url: {prometheus.url}\nusername: okrsync\npassword: ${{C_PROMETHEUS}}",
        "promql: up",
        {"C_PROMETHEUS": canary("prometheus")},
        prometheus,
        users=("okrsync",),
    )


def _mappings(directory: Path, all_cases: list[Case]) -> Path:
    def indent(text: str, by: int) -> str:
        return "".join(" " * by + line + "\n" for line in text.splitlines())

    connections = "connections:\n" + "".join(
        f"  {c.type}:\n    type: {c.type}\n    retry: {{attempts: 1}}\n{indent(c.connection, 4)}"
        for c in all_cases
    )
    krs = "".join(
        f"      - id: kr-{c.type}\n        title: KR {c.type}\n        owner: {USER}\n"
        f"        start: 0\n        target: 100\n        source:\n"
        f"          connection: {c.type}\n{indent(c.source, 10)}"
        for c in all_cases
    )
    okrs = (
        "cycle: 2026-Q4\nobjectives:\n  - id: canaries\n    title: Canaries\n"
        f"    owner: {USER}\n    key_results:\n{krs}"
    )
    return write(directory, {"connections.yaml": connections, "okrs.yaml": okrs})


def _cli_in_process(*args: str) -> str:
    """The command as typer runs it, without a process start (about 2 s each).

    Wide enough that no table cell folds a secret over two lines, out of a search's reach.
    """
    done = CliRunner().invoke(app, ["--log-format", "json", *args], env={"COLUMNS": "4000"})
    return done.output


def _cli(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "okrsync", "--log-format", "json", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout + done.stderr


def _sent(server: FakeServer) -> str:
    return "\n".join(echo_of(r) for r in server.requests)


@pytest.fixture
def servers() -> Iterator[Callable[[], list[Case]]]:
    with ExitStack() as stack:
        made = list(cases(stack))
        yield lambda: made


def test_no_canary_in_any_form_reaches_logs_store_or_output(
    tmp_path: Path,
    servers: Callable[[], list[Case]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    all_cases = servers()
    directory = _mappings(tmp_path / "mappings", all_cases)
    for case in all_cases:
        for name, value in case.environ.items():
            monkeypatch.setenv(name, value)
    config = loader.load(directory, Registry.default())
    db = tmp_path / "store.db"
    logs = io.StringIO()
    configure("json", "debug", stream=logs)
    try:
        with Store.open(f"sqlite:///{db}") as store:
            result = sync_now(config, store, now=NOW, runtime=FAST, force=True)
        structlog.get_logger("test").info("done", summary=result.summary)
    finally:
        configure("console", "info")
    records = {r.kr_id: r for r in result.records}

    conn = sqlite3.connect(db)
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    store_url = f"sqlite:///{db}"
    outputs = {"log": logs.getvalue(), "store": dump}
    outputs["status"] = _cli(
        "status", "--json", "--mappings", str(directory), "--store", store_url, cwd=tmp_path
    )
    where = ("--mappings", str(directory), "--store", store_url)
    outputs["plan"] = _cli_in_process("plan", "--all", *where)
    outputs["sync"] = _cli_in_process("sync", "--all", *where)
    assert outputs["plan"].count("ECHO") >= len(all_cases), outputs["plan"]
    for case in all_cases:
        for command in ("explain", "history"):
            outputs[f"{command} {case.type}"] = _cli_in_process(
                command, f"kr-{case.type}", "--json", *where
            )

    seen = "\n".join(outputs.values())
    for case in all_cases:
        TALLY.trial()
        record = records[f"kr-{case.type}"]
        assert record.status == "error", (case.type, record)
        sent = _sent(case.server)
        assert sent, f"{case.type}: nothing reached the careless server"
        echoed = outputs[f"explain {case.type}"]
        for secret in case.environ.values():
            spelled = forms(secret, case.users)
            for user, password in case.pairs:
                basic = base64.b64encode(f"{user}:{password}".encode()).decode()
                spelled[f"basic {user}:{password}"] = basic
            if case.sends_secret:
                assert any(form in sent for form in spelled.values()), (case.type, "not sent")
            else:  # GA4: the key file is one secret; its private key must never show
                spelled = {"private key": json.loads(secret)["private_key"].splitlines()[1]}
            TALLY.fault("echoed-secret")
            leaked = sorted(name for name, form in spelled.items() if form in seen)
            assert not leaked, f"{case.type}: {leaked} in output"
        assert "ECHO" in echoed, f"{case.type}: the echo never reached explain; test it otherwise"

"""A Teams Workflows webhook on 127.0.0.1: the trigger of "When a Teams webhook request is received".

    POST /workflows/{id}/triggers/manual/paths/invoke?api-version=…&sp=…&sv=1.0&sig=…

It knows workflows by id, each with its own ``sig`` (by default the published
``DEMO_WORKFLOW_ID`` and ``DEMO_SIG``), and answers as Power Automate does, errors
as ``{"error": {"code", "message"}}`` JSON: an unknown workflow is 404
``WorkflowNotFound``; no ``sig`` is 401 ``DirectApiAuthorizationRequired``, a wrong
one 401 ``DirectApiInvalidAuthorizationSignature``; a body over 28 KB is 413
``RequestEntityTooLarge``; a body that is not JSON is 400 ``InvalidRequestContent``.
With ``rate_limit`` (requests per second, a bucket of ``burst``) an excess request is
429 ``TooManyRequests`` with ``Retry-After`` in whole seconds.

Anything else is answered 202 with an empty body, **before** the flow runs, as the
real service does: the flow then checks the envelope (``type`` "message", a list of
1+ ``attachments``, each of ``contentType`` "application/vnd.microsoft.card.adaptive"
with ``content`` an ``AdaptiveCard`` with a ``version`` and a ``body`` of known
elements — TextBlock (with ``text``), FactSet, Container, ColumnSet, ActionSet,
Image — and ``actions`` of known types, ``Action.OpenUrl`` with an absolute URL).
A valid run is recorded in :attr:`TeamsWorkflowSimulator.received`, an invalid one in
:attr:`TeamsWorkflowSimulator.failed_runs` with its reason, as the run history shows.

The 202 and the 401 code without ``sig`` come from issues (MicrosoftDocs/msteams-docs);
the other codes and every message's wording are unverified guesses, marked as such
in docs/channels/teams.md.
"""

from __future__ import annotations

import hmac
import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from okrsync.demo.simulators.server import FakeServer, Request, Response

DEMO_WORKFLOW_ID = "0c4e5f6a7b8c4d9e8f0a1b2c3d4e5f6a"
DEMO_SIG = "okrsyncDemoSig0000000000000000000000000000"  # published: accepted only here
API_VERSION = "2016-06-01"
LIMIT = 28 * 1024  # bytes of a request body (Teams: a message holds about 28 KB)
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
ELEMENT_TYPES = frozenset({"TextBlock", "FactSet", "Container", "ColumnSet", "ActionSet", "Image"})
ACTION_TYPES = frozenset({"Action.OpenUrl", "Action.Submit", "Action.ShowCard"})
_JSON_TYPES = {
    type(None): "Null",
    dict: "Object",
    str: "String",
    int: "Integer",
    float: "Float",
    bool: "Boolean",
}
PATH = r"/workflows/(?P<id>[^/]+)/triggers/manual/paths/invoke"


def workflow_url(base: str, workflow_id: str = DEMO_WORKFLOW_ID, sig: str | None = DEMO_SIG) -> str:
    """A trigger URL of the shape Power Automate shows (``sig=None``: without one)."""
    query = {"api-version": API_VERSION, "sp": "/triggers/manual/run", "sv": "1.0"}
    if sig is not None:
        query["sig"] = sig
    return f"{base}/workflows/{workflow_id}/triggers/manual/paths/invoke?{urlencode(query)}"


@dataclass(frozen=True)
class Run:
    """One run of a workflow: the envelope as received, and why it failed (None: posted)."""

    workflow_id: str
    payload: Any
    error: str | None = None
    time: float = field(default_factory=time.monotonic)

    @property
    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Cards of a valid run, in order."""
        return [a["content"] for a in self.payload["attachments"]] if self.error is None else []


def _error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    return Response.json({"error": {"code": code, "message": message}}, status, headers)


def envelope_problem(payload: Any) -> str | None:
    """Why the flow's run would fail on ``payload`` (as its run history says); None if it posts."""
    if not isinstance(payload, dict):
        return "the request body is not a JSON object"
    if payload.get("type") != "message":
        return f"'type' must be 'message', not {json.dumps(payload.get('type'))}"
    attachments = payload.get("attachments")
    if isinstance(attachments, list) and not attachments:
        return "'attachments' is empty: the flow ran and posted nothing"
    if not isinstance(attachments, list):
        kind = _JSON_TYPES.get(type(attachments), "Object")
        return (
            "The execution of template action 'Send_each_adaptive_card' failed: the result of "
            "the evaluation of 'foreach' expression "
            f"'@triggerOutputs()?['body']?['attachments']' is of type '{kind}'. "
            "The result must be a valid array."
        )
    for i, attachment in enumerate(attachments):
        where = f"attachments[{i}]"
        if not isinstance(attachment, dict) or attachment.get("contentType") != CONTENT_TYPE:
            return f"{where}.contentType must be '{CONTENT_TYPE}'"
        card = attachment.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
            return f"{where}.content.type must be 'AdaptiveCard'"
        if not isinstance(card.get("version"), str) or not card["version"]:
            return f"{where}.content.version is required"
        problem = _elements(card.get("body"), f"{where}.content.body")
        problem = problem or _actions(card.get("actions", []), f"{where}.content.actions")
        if problem:
            return problem
    return None


def _elements(elements: Any, where: str) -> str | None:
    if not isinstance(elements, list):
        return f"{where} must be a list of elements"
    for i, element in enumerate(elements):
        at = f"{where}[{i}]"
        kind = element.get("type") if isinstance(element, dict) else None
        if kind not in ELEMENT_TYPES:
            return f"{at}: unknown element type {json.dumps(kind)}"
        assert isinstance(element, dict)
        if kind == "TextBlock" and (
            not isinstance(element.get("text"), str) or not element["text"]
        ):
            return f"{at}: a TextBlock needs a text"
        if kind == "Container" and (problem := _elements(element.get("items"), f"{at}.items")):
            return problem
        if kind == "ActionSet" and (problem := _actions(element.get("actions"), f"{at}.actions")):
            return problem
    return None


def _actions(actions: Any, where: str) -> str | None:
    if not isinstance(actions, list):
        return f"{where} must be a list of actions"
    for i, action in enumerate(actions):
        kind = action.get("type") if isinstance(action, dict) else None
        if kind not in ACTION_TYPES:
            return f"{where}[{i}]: unknown action type {json.dumps(kind)}"
        assert isinstance(action, dict)
        url = action.get("url")
        if kind == "Action.OpenUrl" and not (
            isinstance(url, str) and url.startswith(("https://", "http://"))
        ):
            return f"{where}[{i}]: Action.OpenUrl needs an absolute url"
    return None


class TeamsWorkflowSimulator(FakeServer):
    """Workflows by id → sig; ``endpoint`` is the demo workflow's full trigger URL."""

    def __init__(
        self,
        *,
        workflows: Mapping[str, str] | None = None,
        rate_limit: float | None = None,
        burst: int = 4,
        latency: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(latency=latency)
        self.workflows = dict(workflows if workflows is not None else {DEMO_WORKFLOW_ID: DEMO_SIG})
        self.rate_limit, self.burst, self.clock = rate_limit, burst, clock
        self.received: list[Run] = []
        self.failed_runs: list[Run] = []
        self._tokens = float(burst)
        self._refilled = clock()
        self._state = threading.Lock()
        self.route("POST", PATH, self._invoke)

    @property
    def endpoint(self) -> str:
        return self.workflow_url()

    def workflow_url(self, workflow_id: str = DEMO_WORKFLOW_ID, sig: str | None = None) -> str:
        """The trigger URL of ``workflow_id``, with its own sig unless another is given."""
        own = self.workflows.get(workflow_id, DEMO_SIG)
        return workflow_url(self.url, workflow_id, own if sig is None else sig)

    @property
    def cards(self) -> list[dict[str, Any]]:
        """Every card posted, in order."""
        return [card for run in self.received for card in run.cards]

    # -- POST /workflows/{id}/triggers/manual/paths/invoke -----------------------

    def _invoke(self, request: Request) -> Response:
        workflow = request.params["id"]
        expected = self.workflows.get(workflow)
        if expected is None:
            return _error(404, "WorkflowNotFound", f"The workflow '{workflow}' could not be found.")
        given = request.query.get("sig")
        if not given:
            return _error(
                401,
                "DirectApiAuthorizationRequired",
                "The request must be authenticated only by Shared Access scheme.",
            )
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return _error(
                401,
                "DirectApiInvalidAuthorizationSignature",
                "The provided authorization signature is not valid.",
            )
        refused = self._throttle()
        if refused is not None:
            return refused
        if len(request.body) > LIMIT:
            return _error(
                413,
                "RequestEntityTooLarge",
                f"The request content length '{len(request.body)}' exceeds the maximum "
                f"allowed content length of '{LIMIT}' bytes.",
            )
        try:
            payload = json.loads(request.body)
        except ValueError:
            return _error(400, "InvalidRequestContent", "The request content is not valid JSON.")
        problem = envelope_problem(payload)
        with self._state:
            run = Run(workflow, payload, problem)
            (self.failed_runs if problem else self.received).append(run)
        return Response(202)

    def _throttle(self) -> Response | None:
        if self.rate_limit is None:
            return None
        with self._state:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate_limit)
            self._refilled = now
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            wait = max(1, math.ceil((1 - self._tokens) / self.rate_limit))
        return _error(
            429,
            "TooManyRequests",
            "Rate limit is exceeded. Try again in a few seconds.",
            {"Retry-After": str(wait)},
        )


__all__ = [
    "API_VERSION",
    "CONTENT_TYPE",
    "DEMO_SIG",
    "DEMO_WORKFLOW_ID",
    "ELEMENT_TYPES",
    "LIMIT",
    "Run",
    "TeamsWorkflowSimulator",
    "envelope_problem",
    "workflow_url",
]

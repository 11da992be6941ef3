"""The rules every connector keeps, as a pytest class to subclass (like the Singer SDK's tap tests).

A connector package tests itself against its own simulator (a
:class:`~okrsync.demo.simulators.server.FakeServer` subclass speaking the
vendor's API over real HTTP)::

    from okrsync.testing.connector_contract import ConnectorContract, Target

    class TestAcmeContract(ConnectorContract):
        connector = CONNECTOR                      # the registered Connector
        source = {"metric": "signups"}            # a source block the simulator answers
        secrets = ("token",)                       # settings fields that hold secrets
        query_path = r"/api/v1/query"              # where queries go (regex, full match)

        def serve(self, tmp_path):
            with AcmeSimulator(token="t0ken-for-tests") as sim:
                yield Target({"type": "acme", "url": sim.url, "token": "t0ken-for-tests"}, sim)

What it checks: the type is registered and found by name (built-in or the
``okrsync.connectors`` entry point); settings and source models refuse
unknown fields, and so do their JSON Schemas (the schema `validate` and
editors use); one real measurement through :meth:`Connection.measure`; a
wrong secret is an :class:`~okrsync.errors.AuthError`; a 5xx storm, a 429
with ``Retry-After``, an answer slower than ``timeout``, a reset connection
and a 200 that is not JSON each become the right error kind (or the right
wait); no error text and no reading carries a secret; ``aclose`` twice is
harmless. A connector that speaks no HTTP sets ``query_path = None``: the
fault table is skipped with that reason.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import jsonschema
import pydantic
import pytest

from okrsync.config.registry import Registry
from okrsync.config.schema import mapping_schema
from okrsync.demo.simulators.server import FakeServer, Fault
from okrsync.domain.cycle import Cycle
from okrsync.errors import (
    EXCERPT_LIMIT,
    AuthError,
    MeasureError,
    SourceDataError,
    TransientError,
)
from okrsync.sdk.connector import Connection, Connector, Reading, RenderContext
from okrsync.sdk.redaction import MIN_SECRET_LENGTH
from okrsync.testing.harness import Harness
from okrsync.testing.runtime import Sleeps

T = TypeVar("T")
UNKNOWN_FIELD = "okrsync_contract_unknown_field"
WRONG_SECRET = "okrsync-contract-wrong-secret-5d0c7a91"  # noqa: S105 - a value no server accepts
RAW_LIMIT = 4 * EXCERPT_LIMIT  # a reading's raw is an excerpt of the answer, never a whole body


@dataclass
class Target:
    """A started simulator and the connection settings (secrets resolved) that reach it."""

    settings: dict[str, Any]
    server: FakeServer | None = None  # None: not HTTP (the fault table is skipped)
    notes: dict[str, Any] = field(default_factory=dict)  # free for the subclass's own tests


def quarter_so_far(now: datetime) -> RenderContext:
    """The calendar quarter around ``now``: where simulators seeded with "today" have data."""
    return RenderContext(Cycle.model_validate(f"{now.year}-Q{(now.month + 2) // 3}"), now)


SECRET_KEYS = {"private_key", "client_secret", "refresh_token", "password", "secret", "token"}


def _secret_strings(value: Any) -> list[str]:
    """A secret setting's strings: itself, a mapping's values, a JSON key file's secret fields."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in _secret_strings(v)]
    if not isinstance(value, str):
        return []
    found = [value]
    with contextlib.suppress(ValueError):
        document = json.loads(value)
        if isinstance(document, dict):
            found += [v for k, v in document.items() if k in SECRET_KEYS and isinstance(v, str)]
    if value.startswith("Bearer ") or value.startswith("Basic "):
        found.append(value.split(" ", 1)[1])
    return found


class ConnectorContract:
    """Subclass it as ``Test<Name>Contract``, set the class attributes and write :meth:`serve`."""

    connector: ClassVar[Connector]
    source: ClassVar[dict[str, Any]]  # a source block, without ``connection``, that measures
    secrets: ClassVar[tuple[str, ...]] = ()  # settings fields holding secrets; [0] is tried wrong
    query_path: ClassVar[str | None] = None  # regex of the path a query is sent to; None: no HTTP
    slow_timeout: ClassVar[float] = 0.3  # the timeout set when the answer comes 4x later

    def serve(self, tmp_path: Path) -> Iterator[Target]:
        """Start the simulator, yield its :class:`Target`, stop it (a generator, like a fixture)."""
        raise NotImplementedError(f"{type(self).__name__} must define serve(tmp_path)")
        yield  # pragma: no cover - makes this a generator, as subclasses are

    def wrong_secret(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The settings with a secret the simulator refuses; override for structured secrets."""
        return {**settings, self.secrets[0]: WRONG_SECRET}

    def context(self) -> RenderContext:
        return quarter_so_far(datetime.now(UTC))

    # -- fixtures ------------------------------------------------------------

    @pytest.fixture
    def target(self, tmp_path: Path) -> Iterator[Target]:
        with contextlib.contextmanager(self.serve)(tmp_path) as started:
            yield started

    @pytest.fixture
    def http(self, target: Target) -> FakeServer:
        if self.query_path is None or target.server is None:
            pytest.skip(f"{self.connector.type} is not an HTTP connector: no HTTP fault table")
        target.server.clear_faults()
        return target.server

    # -- helpers -------------------------------------------------------------

    @property
    def harness(self) -> Harness:
        return Harness(self.connector, self.context(), "contract")

    def settings(self, target: Target, **changes: Any) -> Any:
        return self.harness.settings(target.settings, **changes)

    def rendered(self) -> Any:
        return self.harness.rendered(self.source)

    def use(self, settings: Any, fn: Callable[[Connection], Awaitable[T]]) -> T:
        return self.harness.use(settings, fn)

    def measure(self, target: Target, sleeps: Sleeps | None = None, **changes: Any) -> Reading:
        return self.harness.measure(self.settings(target, **changes), self.source, sleeps)

    def fails(self, target: Target, sleeps: Sleeps | None = None, **changes: Any) -> MeasureError:
        error = self.harness.fails(self.settings(target, **changes), self.source, sleeps)
        self.assert_no_secret(target, str(error))
        return error

    def secret_values(self, target: Target) -> list[str]:
        """Every secret the settings hold: strings, header maps, the secret parts of a key file."""
        found: list[str] = []
        for name in self.secrets:
            found += _secret_strings(target.settings.get(name))
        return [v for v in found if len(v) >= MIN_SECRET_LENGTH]

    def assert_no_secret(self, target: Target, text: str) -> None:
        for secret in [*self.secret_values(target), WRONG_SECRET]:
            assert secret not in text, f"a secret ({secret[:3]}…) is in: {text[:200]}"
            for line in secret.splitlines():  # a PEM key leaks line by line too
                if len(line) >= 16:
                    assert line not in text, f"a line of a secret is in: {text[:200]}"

    def query_hits(self, server: FakeServer) -> int:
        assert self.query_path is not None
        pattern = re.compile(self.query_path)
        return sum(bool(pattern.fullmatch(r.path)) for r in server.requests)

    # -- registration and models ----------------------------------------------

    def test_registered_and_found_by_type(self) -> None:
        registry = Registry.default()
        assert self.connector.type in list(registry)
        assert registry[self.connector.type] is self.connector

    def test_settings_refuse_unknown_fields(self, target: Target) -> None:
        self.settings(target)  # the target's own settings are valid
        with pytest.raises(pydantic.ValidationError) as info:
            self.settings(target, **{UNKNOWN_FIELD: 1})
        assert [e["type"] for e in info.value.errors()] == ["extra_forbidden"]
        assert info.value.errors()[0]["loc"] == (UNKNOWN_FIELD,)

    def test_source_refuses_unknown_fields(self) -> None:
        model = self.connector.source_model
        model.model_validate({"connection": "contract", **self.source})
        with pytest.raises(pydantic.ValidationError) as info:
            model.model_validate({"connection": "contract", **self.source, UNKNOWN_FIELD: 1})
        assert [e["type"] for e in info.value.errors()] == ["extra_forbidden"]

    def test_settings_json_schema_accepts_the_settings_and_refuses_unknown_fields(
        self, target: Target
    ) -> None:
        schema = self.connector.settings_model.model_json_schema(mode="validation")
        jsonschema.Draft202012Validator.check_schema(schema)
        data = json.loads(json.dumps(target.settings, default=str))
        jsonschema.validate(data, schema)
        with pytest.raises(jsonschema.ValidationError, match=UNKNOWN_FIELD):
            jsonschema.validate({**data, UNKNOWN_FIELD: 1}, schema)

    def test_mapping_schema_has_the_source_form(self) -> None:
        schema = mapping_schema(Registry.of(self.connector))
        jsonschema.Draft202012Validator.check_schema(schema)
        form = {**schema["$defs"][f"source_{self.connector.type}"], "$defs": schema["$defs"]}
        block = {"connection": "contract", **self.source}
        jsonschema.validate(block, form)
        with pytest.raises(jsonschema.ValidationError, match=UNKNOWN_FIELD):
            jsonschema.validate({**block, UNKNOWN_FIELD: 1}, form)

    # -- measuring -------------------------------------------------------------

    def test_measures_a_finite_value_with_an_excerpt(self, target: Target) -> None:
        reading = self.measure(target)
        assert isinstance(reading.value, int | float | bool)
        assert math.isfinite(float(reading.value))
        assert reading.calls >= 1, "a measurement from a fresh connection costs a vendor call"
        assert len(reading.raw) <= RAW_LIMIT, (
            f"raw is {len(reading.raw)} characters, not an excerpt"
        )
        self.assert_no_secret(target, reading.raw)
        described = self.connector.describe(self.rendered())
        assert described.strip(), "describe() says nothing a person can read"
        self.assert_no_secret(target, described)

    def test_wrong_secret_is_an_auth_error_that_names_no_secret(self, target: Target) -> None:
        if not self.secrets:
            pytest.skip(f"{self.connector.type} takes no secret here")
        query = self.rendered()
        settings = self.connector.settings_model.model_validate(self.wrong_secret(target.settings))
        with pytest.raises(MeasureError) as info:
            self.use(settings, lambda c: c.measure(query))
        assert isinstance(info.value, AuthError), f"{type(info.value).__name__}: {info.value}"
        self.assert_no_secret(target, str(info.value))

    def test_aclose_twice_is_harmless(self, target: Target) -> None:
        query = self.rendered()

        async def twice(connection: Connection) -> Reading:
            reading = await connection.measure(query)
            await connection.aclose()
            await connection.aclose()
            return reading

        self.use(self.settings(target), twice)  # use() closes it a third time

        async def unused(connection: Connection) -> None:
            await connection.aclose()

        self.use(self.settings(target), unused)  # opened, never used, closed twice

    # -- the HTTP fault table ----------------------------------------------------

    def test_5xx_storm_is_transient_after_the_retry_budget(
        self, target: Target, http: FakeServer
    ) -> None:
        assert self.query_path is not None
        http.add_fault(self.query_path, Fault.status(503, b"Service Unavailable"), times=100)
        sleeps = Sleeps()
        error = self.fails(target, sleeps, retry={"attempts": 3})
        assert isinstance(error, TransientError), f"{type(error).__name__}: {error}"
        assert self.query_hits(http) == 3, "attempts: 3 means three requests, no more"
        assert len(sleeps.waits) == 2, f"two waits between three attempts: {sleeps.waits}"
        assert all(w > 0 for w in sleeps.waits), sleeps.waits

    def test_429_waits_as_long_as_retry_after_says(self, target: Target, http: FakeServer) -> None:
        assert self.query_path is not None
        http.add_fault(self.query_path, Fault.status(429, headers={"Retry-After": "2"}))
        sleeps = Sleeps()
        reading = self.measure(target, sleeps)
        assert math.isfinite(float(reading.value))
        assert max(sleeps.waits, default=0) >= 2, f"Retry-After: 2 not kept: {sleeps.waits}"
        assert self.query_hits(http) == 2

    def test_an_answer_slower_than_timeout_is_transient(
        self, target: Target, http: FakeServer
    ) -> None:
        assert self.query_path is not None
        http.add_fault(self.query_path, Fault.delay(4 * self.slow_timeout))
        error = self.fails(target, timeout=self.slow_timeout, retry={"attempts": 1})
        assert isinstance(error, TransientError), f"{type(error).__name__}: {error}"

    def test_a_reset_connection_is_transient(self, target: Target, http: FakeServer) -> None:
        assert self.query_path is not None
        http.add_fault(self.query_path, Fault.reset(), times=100)
        error = self.fails(target, retry={"attempts": 2})
        assert isinstance(error, TransientError), f"{type(error).__name__}: {error}"

    def test_a_200_that_is_not_json_is_source_data_error(
        self, target: Target, http: FakeServer
    ) -> None:
        assert self.query_path is not None
        http.add_fault(self.query_path, Fault.malformed(), times=100)
        error = self.fails(target, retry={"attempts": 2})
        assert isinstance(error, SourceDataError), f"{type(error).__name__}: {error}"
        assert "<html>" in str(error) or "JSON" in str(error) or "json" in str(error), str(error)


__all__ = ["RAW_LIMIT", "WRONG_SECRET", "ConnectorContract", "Target", "quarter_so_far"]

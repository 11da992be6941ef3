"""The container image as it ships: built from the repo's Dockerfile with podman, then run.

These tests need root and podman prepared by ``../shared/tools/podman-setup``
(``eval "$(bash ../shared/tools/podman-setup)"`` exports ``PODMAN_RUNTIME`` and
``BASE_IMAGE``; see CONTAINER-TESTING.md). Elsewhere they skip, unless
``OKRSYNC_TEST_REQUIRE_IMAGE=1`` (set by CI) makes that a failure. The image is
built once per session of this module; build time and size are printed.
The deploy/ YAML check needs no podman.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import yaml

from okrsync import __version__
from okrsync.demo.simulators.ga4 import Ga4Simulator
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.store.database import Store
from tests.support import (
    TOKEN,
    connections_yaml,
    example_secret_names,
    kr_yaml,
    mapping,
    objective_yaml,
    write,
)

pytestmark = [pytest.mark.image, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
TAG = "localhost/okrsync:test"
UID = "10001"
MAX_IMAGE_MB = 400
_REQUIRED = os.environ.get("OKRSYNC_TEST_REQUIRE_IMAGE") == "1"


def _podman_problem() -> str | None:
    """Why the image cannot be built and run here, or None."""
    if shutil.which("podman") is None:
        return "podman is not installed"
    if os.geteuid() != 0:
        return "needs root (rootful podman)"
    missing = [v for v in ("PODMAN_RUNTIME", "BASE_IMAGE") if not os.environ.get(v)]
    if missing:
        return f'{" and ".join(missing)} not set: eval "$(bash ../shared/tools/podman-setup)" first'
    return None


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    cmd = ["podman", "--runtime", os.environ["PODMAN_RUNTIME"], *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _mb(size: int) -> float:
    return size / 1e6


@pytest.fixture(scope="module")
def image(request: pytest.FixtureRequest) -> str:
    """Build the image once; print how long it took and how big it is."""
    problem = _podman_problem()
    if problem:
        if _REQUIRED:
            pytest.fail(f"{problem} (OKRSYNC_TEST_REQUIRE_IMAGE=1)")
        pytest.skip(problem)
    started = time.monotonic()
    # fmt: off
    built = podman(
        "build", "--format", "docker", "--network=host",
        "-v", "/etc/ssl/certs:/etc/ssl/certs:ro",
        "--build-arg", f"BASE_IMAGE={os.environ['BASE_IMAGE']}",
        "--build-arg", f"VERSION={__version__}",
        "-t", TAG, str(ROOT),
        timeout=840,
    )
    # fmt: on
    seconds = time.monotonic() - started
    assert built.returncode == 0, f"podman build failed:\n{(built.stdout + built.stderr)[-4000:]}"
    size = int(podman("image", "inspect", TAG, "--format", "{{.Size}}").stdout)
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n{TAG}: built in {seconds:.1f} s, {_mb(size):.0f} MB")
    assert _mb(size) < MAX_IMAGE_MB, f"image is {_mb(size):.0f} MB"
    return TAG


def run_image(
    image: str,
    *args: str,
    options: Sequence[str] = (),
    network: str = "none",
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``podman run --rm`` one command, always cleaned up (container and its anonymous volumes)."""
    name = f"okrsync-test-{secrets.token_hex(6)}"
    try:
        # fmt: off
        return podman(
            "run", "--rm", "--name", name, "--no-healthcheck", f"--network={network}",
            *options, image, *args,
            timeout=timeout,
        )
        # fmt: on
    finally:
        podman("rm", "--force", "--volumes", "--ignore", name)


@pytest.fixture
def sim() -> Iterator[StatsSimulator]:
    with StatsSimulator(token=TOKEN) as server:
        yield server


@pytest.fixture
def mappings(tmp_path: Path, sim: StatsSimulator) -> Path:
    """Two key results measured from the simulator on the host, readable by the image's user."""
    krs = [
        kr_yaml("tickets", "support_tickets_month"),
        kr_yaml("steps", "checkout_steps", start=9, target=6),
    ]
    files = {
        "connections.yaml": connections_yaml(sim.url),
        "okrs.yaml": mapping([objective_yaml("obj", krs)]),
    }
    directory = write(tmp_path / "mappings", files)
    directory.chmod(0o755)
    for path in directory.iterdir():
        path.chmod(0o644)
    return directory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_version(image: str) -> None:
    result = run_image(image, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"okrsync {__version__}"


def test_image_config(image: str) -> None:
    [info] = json.loads(podman("image", "inspect", image).stdout)
    config = info["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["okrsync"]
    assert config["Cmd"] == ["run"]
    assert config["WorkingDir"] == "/data"
    assert "/data" in config["Volumes"]
    assert "8080/tcp" in config["ExposedPorts"]
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["OKRSYNC_MAPPINGS"] == "/mappings"
    assert env["OKRSYNC_STORE_URL"] == "sqlite:////data/okrsync.db"
    assert env["OKRSYNC_LOG_FORMAT"] == "json"
    assert "/healthz" in " ".join(info["Healthcheck"]["Test"])  # kept by --format docker
    labels = config["Labels"]
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.version"] == __version__
    assert labels["org.opencontainers.image.title"] == "okrsync"


def test_runs_as_non_root_without_build_tools(image: str) -> None:
    result = run_image(image, "-u", options=["--entrypoint", "id"])
    assert (result.returncode, result.stdout.strip()) == (0, UID)
    result = run_image(image, "-c", "command -v gcc cc make", options=["--entrypoint", "sh"])
    assert result.returncode != 0
    assert result.stdout.strip() == ""


def test_validate_the_example_mappings(image: str) -> None:
    values = {name: "x-secret" for name in example_secret_names()}
    with Ga4Simulator() as ga4:  # a service-account key the ga4 connector accepts
        values["GA4_CREDENTIALS"] = ga4.service_account_json()
    values["WAREHOUSE_URL"] = "sqlite:////data/warehouse.db"
    options = [arg for name, value in values.items() for arg in ("-e", f"{name}={value}")]
    result = run_image(image, "validate", "/mappings", options=options)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok:" in result.stdout


def test_demo_on_a_read_only_root_into_the_data_volume(image: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    options = ["--read-only", "-v", f"{data}:/data:U"]  # :U chowns it to the image's user
    result = run_image(image, "demo", options=options)
    assert result.returncode == 0, result.stderr  # the staged trouble is not a failure
    assert "time-on-site" in result.stdout
    with Store.open(f"sqlite:///{data / 'okrsync.db'}", upgrade=False) as st:
        runs = st.runs()  # newest first: the sync with the trouble, the clean one, the check-in
    assert [r.trigger for r in runs] == ["demo", "demo", "checkin"]
    assert [r.status for r in runs] == ["partial", "ok", "ok"]


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_run_once_into_postgresql(image: str, mappings: Path, store_url: str) -> None:
    """A CronJob's run: the simulator and PostgreSQL on the host, mappings mounted read-only."""
    # fmt: off
    options = [
        "-v", f"{mappings}:/mappings:ro",
        "-e", f"TEST_STATS_TOKEN={TOKEN}",
        "-e", f"OKRSYNC_STORE_URL={store_url}",
    ]
    # fmt: on
    result = run_image(image, "run", "--once", options=options, network="host")
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    events = [e.get("event") for e in _json_lines(result.stderr)]  # OKRSYNC_LOG_FORMAT=json
    assert "sync finished" in events
    with Store.open(store_url, upgrade=False) as st:
        [run] = st.runs()
        assert run.status == "ok"
        states = st.states()
    assert sorted(states) == ["steps", "tickets"]
    assert {s.last_status for s in states.values()} == {"ok"}


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_run_serves_health_dashboard_and_metrics_and_stops_cleanly_on_sigterm(
    image: str, mappings: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    port = _free_port()
    name = f"okrsync-test-{secrets.token_hex(6)}"
    # fmt: off
    started = podman(
        "run", "-d", "--name", name, "--network=host",
        "-v", f"{mappings}:/mappings:ro", "-v", f"{data}:/data:U",
        "-e", f"TEST_STATS_TOKEN={TOKEN}",
        "-e", f"OKRSYNC_HEALTH_PORT={port}", "-e", "OKRSYNC_SCHEDULE=1h",
        image,
    )
    # fmt: on
    try:
        assert started.returncode == 0, started.stderr
        deadline = time.monotonic() + 60
        status, body = 0, b""
        while time.monotonic() < deadline:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/healthz")
            except OSError:
                status = 0
            if status == 200:
                break
            state = podman("inspect", name, "--format", "{{.State.Status}}").stdout.strip()
            assert state == "running", f"container {state}:\n{podman('logs', name).stderr}"
            time.sleep(0.3)
        assert status == 200, podman("logs", name).stderr
        assert json.loads(body)["status"] == "ok"

        ready, body = 0, b""
        while time.monotonic() < deadline:  # ready once the store is open
            ready, body = _get(f"http://127.0.0.1:{port}/readyz")
            if ready == 200:
                break
            time.sleep(0.3)
        assert ready == 200, body
        assert json.loads(body)["ready"] is True

        # the same port serves the dashboard and /metrics, from the image's own files
        page, html = _get(f"http://127.0.0.1:{port}/")
        assert page == 200, html
        assert b"<!DOCTYPE html>" in html
        css, _ = _get(f"http://127.0.0.1:{port}/static/dashboard.css")
        assert css == 200  # package data shipped in the wheel
        scraped, text = _get(f"http://127.0.0.1:{port}/metrics")
        assert scraped == 200
        assert b"okrsync_build_info{" in text

        # the image's own HEALTHCHECK, run on demand (no systemd timer here)
        check = podman("healthcheck", "run", name, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr

        stopping = time.monotonic()
        stopped = podman("stop", "--time", "30", name, timeout=60)
        assert stopped.returncode == 0, stopped.stderr
        assert time.monotonic() - stopping < 15
        code = podman("wait", name, timeout=30).stdout.strip()
        assert code == "0", podman("logs", name).stderr
    finally:
        podman("rm", "--force", "--volumes", "--ignore", name)
    with Store.open(f"sqlite:///{data / 'okrsync.db'}", upgrade=False) as st:
        assert [r.status for r in st.runs()] == ["ok"]


def _deploy_yaml() -> list[Path]:
    return sorted(p for p in (ROOT / "deploy").rglob("*") if p.suffix in (".yaml", ".yml"))


def test_deploy_files_parse() -> None:
    """No podman needed: every deploy/ YAML document loads, and the key settings hold."""
    docs: dict[str, list[dict[str, object]]] = {}
    for path in _deploy_yaml():
        loaded = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
        assert loaded, f"{path} is empty"
        docs[str(path.relative_to(ROOT / "deploy"))] = loaded
    assert set(docs) >= {
        "docker-compose.yml",
        "kubernetes/cronjob.yaml",
        "kubernetes/deployment.yaml",
        "kubernetes/secret.example.yaml",
    }
    by_kind = {
        str(d["kind"]): d
        for name, loaded in docs.items()
        if name.startswith("kubernetes/")
        for d in loaded
    }
    cron = by_kind["CronJob"]["spec"]
    assert isinstance(cron, dict)
    assert cron["concurrencyPolicy"] == "Forbid"
    [job] = cron["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert job["args"] == ["run", "--once"]
    deployment = by_kind["Deployment"]["spec"]
    assert isinstance(deployment, dict)
    assert deployment["replicas"] == 1
    assert deployment["strategy"]["type"] == "Recreate"  # never two writers during a rollout
    [app] = [c for c in deployment["template"]["spec"]["containers"] if c["name"] == "okrsync"]
    assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
    [compose] = docs["docker-compose.yml"]
    services = compose["services"]
    assert isinstance(services, dict)
    assert "./mappings:/mappings:ro" in services["okrsync"]["volumes"]
    assert services["postgres"]["image"].startswith("postgres:15")

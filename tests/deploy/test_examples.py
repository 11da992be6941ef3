"""The deploy/ examples work as written: every secret, reference, image and setting checks out.

The secrets come from the example mappings at test time (``${NAME}`` and
``${file:PATH}`` in mappings/*.yaml, with okrsync's own pattern), so a mapping
that names a new secret fails here until .env.example, docker-compose.yml and
the Kubernetes Secret provide it. The manifests are validated offline against
the Kubernetes JSON schemas that ``kubernetes-validate`` bundles, and the
compose file against the compose specification that ``check-jsonschema``
bundles; no cluster, no docker, no network.
"""

from __future__ import annotations

import base64
import importlib
import importlib.resources
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from okrsync.config.secrets import PATTERN

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
COMPOSE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
MAPPINGS = ROOT / "mappings"

OKRSYNC_IMAGE = "okrsync:"  # the image the examples build and run (Dockerfile)
GIT_SYNC_IMAGE = "registry.k8s.io/git-sync/git-sync:"
# git-sync v4's environment variables (its v4.7 manual). v4 still reads the v3
# GIT_SYNC_* names and, from v4.4, prefers them; a misspelled name is ignored.
_GIT_SYNC_V4_NAMES = """
ADD_USER ASKPASS_URL COOKIE_FILE CREDENTIAL DEPTH ERROR_FILE
EXECHOOK_BACKOFF EXECHOOK_COMMAND EXECHOOK_TIMEOUT FILTER GIT
GITHUB_APP_APPLICATION_ID GITHUB_APP_CLIENT_ID GITHUB_APP_INSTALLATION_ID
GITHUB_APP_PRIVATE_KEY GITHUB_APP_PRIVATE_KEY_FILE GITHUB_BASE_URL GIT_CONFIG GIT_GC
GROUP_WRITE HTTP_BIND HTTP_METRICS HTTP_PPROF INIT_MAX_FAILURES INIT_PERIOD LINK
MAX_FAILURES ONE_TIME PASSWORD PASSWORD_FILE PERIOD REF REPO ROOT
SPARSE_CHECKOUT_FILE SSH_KEY_FILE SSH_KNOWN_HOSTS SSH_KNOWN_HOSTS_FILE
STALE_WORKTREE_TIMEOUT SUBMODULES SYNC_ON_SIGNAL SYNC_TIMEOUT TOUCH_FILE USERNAME
VERBOSE WEBHOOK_BACKOFF WEBHOOK_METHOD WEBHOOK_SUCCESS_STATUS WEBHOOK_TIMEOUT
WEBHOOK_URL
"""
GIT_SYNC_V4_ENV = frozenset("GITSYNC_" + name for name in _GIT_SYNC_V4_NAMES.split())
GIT_SYNC_V3_FLAGS = ("--branch", "--rev", "--dest", "--wait", "--max-sync-failures", "--timeout")
# The oldest Kubernetes the examples support: native sidecars (init containers
# with restartPolicy: Always) are on by default from 1.29.
KUBERNETES_VERSIONS = ("1.29.0", "latest")

Doc = dict[str, Any]


# --- what the mappings need ---------------------------------------------------------------


def _strings(value: object) -> Iterator[str]:
    """Every string value of a YAML document (keys and comments are never expanded)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def mapping_secrets(mappings: Path | None = None) -> tuple[set[str], set[str]]:
    """The environment variables and the files the mappings' ``${…}`` references read."""
    names: set[str] = set()
    files: set[str] = set()
    for path in sorted((mappings or MAPPINGS).glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            for text in _strings(doc):
                for reference in PATTERN.findall(text):
                    if reference.startswith("file:"):
                        files.add(reference.removeprefix("file:"))
                    else:
                        names.add(reference)
    return names, files


def _needed(mappings: Path | None = None) -> tuple[set[str], set[str]]:
    names, files = mapping_secrets(mappings)
    assert names or files, f"no ${{…}} secret found in {mappings or MAPPINGS}/*.yaml: wrong path?"
    return names, files


# --- the files under test -----------------------------------------------------------------


def env_file_names(path: Path) -> set[str]:
    """The variables a dotenv file sets (``NAME=value`` lines, comments and blanks skipped)."""
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
        if match:
            names.add(match.group(1))
    return names


def compose() -> Doc:
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def compose_services() -> dict[str, Doc]:
    services = compose()["services"]
    assert isinstance(services, dict)
    return services


def _command(service: Doc) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else list(command)


def okrsync_service() -> Doc:
    """The compose service that runs the scheduler."""
    [service] = [
        s
        for s in compose_services().values()
        if str(s.get("image", "")).startswith(OKRSYNC_IMAGE) and _command(s)[:1] == ["run"]
    ]
    return service


def compose_environment(service: Doc) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return {k: v for k, _, v in (item.partition("=") for item in env)}
    return {str(k): None if v is None else str(v) for k, v in env.items()}


def compose_env_files(service: Doc) -> list[Path]:
    """The env files of a service; ``.env`` is written from its ``.env.example``."""
    entries = service.get("env_file") or []
    entries = [entries] if isinstance(entries, str | dict) else entries
    paths = []
    for entry in entries:
        path = DEPLOY / (entry["path"] if isinstance(entry, dict) else entry)
        example = path.with_name(path.name + ".example")
        assert path.exists() or example.exists(), (
            f"env_file {path.name}: no {example.name} beside it"
        )
        paths.append(path if path.exists() else example)
    return paths


def k8s_docs() -> list[tuple[str, Doc]]:
    docs = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                assert isinstance(doc, dict), f"{path.name}: a document is not a mapping"
                docs.append((path.name, doc))
    assert docs, f"no manifests in {KUBERNETES}"
    return docs


def pod_spec(doc: Doc) -> Doc | None:
    spec = doc.get("spec") or {}
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template = spec.get("template")
    if template is None:
        return None
    found: Doc = template["spec"]
    return found


def pods() -> list[tuple[str, Doc, Doc]]:
    """(file, manifest, pod spec) of every workload."""
    found = []
    for name, doc in k8s_docs():
        spec = pod_spec(doc)
        if spec is not None:
            found.append((name, doc, spec))
    return found


def containers(spec: Doc) -> list[Doc]:
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def defined_secrets() -> dict[str, dict[str, str]]:
    """Every Secret the examples define: name -> key -> value."""
    secrets: dict[str, dict[str, str]] = {}
    for _, doc in k8s_docs():
        if doc["kind"] == "Secret":
            values = {k: str(v) for k, v in (doc.get("stringData") or {}).items()}
            for key, encoded in (doc.get("data") or {}).items():
                values[key] = base64.b64decode(encoded).decode()
            secrets[doc["metadata"]["name"]] = values
    assert secrets, "no Secret in deploy/kubernetes"
    return secrets


def k8s_environment(container: Doc) -> dict[str, str | None]:
    """The variables a container gets and their values, secrets resolved from the examples."""
    secrets = defined_secrets()
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        if "secretRef" in source:
            env.update(secrets.get(source["secretRef"]["name"], {}))
    for item in container.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        env[item["name"]] = (
            secrets.get(ref["name"], {}).get(ref["key"]) if ref else item.get("value")
        )
    return env


def is_okrsync(container: Doc) -> bool:
    return str(container["image"]).startswith(OKRSYNC_IMAGE)


def syncs(container: Doc) -> bool:
    """An okrsync container that syncs (run, run --once): it needs the vendor secrets."""
    return is_okrsync(container) and container.get("args", [])[:1] == ["run"]


def sync_pods() -> list[tuple[str, Doc, Doc, Doc]]:
    """(file, manifest, pod spec, okrsync container) of the Deployment and the CronJob."""
    found = [(n, d, s, c) for n, d, s in pods() for c in containers(s) if syncs(c)]
    assert {d["kind"] for _, d, _, _ in found} >= {"Deployment", "CronJob"}
    return found


def git_sync(spec: Doc) -> Doc:
    found: list[Doc] = [c for c in containers(spec) if str(c["image"]).startswith(GIT_SYNC_IMAGE)]
    assert len(found) == 1, f"one git-sync container, found {len(found)}"
    return found[0]


def _volume(spec: Doc, name: str) -> Doc:
    found: list[Doc] = [v for v in spec.get("volumes", []) if v["name"] == name]
    assert len(found) == 1, f"volume {name}: {len(found)} definitions"
    return found[0]


def _under(path: str, directory: str) -> str | None:
    """``path`` relative to ``directory``, or None when it is not inside it."""
    try:
        return str(PurePosixPath(path).relative_to(PurePosixPath(directory)))
    except ValueError:
        return None


def secret_file_keys(spec: Doc, container: Doc, path: str) -> list[tuple[str, str]]:
    """The (Secret, key) pairs a Secret volume mounts at ``path`` in the container."""
    found = []
    for mount in container.get("volumeMounts", []):
        relative = _under(path, mount["mountPath"])
        secret = _volume(spec, mount["name"]).get("secret")
        if relative is None or secret is None:
            continue
        relative = str(PurePosixPath(mount.get("subPath", "")) / relative)
        items = {i["path"]: i["key"] for i in secret.get("items", [])}
        key = items.get(relative, relative if not items else None)
        if key is not None:
            found.append((secret["secretName"], key))
    return found


def _optional(module: str, why: str) -> ModuleType:
    """A dev dependency of these tests; missing, a skip here and a failure on CI."""
    try:
        return importlib.import_module(module)
    except ImportError:
        message = f"{module} is not installed ({why}): pip install -e '.[dev]'"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


# --- secrets ------------------------------------------------------------------------------


def test_env_example_names_every_secret() -> None:
    names, _ = _needed()
    missing = names - env_file_names(ENV_EXAMPLE)
    assert not missing, f"deploy/.env.example lacks {sorted(missing)} (named in mappings/)"


def test_compose_okrsync_gets_every_secret() -> None:
    names, files = _needed()
    service = okrsync_service()
    provided = set(compose_environment(service))
    for path in compose_env_files(service):
        provided |= env_file_names(path)
    missing = names - provided
    assert not missing, f"compose service okrsync gets no {sorted(missing)}"
    declared = compose().get("secrets") or {}
    mounted = {}
    for entry in service.get("secrets", []):
        source = entry if isinstance(entry, str) else entry["source"]
        target = source if isinstance(entry, str) else entry.get("target", source)
        mounted[str(PurePosixPath("/run/secrets") / target)] = source
    for file in sorted(files):
        assert file in mounted, f"${{file:{file}}}: no compose secret of okrsync mounts it"
        assert mounted[file] in declared, f"compose secret {mounted[file]} is not declared"


def test_kubernetes_okrsync_pods_get_every_secret() -> None:
    names, files = _needed()
    secrets = defined_secrets()
    for file, doc, spec, container in sync_pods():
        where = f"{file} {doc['kind']}/{doc['metadata']['name']}"
        missing = names - set(k8s_environment(container))
        assert not missing, f"{where}: no Secret gives {sorted(missing)}"
        for path in sorted(files):
            pairs = secret_file_keys(spec, container, path)
            assert pairs, f"{where}: ${{file:{path}}} is not mounted from a Secret volume"
            assert any(key in secrets.get(name, {}) for name, key in pairs), (
                f"{where}: ${{file:{path}}} mounts {pairs}, which the example Secrets lack"
            )


def test_deploy_readme_says_what_each_secret_is() -> None:
    names, files = _needed()
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    missing = {name for name in names if f"`{name}`" not in readme}
    missing |= {file for file in files if PurePosixPath(file).name not in readme}
    assert not missing, f"deploy/README.md does not explain {sorted(missing)}"


# --- references, images, the store -------------------------------------------------------


def test_every_secret_reference_is_defined() -> None:
    secrets = defined_secrets()
    refs: list[tuple[str, str, str | None]] = []  # (where, Secret, key or None)
    for file, doc, spec in pods():
        for c in containers(spec):
            where = f"{file} {doc['metadata']['name']}/{c['name']}"
            for source in c.get("envFrom", []):
                if "secretRef" in source:
                    refs.append((where, source["secretRef"]["name"], None))
            for item in c.get("env", []):
                if ref := item.get("valueFrom", {}).get("secretKeyRef"):
                    refs.append((f"{where} env {item['name']}", ref["name"], ref["key"]))
        for volume in spec.get("volumes", []):
            if secret := volume.get("secret"):
                where = f"{file} {doc['metadata']['name']} volume {volume['name']}"
                refs.append((where, secret["secretName"], None))
                refs += [(where, secret["secretName"], i["key"]) for i in secret.get("items", [])]
    assert refs, "no secret references found: the walk is broken"
    for where, name, key in refs:
        assert name in secrets, f"{where}: Secret {name} is not in secret.example.yaml"
        assert key is None or key in secrets[name], f"{where}: Secret {name} has no key {key}"


def _images() -> list[tuple[str, str]]:
    found = [(f"{f} {c['name']}", str(c["image"])) for f, _, s in pods() for c in containers(s)]
    found += [(f"compose {n}", str(s["image"])) for n, s in compose_services().items()]
    return found


def test_every_image_is_pinned() -> None:
    for where, image in _images():
        if "@sha256:" in image:
            continue
        name, _, tag = image.rpartition(":")
        assert name, f"{where}: {image} names no tag"
        assert "/" not in tag, f"{where}: {image} names no tag"
        assert tag != "latest", f"{where}: {image} is not pinned"


def test_no_store_is_sqlite() -> None:
    """Each okrsync names its store (the image's default is SQLite in /data), never SQLite."""
    urls: list[tuple[str, str | None]] = []
    for file, doc, spec in pods():
        for c in containers(spec):
            env = k8s_environment(c)
            if is_okrsync(c):
                assert "OKRSYNC_STORE_URL" in {e["name"] for e in c.get("env", [])}, (
                    f"{file} {c['name']}: OKRSYNC_STORE_URL not in env: the image's SQLite default"
                )
            if "OKRSYNC_STORE_URL" in env:
                urls.append(
                    (f"{file} {doc['metadata']['name']}/{c['name']}", env["OKRSYNC_STORE_URL"])
                )
    for name, values in defined_secrets().items():
        if "OKRSYNC_STORE_URL" in values:
            urls.append((f"Secret {name}", values["OKRSYNC_STORE_URL"]))
    for name, service in compose_services().items():
        env = compose_environment(service)
        if str(service.get("image", "")).startswith(OKRSYNC_IMAGE):
            assert "OKRSYNC_STORE_URL" in env, f"compose {name}: no OKRSYNC_STORE_URL"
        if "OKRSYNC_STORE_URL" in env:
            urls.append((f"compose {name}", env["OKRSYNC_STORE_URL"]))
    assert urls
    for where, url in urls:
        assert url, f"{where}: OKRSYNC_STORE_URL is empty or its Secret key is missing"
        assert "sqlite" not in url.lower(), f"{where}: a SQLite store ({url}) loses its history"


def test_one_store_the_example_postgres() -> None:
    """The Deployment, the CronJob and the db-upgrade Job use one store: postgres.yaml's Service."""
    stores = {
        f"{f} {c['name']}": k8s_environment(c).get("OKRSYNC_STORE_URL")
        for f, _, s in pods()
        for c in containers(s)
        if is_okrsync(c)
    }
    assert len(stores) >= 3, stores
    assert len(set(stores.values())) == 1, f"okrsync pods use different stores: {stores}"
    url = urlsplit(next(iter(stores.values())) or "")
    assert url.scheme.startswith("postgresql"), url
    assert url.password is None, "a password in OKRSYNC_STORE_URL: use PGPASSWORD"
    services = {d["metadata"]["name"]: d for _, d in k8s_docs() if d["kind"] == "Service"}
    assert url.hostname in services, f"store host {url.hostname} is no Service of the examples"
    ports = {p["port"] for p in services[url.hostname]["spec"]["ports"]}
    assert (url.port or 5432) in ports
    [postgres] = [
        d
        for _, d in k8s_docs()
        if d["kind"] == "StatefulSet"
        and d["metadata"]["name"]
        == services[url.hostname]["spec"]["selector"]["app.kubernetes.io/name"]
    ]
    labels = postgres["spec"]["template"]["metadata"]["labels"]
    assert services[url.hostname]["spec"]["selector"].items() <= labels.items()
    claims = {t["metadata"]["name"] for t in postgres["spec"]["volumeClaimTemplates"]}
    [db] = postgres["spec"]["template"]["spec"]["containers"]
    data = [m for m in db["volumeMounts"] if m["mountPath"] == "/var/lib/postgresql/data"]
    assert data, "PostgreSQL's data directory is not mounted"
    assert data[0]["name"] in claims, "PostgreSQL's data is not on its PersistentVolumeClaim"
    for f, _, s in pods():
        for c in containers(s):
            if is_okrsync(c):
                password = k8s_environment(c).get("PGPASSWORD")
                assert password == k8s_environment(db)["POSTGRES_PASSWORD"], f"{f}: PGPASSWORD"


# --- schemas ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_validate_against_kubernetes_schemas(version: str) -> None:
    kv = _optional("kubernetes_validate", "the Kubernetes JSON schemas, offline")
    version = kv.latest_version() if version == "latest" else version
    for name, doc in k8s_docs():
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{name} {doc['kind']}/{doc['metadata']['name']} {where}: {exc.message}")


def test_compose_validates_against_the_compose_spec() -> None:
    _optional("check_jsonschema", "it bundles the compose specification's schema")
    schema_file = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((schema_file / "compose-spec.json").read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(compose())
    ]
    assert not errors, errors


# --- compose ------------------------------------------------------------------------------


def test_compose_okrsync_waits_for_the_upgrade_job() -> None:
    services = compose_services()
    upgrades = [n for n, s in services.items() if _command(s) == ["db", "upgrade"]]
    assert len(upgrades) == 1, f"one `okrsync db upgrade` service, found {upgrades}"
    [upgrade] = upgrades
    job = services[upgrade]
    okrsync = okrsync_service()
    assert job["image"] == okrsync["image"], "db-upgrade migrates with another image"
    assert str(job.get("restart", "no")) == "no", "a one-shot service must not restart"
    depends = okrsync.get("depends_on") or {}
    assert isinstance(depends, dict), "depends_on needs conditions"
    assert depends.get(upgrade, {}).get("condition") == "service_completed_successfully"
    assert compose_environment(okrsync).get("OKRSYNC_AUTO_UPGRADE") == "false"
    assert (
        compose_environment(job)["OKRSYNC_STORE_URL"]
        == compose_environment(okrsync)["OKRSYNC_STORE_URL"]
    )
    store = urlsplit(compose_environment(okrsync)["OKRSYNC_STORE_URL"] or "").hostname
    assert store in services
    for waiting in (job, okrsync):
        assert (waiting.get("depends_on") or {}).get(store, {}).get(
            "condition"
        ) == "service_healthy"


def test_compose_postgres_keeps_its_data_in_a_named_volume() -> None:
    doc = compose()
    store = urlsplit(compose_environment(okrsync_service())["OKRSYNC_STORE_URL"] or "").hostname
    postgres = doc["services"][store]
    assert "healthcheck" in postgres
    mounts = [str(v).split(":") for v in postgres.get("volumes", [])]
    [volume] = [m[0] for m in mounts if m[1:2] == ["/var/lib/postgresql/data"]]
    assert volume in (doc.get("volumes") or {}), f"{volume} is not a named volume"


def test_compose_healthcheck_asks_readyz_without_curl() -> None:
    test = okrsync_service()["healthcheck"]["test"]
    command = " ".join(test) if isinstance(test, list) else str(test)
    assert "/readyz" in command
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for tool in ("curl", "wget"):
        if re.search(rf"\b{tool}\b", command):
            assert re.search(rf"apt-get install[^\n]*\b{tool}\b", dockerfile), (
                f"the healthcheck runs {tool}, which the image does not have"
            )


# --- Kubernetes ---------------------------------------------------------------------------


def test_git_sync_is_v4_and_feeds_okrsync_mappings() -> None:
    for file, doc, spec, okrsync in sync_pods():
        where = f"{file} {doc['kind']}"
        sidecar = git_sync(spec)
        tag = str(sidecar["image"]).removeprefix(GIT_SYNC_IMAGE)
        assert re.fullmatch(r"v4\.\d+\.\d+", tag), f"{where}: git-sync {tag} is not a v4 release"
        env = {e["name"]: e.get("value") for e in sidecar.get("env", [])}
        old = [n for n in env if n.startswith("GIT_SYNC_")]
        assert not old, f"{where}: v3 names {old} (v4 reads GITSYNC_*)"
        unknown = [n for n in env if n not in GIT_SYNC_V4_ENV]
        assert not unknown, f"{where}: git-sync ignores {unknown}"
        args = [a for a in sidecar.get("args", []) if a.split("=")[0] in GIT_SYNC_V3_FLAGS]
        assert not args, f"{where}: v3 flags {args}"
        assert env.get("GITSYNC_REPO"), f"{where}: GITSYNC_REPO"
        root, link = env["GITSYNC_ROOT"], env["GITSYNC_LINK"]
        assert root, f"{where}: GITSYNC_ROOT"
        assert link, f"{where}: GITSYNC_LINK"
        published = str(PurePosixPath(root) / link)  # an absolute link stays as it is
        mappings = k8s_environment(okrsync).get("OKRSYNC_MAPPINGS") or ""
        assert _under(mappings, published) is not None, (
            f"{where}: OKRSYNC_MAPPINGS={mappings} is not under git-sync's {published}"
        )
        # okrsync sees the volume at the same path, or the link would point elsewhere.
        [(volume, at)] = [
            (m["name"], m["mountPath"])
            for m in sidecar["volumeMounts"]
            if _under(root, m["mountPath"]) is not None
        ]
        assert "emptyDir" in _volume(spec, volume), f"{where}: the checkout volume"
        assert {"name": volume, "mountPath": at, "readOnly": True}.items() <= {
            k: v for m in okrsync["volumeMounts"] if m["name"] == volume for k, v in m.items()
        }.items(), f"{where}: okrsync does not mount {volume} read-only at {at}"
        one_time = str(env.get("GITSYNC_ONE_TIME", "false")).lower() == "true"
        in_init = sidecar in spec.get("initContainers", [])
        sidecar_init = in_init and sidecar.get("restartPolicy") == "Always"
        if doc["kind"] == "Deployment":  # it keeps syncing beside okrsync
            assert not one_time, f"{where}: GITSYNC_ONE_TIME in a long-running pod"
            assert sidecar_init or not in_init, f"{where}: git-sync is not a sidecar"
        else:  # a job: clone once, before okrsync
            assert in_init, f"{where}: git-sync is not an init container"
            assert one_time, f"{where}: git-sync without GITSYNC_ONE_TIME never lets okrsync start"
            assert not sidecar_init, f"{where}: a git-sync sidecar keeps the job from finishing"


def test_okrsync_containers_settings() -> None:
    """Auto-upgrade off (the Job migrates), the image's uid, probes on the health port."""
    uid = re.search(r"^USER\s+(\d+):(\d+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert uid, "no USER uid:gid in the Dockerfile"
    jobs = []
    for file, doc, spec in pods():
        for c in containers(spec):
            where = f"{file} {c['name']}"
            assert c.get("resources", {}).get("requests"), f"{where}: resources.requests"
            assert c.get("resources", {}).get("limits", {}).get("memory"), f"{where}: limit"
            if not is_okrsync(c):
                continue
            security = {**spec.get("securityContext", {}), **c.get("securityContext", {})}
            assert security.get("runAsNonRoot") is True, where
            assert (security.get("runAsUser"), security.get("runAsGroup")) == (
                int(uid.group(1)),
                int(uid.group(2)),
            ), f"{where}: not the image's user"
            assert c.get("securityContext", {}).get("readOnlyRootFilesystem") is True, where
            if c.get("args") == ["db", "upgrade"]:
                jobs.append((doc, c))
                continue
            assert k8s_environment(c).get("OKRSYNC_AUTO_UPGRADE") == "false", (
                f"{where}: migrations belong to the db-upgrade Job"
            )
    assert [d["kind"] for d, _ in jobs] == ["Job"], "one Job runs `okrsync db upgrade`"
    images = {c["image"] for _, _, _, c in sync_pods()} | {c["image"] for _, c in jobs}
    assert len(images) == 1, f"the Job migrates with another image: {images}"
    [deployment] = [(d, s, c) for _, d, s, c in sync_pods() if d["kind"] == "Deployment"]
    doc, _, app = deployment
    assert doc["spec"]["replicas"] == 1
    assert doc["spec"]["strategy"]["type"] == "Recreate"
    port = int(k8s_environment(app).get("OKRSYNC_HEALTH_PORT") or 8080)
    ports = {p.get("name"): p["containerPort"] for p in app["ports"]}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = app[probe]["httpGet"]
        assert get["path"] == path, probe
        assert ports.get(get["port"], get["port"]) == port, f"{probe} is not on port {port}"

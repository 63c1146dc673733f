"""docker-compose.yml and the Dockerfile: valid Compose, and services that fit together.

The Compose file is validated against the Compose specification JSON schema as shipped in the
docker-compose 1.29.2 wheel (``compose/config/compose_spec.json``). docker-compose itself is not a
dependency (it pins old PyYAML and jsonschema): ``bin/test`` downloads the wheel into
``.venv/wheels`` and the schema is read straight out of it. That schema is an older revision of the
specification, so the Compose file sticks to keys it knows.

The proxy's HAProxy configuration (deploy/haproxy/haproxy.cfg) is checked against the Compose
file, and by ``haproxy -c`` where haproxy is installed. No container is started: these tests read
files only.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema import Draft201909Validator

from bench.balancer import find_haproxy
from cds_service.security.issuers import issuers_from_config

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
README = ROOT / "README.md"
COMPOSE_DOC = ROOT / "docs" / "docker-compose.md"

SCHEMA_WHEEL = ROOT / ".venv" / "wheels" / "docker_compose-1.29.2-py2.py3-none-any.whl"
# sha256 of that file as published on PyPI: a different file is not the schema we mean.
SCHEMA_WHEEL_SHA256 = "8d5589373b35c8d3b1c8c1182c6e4a4ff14bffa3dd0b605fcd08f73c94cef809"
SCHEMA_MEMBER = "compose/config/compose_spec.json"

SERVICE = "vte-cds"
PROXY = "proxy"
HAPROXY_CFG = "/usr/local/etc/haproxy/haproxy.cfg"  # where the haproxy image reads it
FHIR = "fhir"
POSTGRES = "postgres"
LOADER = "loader"

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariableError(Exception):
    """A ``${NAME:?message}`` or ``${NAME?message}`` whose variable is not set."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution: ``$$``, ``$NAME``, ``${NAME}`` and ``:-  -  :?  ?``."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["named"]
        value = env.get(name)
        op, arg = match["op"], match["arg"] or ""
        if op == ":-":
            return value if value else arg
        if op == "-":
            return arg if value is None else value
        if op in (":?", "?") and (value is None or (op == ":?" and not value)):
            raise MissingVariableError(f"{name}: {arg}")
        return value or ""

    return _VARIABLE.sub(substitute, text)


def _read_schema() -> dict[str, Any]:
    if not SCHEMA_WHEEL.is_file():
        pytest.fail(
            f"{SCHEMA_WHEEL.relative_to(ROOT)} is missing: the Compose schema is read from the "
            "docker-compose 1.29.2 wheel, which bin/test downloads. Run bin/test (or: .venv/bin/"
            "python -m pip download --no-deps --only-binary=:all: --dest .venv/wheels "
            "docker-compose==1.29.2).",
            pytrace=False,
        )
    digest = hashlib.sha256(SCHEMA_WHEEL.read_bytes()).hexdigest()
    if digest != SCHEMA_WHEEL_SHA256:
        pytest.fail(
            f"{SCHEMA_WHEEL.relative_to(ROOT)} has sha256 {digest}, not the PyPI wheel's "
            f"{SCHEMA_WHEEL_SHA256}: delete it and run bin/test again.",
            pytrace=False,
        )
    with zipfile.ZipFile(SCHEMA_WHEEL) as wheel:
        schema: dict[str, Any] = json.loads(wheel.read(SCHEMA_MEMBER))
    return schema


@pytest.fixture(scope="module")
def validator() -> Draft201909Validator:
    # The file declares draft 2019-09 with a trailing "#" that jsonschema does not recognise, so
    # the draft is named here instead of being guessed from "$schema".
    schema = _read_schema()
    Draft201909Validator.check_schema(schema)
    return Draft201909Validator(schema)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    assert {PROXY, SERVICE, FHIR, POSTGRES, LOADER} <= set(found)
    return found


def _errors(validator: Draft201909Validator, document: Any) -> list[str]:
    return sorted(
        f"{'/'.join(str(part) for part in error.absolute_path) or '(top level)'}: {error.message}"
        for error in validator.iter_errors(document)
    )


def _depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    """Target -> condition; the list form means ``service_started``."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: spec["condition"] for name, spec in raw.items()}


def _has_healthcheck(service: Mapping[str, Any]) -> bool:
    check = service.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable", False)


def _environment(service: Mapping[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(name): "" if value is None else str(value) for name, value in raw.items()}


# The least a caller must set before `docker compose up` (authentication is on by default).
REQUIRED_ENV = {"VTE_CDS_TRUSTED_ISSUERS": "{}"}


def _defaults(service: Mapping[str, Any]) -> dict[str, str]:
    """The service's environment as Compose resolves it when the caller sets only what it must."""
    return {name: interpolate(value, REQUIRED_ENV)
            for name, value in _environment(service).items()}


def _published(port: Any) -> tuple[str, int, int] | None:
    """(host address, host port, container port) for a published port, None for expose-only."""
    if isinstance(port, dict):
        if "published" not in port:
            return None
        return "0.0.0.0", int(port["published"]), int(port["target"])
    parts = str(port).split("/", 1)[0].split(":")
    if len(parts) == 1:
        return None
    address = parts[0] if len(parts) == 3 else "0.0.0.0"
    return address, int(parts[-2]), int(parts[-1])


def _container_ports(service: Mapping[str, Any]) -> set[int]:
    ports = {published[2] for port in service.get("ports", [])
             if (published := _published(port)) is not None}
    return ports | {int(str(port).split("/", 1)[0]) for port in service.get("expose", [])}


def _named_volumes_used(services: Mapping[str, Mapping[str, Any]]) -> set[str]:
    used: set[str] = set()
    for service in services.values():
        for volume in service.get("volumes", []):
            if isinstance(volume, dict):
                if volume.get("type", "volume") == "volume" and volume.get("source"):
                    used.add(volume["source"])
                continue
            source = str(volume).split(":", 1)[0]
            if ":" in str(volume) and not source.startswith(("/", ".", "~", "$")):
                used.add(source)
    return used


def _readme_settings() -> set[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    names = set(re.findall(r"^\|\s*`(VTE_CDS_[A-Z0-9_]+)`\s*\|", section, flags=re.MULTILINE))
    assert names, "no VTE_CDS_ setting found in README.md's Settings table"
    return names


def _allow_list(services: Mapping[str, Mapping[str, Any]]) -> list[str]:
    raw = _defaults(services[SERVICE])["VTE_CDS_FHIR_ALLOWLIST"]
    return [url.strip() for url in raw.split(",") if url.strip()]


# The Compose specification


def test_compose_file_is_valid_against_the_compose_specification_schema(
    validator: Draft201909Validator, compose: dict[str, Any]
) -> None:
    assert _errors(validator, compose) == []


def test_the_schema_rejects_a_misspelt_service_key(
    validator: Draft201909Validator, compose: dict[str, Any]
) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"][SERVICE]["helthcheck"] = broken["services"][SERVICE].pop("healthcheck")
    assert any("helthcheck" in error for error in _errors(validator, broken))


def test_compose_file_has_no_obsolete_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose


# References between services


def test_every_depends_on_target_is_a_service(services: dict[str, dict[str, Any]]) -> None:
    dangling = {(name, target) for name, service in services.items()
                for target in _depends_on(service) if target not in services}
    assert dangling == set()


def test_every_service_waited_on_until_healthy_has_a_healthcheck(
    services: dict[str, dict[str, Any]]
) -> None:
    waited_on = {target for service in services.values()
                 for target, condition in _depends_on(service).items()
                 if condition == "service_healthy"}
    assert waited_on, "no dependency waits for a healthy service"
    assert {name for name in waited_on if not _has_healthcheck(services[name])} == set()


def test_every_long_running_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    assert {name for name in (PROXY, SERVICE, FHIR, POSTGRES)
            if not _has_healthcheck(services[name])} == set()


def test_every_named_volume_used_is_declared_and_every_declared_volume_is_used(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("volumes") or {})
    used = _named_volumes_used(services)
    assert used, "the PostgreSQL data should live in a named volume"
    assert used == declared


def test_every_image_is_pinned_to_a_tag_other_than_latest(
    services: dict[str, dict[str, Any]]
) -> None:
    unpinned = []
    for name, service in services.items():
        image = service.get("image")
        if image is None:
            assert "build" in service, f"{name} has neither image nor build"
            continue
        reference = image.rsplit("/", 1)[-1]
        tag = reference.split(":", 1)[1] if ":" in reference.split("@", 1)[0] else None
        if "@sha256:" not in reference and tag in (None, "", "latest"):
            unpinned.append(f"{name}: {image}")
    assert unpinned == []


def test_published_host_ports_are_unique(services: dict[str, dict[str, Any]]) -> None:
    host_ports = [published[1] for service in services.values()
                  for port in service.get("ports", [])
                  if (published := _published(port)) is not None]
    assert host_ports, "nothing is published on the host"
    assert sorted(host_ports) == sorted(set(host_ports))


def test_the_proxy_is_published_on_port_8080_and_the_replicas_only_behind_it(
    services: dict[str, dict[str, Any]]
) -> None:
    assert [_published(port) for port in services[PROXY]["ports"]] == [("0.0.0.0", 8080, 8080)]
    assert "ports" not in services[SERVICE]
    assert _container_ports(services[SERVICE]) == {8080}
    assert services[SERVICE]["deploy"]["replicas"] >= 2


# The proxy and its HAProxy configuration


def _proxy_config_path(services: Mapping[str, Mapping[str, Any]]) -> Path:
    (mount,) = [v for v in services[PROXY]["volumes"] if str(v).split(":")[1] == HAPROXY_CFG]
    source, _, mode = str(mount).split(":")
    assert mode == "ro"
    return ROOT / source


def _proxy_config(services: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Section header -> its lines, comments and blank lines left out."""
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for raw in _proxy_config_path(services).read_text("utf-8").splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line.startswith((" ", "\t")):
            current = sections.setdefault(line.strip(), [])
        else:
            current.append(line.strip())
    return sections


def test_the_proxy_waits_for_a_healthy_service(services: dict[str, dict[str, Any]]) -> None:
    assert _depends_on(services[PROXY]) == {SERVICE: "service_healthy"}


def test_the_proxy_config_is_mounted_from_the_repository(
    services: dict[str, dict[str, Any]]
) -> None:
    assert _proxy_config_path(services).is_file()


def test_the_proxy_listens_where_it_is_published_and_answers_its_healthcheck(
    services: dict[str, dict[str, Any]]
) -> None:
    frontend = _proxy_config(services)["frontend vte_cds"]
    (published,) = [_published(port) for port in services[PROXY]["ports"]]
    assert published is not None
    assert f"bind :{published[2]}" in frontend
    (monitor,) = [line.split()[1] for line in frontend if line.startswith("monitor-uri")]
    assert monitor in " ".join(services[PROXY]["healthcheck"]["test"])


def test_the_proxy_balances_over_every_replica_checked_on_readyz(
    services: dict[str, dict[str, Any]]
) -> None:
    backend = _proxy_config(services)["backend instances"]
    assert "balance roundrobin" in backend
    assert "option httpchk GET /readyz" in backend
    (template,) = [line.split() for line in backend if line.startswith("server-template")]
    _, _, slots, address, *options = template
    host, port = address.split(":")
    assert host == SERVICE
    assert int(port) in _container_ports(services[SERVICE])
    assert int(slots) >= services[SERVICE]["deploy"]["replicas"]
    assert "check" in options
    # replicas are found through Docker's DNS, which answers with every replica's address
    assert "resolvers docker" in " ".join(backend)
    assert "nameserver dns 127.0.0.11:53" in _proxy_config(services)["resolvers docker"]


def test_haproxy_accepts_the_proxy_config(services: dict[str, dict[str, Any]]) -> None:
    haproxy = find_haproxy()
    if haproxy is None:
        pytest.skip("haproxy not found (Debian package haproxy; bin/test installs it as root)")
    done = subprocess.run([haproxy, "-c", "-f", str(_proxy_config_path(services))],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr


# The vte-cds service's settings


def test_vte_cds_settings_are_all_in_the_readme_settings_table(
    services: dict[str, dict[str, Any]]
) -> None:
    names = set(_environment(services[SERVICE]))
    assert names, "vte-cds sets no VTE_CDS_ variable"
    assert names - _readme_settings() == set()


def test_fhir_allow_list_is_exactly_the_fhir_service_url(
    services: dict[str, dict[str, Any]]
) -> None:
    assert _allow_list(services) == [f"http://{FHIR}:8080/fhir"]
    url = urlsplit(_allow_list(services)[0])
    assert url.hostname in services
    assert url.port in _container_ports(services[url.hostname])


def test_feedback_database_url_points_at_the_postgres_service_with_its_credentials(
    services: dict[str, dict[str, Any]]
) -> None:
    url = urlsplit(_defaults(services[SERVICE])["VTE_CDS_DATABASE_URL"])
    postgres = _defaults(services[POSTGRES])
    assert url.scheme == "postgresql"
    assert url.hostname == POSTGRES
    assert str(services[POSTGRES]["image"]).startswith("postgres:")
    assert url.port == 5432
    assert (url.username, url.password, url.path.lstrip("/")) == (
        postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], postgres["POSTGRES_DB"])


def test_feedback_database_url_follows_the_postgres_credentials_the_caller_sets(
    services: dict[str, dict[str, Any]]
) -> None:
    env = {"POSTGRES_USER": "u1", "POSTGRES_PASSWORD": "p1", "POSTGRES_DB": "d1"}
    raw = _environment(services[SERVICE])["VTE_CDS_DATABASE_URL"]
    assert interpolate(raw, env) == "postgresql://u1:p1@postgres:5432/d1"
    assert {name: interpolate(value, env)
            for name, value in _environment(services[POSTGRES]).items()} == env


def test_authentication_is_on_unless_the_caller_turns_it_off(
    services: dict[str, dict[str, Any]]
) -> None:
    raw = _environment(services[SERVICE])["VTE_CDS_AUTH"]
    assert interpolate(raw, {}) == "on"
    assert interpolate(raw, {"VTE_CDS_AUTH": "off"}) == "off"


def test_compose_refuses_to_start_without_trusted_issuers(
    services: dict[str, dict[str, Any]]
) -> None:
    raw = _environment(services[SERVICE])["VTE_CDS_TRUSTED_ISSUERS"]
    with pytest.raises(MissingVariableError, match=re.escape("docs/docker-compose.md")):
        interpolate(raw, {})
    with pytest.raises(MissingVariableError, match="VTE_CDS_TRUSTED_ISSUERS"):
        interpolate(raw, {"VTE_CDS_TRUSTED_ISSUERS": ""})
    assert interpolate(raw, {"VTE_CDS_TRUSTED_ISSUERS": "{}"}) == "{}"


def test_the_documented_sandbox_issuer_setting_is_accepted_by_the_service() -> None:
    settings = [
        *re.findall(r"VTE_CDS_TRUSTED_ISSUERS='([^']+)'", COMPOSE_DOC.read_text("utf-8")),
        *re.findall(r"VTE_CDS_TRUSTED_ISSUERS='([^']+)'", COMPOSE_FILE.read_text("utf-8")),
    ]
    examples = [setting for setting in settings if "sandbox.cds-hooks.org" in setting]
    assert len(examples) >= 2, "the example should be in the Compose file and its doc"
    for example in examples:
        (issuer,) = issuers_from_config(example)
        assert issuer.iss == "https://sandbox.cds-hooks.org"
        assert issuer.jwks_urls == ("https://sandbox.cds-hooks.org/.well-known/jwks.json",)


def test_vte_cds_waits_for_a_healthy_database_and_a_started_fhir_server(
    services: dict[str, dict[str, Any]]
) -> None:
    assert _depends_on(services[SERVICE]) == {POSTGRES: "service_healthy",
                                              FHIR: "service_started"}


def test_vte_cds_healthcheck_asks_healthz(services: dict[str, dict[str, Any]]) -> None:
    assert "http://127.0.0.1:8080/healthz" in " ".join(services[SERVICE]["healthcheck"]["test"])


# The FHIR server and the loader


def test_fhir_server_is_hapi_r4_checked_on_its_metadata(
    services: dict[str, dict[str, Any]]
) -> None:
    fhir = services[FHIR]
    assert str(fhir["image"]).startswith("hapiproject/hapi:v7.")
    assert _environment(fhir)["hapi.fhir.fhir_version"] == "R4"
    assert "/fhir/metadata" in " ".join(fhir["healthcheck"]["test"])


def test_loader_runs_the_vte_cds_image_once_the_fhir_server_is_healthy(
    services: dict[str, dict[str, Any]]
) -> None:
    loader, service = services[LOADER], services[SERVICE]
    assert (loader["build"], loader["image"]) == (service["build"], service["image"])
    assert _depends_on(loader) == {FHIR: "service_healthy"}
    assert loader["restart"] == "no"
    assert "ports" not in loader


def test_loader_loads_into_the_allow_listed_fhir_server(
    services: dict[str, dict[str, Any]]
) -> None:
    command = services[LOADER]["command"]
    assert command[:2] == ["vte-cds", "load-fhir"]
    assert command[2:] == _allow_list(services)


# The Dockerfile


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in lines if line and not line.startswith("#")]


def test_image_is_built_on_python_3_11_slim() -> None:
    assert [arg for op, arg in _dockerfile_instructions() if op == "FROM"] == ["python:3.11-slim"]


def test_image_runs_as_a_non_root_user() -> None:
    users = [arg for op, arg in _dockerfile_instructions() if op == "USER"]
    assert users, "no USER instruction: the process would run as root"
    assert users[-1].split(":", 1)[0] not in ("root", "0")


def test_image_serves_on_all_interfaces_port_8080_with_two_workers() -> None:
    (cmd,) = [arg for op, arg in _dockerfile_instructions() if op == "CMD"]
    assert json.loads(cmd) == ["vte-cds", "serve", "--host", "0.0.0.0", "--port", "8080",
                               "--workers", "2"]


def test_image_healthcheck_asks_healthz_without_curl() -> None:
    (check,) = [arg for op, arg in _dockerfile_instructions() if op == "HEALTHCHECK"]
    assert "http://127.0.0.1:8080/healthz" in check
    assert "urllib" in check
    assert "curl" not in check

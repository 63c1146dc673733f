"""deploy/kubernetes/: valid against the Kubernetes schemas, and objects that fit together.

Each manifest is validated with ``kubernetes-validate`` (the Kubernetes OpenAPI schemas as JSON
schemas, shipped in the package) in strict mode, which refuses a field the API does not know, for
the oldest and the newest Kubernetes release the package ships that we support. Then what the
schemas cannot see: selectors that find the pods, probes on routes the service has, settings the
service knows and accepts, secrets kept out of the ConfigMap, a disruption budget that lets a
node drain proceed. Nothing is deployed: these tests read files only.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from cds_service.app import check_settings, create_app
from cds_service.security.issuers import issuers_from_config

ROOT = Path(__file__).resolve().parent.parent
KUBE = ROOT / "deploy" / "kubernetes"
DOCKERFILE = ROOT / "Dockerfile"
SETTINGS_DOCS = (ROOT / "README.md", ROOT / "docs" / "smart-app.md")
VERSIONS = ("1.27", "1.37")  # the oldest release still in wide use, the newest the package has
SECRET_SETTINGS = {"VTE_CDS_STORE_KEY", "VTE_CDS_DATABASE_URL", "VTE_CDS_TRUSTED_ISSUERS",
                   "VTE_CDS_SMART_CLIENT_SECRET", "VTE_CDS_SMART_SECRET_KEY",
                   "VTE_CDS_FEEDBACK_VIEW_TOKEN"}
POD_LABEL = {"app.kubernetes.io/name": "vte-cds"}


def _documents() -> dict[str, dict[str, Any]]:
    """Every object under deploy/kubernetes (but the kustomization), by kind."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBE.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text("utf-8")):
            assert document["kind"] not in found, f"two {document['kind']} objects"
            found[document["kind"]] = document
    return found


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    return _documents()


@pytest.fixture(scope="module")
def pod(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = objects["Deployment"]["spec"]["template"]["spec"]
    return spec


@pytest.fixture(scope="module")
def container(pod: dict[str, Any]) -> dict[str, Any]:
    (found,) = pod["containers"]
    return found


def _known_settings() -> set[str]:
    names: set[str] = set()
    for doc in SETTINGS_DOCS:
        names |= set(re.findall(r"^\|\s*`(VTE_CDS_[A-Z0-9_]+)`\s*\|", doc.read_text("utf-8"),
                                flags=re.MULTILINE))
    return names


# --- the schemas -------------------------------------------------------------------------------


def test_every_object_kind_this_deployment_needs_is_there(objects):
    assert set(objects) == {"Deployment", "Service", "HorizontalPodAutoscaler",
                            "PodDisruptionBudget", "ConfigMap", "Secret"}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", ["Deployment", "Service", "HorizontalPodAutoscaler",
                                  "PodDisruptionBudget", "ConfigMap", "Secret"])
def test_each_object_is_valid_against_the_kubernetes_schema(objects, kind, version):
    assert kubernetes_validate.validate(objects[kind], version, strict=True) == version


def test_the_strict_schema_refuses_a_misspelt_field(objects):
    broken = copy.deepcopy(objects["Deployment"])
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_kustomization_applies_every_object_but_the_example_secret():
    listed = yaml.safe_load((KUBE / "kustomization.yaml").read_text("utf-8"))["resources"]
    assert sorted(listed) == sorted(p.name for p in KUBE.glob("*.yaml")
                                    if p.name not in ("kustomization.yaml", "secret.example.yaml"))


# --- objects that find each other --------------------------------------------------------------


def test_the_deployment_service_and_budget_select_the_pods(objects):
    deployment = objects["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == POD_LABEL
    assert POD_LABEL.items() <= pod_labels.items()
    assert objects["Service"]["spec"]["selector"].items() <= pod_labels.items()
    assert objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() \
        <= pod_labels.items()


def test_the_service_sends_traffic_to_the_port_the_container_serves(objects, container):
    (port,) = objects["Service"]["spec"]["ports"]
    (served,) = container["ports"]
    assert port["targetPort"] == served["name"]
    assert served["containerPort"] == 8080
    assert container["command"][container["command"].index("--port") + 1] == "8080"


def test_the_autoscaler_scales_the_deployment_and_never_below_its_replicas(objects):
    hpa, deployment = objects["HorizontalPodAutoscaler"], objects["Deployment"]
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] == deployment["spec"]["replicas"] >= 2
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"


def test_the_budget_lets_a_drain_proceed_and_keeps_most_pods(objects):
    budget = objects["PodDisruptionBudget"]["spec"]
    replicas = objects["HorizontalPodAutoscaler"]["spec"]["minReplicas"]
    assert budget == {**budget, "maxUnavailable": 1}
    assert replicas - budget["maxUnavailable"] >= 2


def test_a_rollout_never_lowers_capacity(objects):
    rolling = objects["Deployment"]["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0
    assert rolling["maxSurge"] >= 1


# --- probes on routes the service has ------------------------------------------------------------


def test_liveness_asks_healthz_and_readiness_asks_readyz(container):
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] == container["ports"][0]["name"]


def test_the_probed_routes_answer_in_the_service(tmp_path, container):
    app = create_app({"AUTH": "off", "DATABASE_URL": f"sqlite:///{tmp_path}/store.db"})
    client = app.test_client()
    for probe in ("livenessProbe", "readinessProbe"):
        assert client.get(container[probe]["httpGet"]["path"]).status_code == 200


# --- the image as the Dockerfile builds it --------------------------------------------------------


def _dockerfile(op: str) -> list[str]:
    text = DOCKERFILE.read_text("utf-8").replace("\\\n", " ")
    return [line.split(None, 1)[1].strip() for line in text.splitlines()
            if line.strip().upper().startswith(op + " ")]


def test_the_pod_runs_the_image_command_as_its_unprivileged_user(pod, container):
    assert container["command"] == json.loads(_dockerfile("CMD")[-1])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert "10001" in " ".join(_dockerfile("RUN"))
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}


def test_the_image_is_pinned_to_a_version(container):
    image = container["image"]
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    assert tag not in ("", "latest")


def test_a_pod_has_time_to_finish_its_requests_when_stopped(pod, container):
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    gunicorn_graceful_timeout = 30
    assert pod["terminationGracePeriodSeconds"] >= pause + gunicorn_graceful_timeout


# --- settings ----------------------------------------------------------------------------------


def test_settings_come_from_the_configmap_and_the_secret(objects, container):
    assert container["envFrom"] == [
        {"configMapRef": {"name": objects["ConfigMap"]["metadata"]["name"]}},
        {"secretRef": {"name": objects["Secret"]["metadata"]["name"]}}]
    assert "env" not in container


def test_every_setting_is_one_the_service_documents(objects):
    names = set(objects["ConfigMap"]["data"]) | set(objects["Secret"]["stringData"])
    assert names - _known_settings() == set()


def test_secrets_are_in_the_secret_and_nowhere_else(objects, container):
    assert set(objects["Secret"]["stringData"]) == SECRET_SETTINGS
    assert set(objects["ConfigMap"]["data"]) & SECRET_SETTINGS == set()
    manifests = (KUBE / "deployment.yaml").read_text("utf-8") + \
        (KUBE / "configmap.yaml").read_text("utf-8")
    assert "postgresql://" not in manifests


def test_the_example_secret_holds_placeholders_only(objects):
    values = objects["Secret"]["stringData"]
    for name in ("VTE_CDS_STORE_KEY", "VTE_CDS_SMART_CLIENT_SECRET", "VTE_CDS_SMART_SECRET_KEY",
                 "VTE_CDS_FEEDBACK_VIEW_TOKEN"):
        assert values[name].startswith("REPLACE"), name
    assert "REPLACE" in values["VTE_CDS_DATABASE_URL"]


def test_the_service_accepts_the_configmap_with_real_secrets(objects):
    settings = {name.removeprefix("VTE_CDS_"): value
                for name, value in objects["ConfigMap"]["data"].items()}
    secrets = {"STORE_KEY": "k" * 48, "TRUSTED_ISSUERS":
               objects["Secret"]["stringData"]["VTE_CDS_TRUSTED_ISSUERS"],
               "DATABASE_URL": "postgresql://vte_cds:pw@postgres:5432/vte_cds"}
    check_settings({**settings, **secrets})
    assert settings["AUTH"] == "on"
    assert settings["PUBLIC_URL"].startswith("https://")
    (issuer,) = issuers_from_config(secrets["TRUSTED_ISSUERS"])
    assert issuer.iss.startswith("https://")

"""The deployment artifacts parse, agree with each other and with the code they deploy."""

from __future__ import annotations

import json
import re
import secrets
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "docs" / "kubernetes"
APP_SERVICES = ("migrate", "ingress", "worker")
LONG_RUNNING = ("db", "redis", "ingress", "worker", "prometheus", "grafana")
# Variables the manifests may carry that are not Settings fields (none today).
NON_SETTINGS_APP_VARS: frozenset[str] = frozenset()
SETTINGS_VARS = frozenset(name.upper() for name in Settings.model_fields)


def settings_from(values: Mapping[str, str]) -> Settings:
    """Settings from these variables alone (never this machine's environment or `.env`)."""
    return Settings.model_validate({name.lower(): value for name, value in values.items()})


def load_yaml(path: Path) -> Any:
    """One YAML document."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compose() -> dict[str, Any]:
    """compose.yml as a mapping."""
    data = load_yaml(ROOT / "compose.yml")
    assert isinstance(data, dict)
    return data


def k8s_documents() -> list[dict[str, Any]]:
    """Every document of every manifest under docs/kubernetes/."""
    documents: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            assert isinstance(document, dict), f"{path.name}: a document is not a mapping"
            documents.append(document)
    return documents


def k8s_object(kind: str, name: str) -> dict[str, Any]:
    """The one manifest object of `kind` called `name`."""
    found = [d for d in k8s_documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    """(object name, pod spec) of every Deployment and Job."""
    for document in k8s_documents():
        if document["kind"] in ("Deployment", "Job"):
            yield document["metadata"]["name"], document["spec"]["template"]["spec"]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    instructions = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def final_stage() -> list[tuple[str, str]]:
    """The instructions of the image that ships (the last FROM onwards)."""
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def compose_image() -> str:
    """The image every application service of compose.yml runs."""
    images = {compose()["services"][name]["image"] for name in APP_SERVICES}
    assert len(images) == 1, images
    image = images.pop()
    assert isinstance(image, str)
    return image


# --- Dockerfile -------------------------------------------------------------------------------


def test_image_is_python_slim_and_runs_the_ingress_as_a_non_root_user() -> None:
    stage = final_stage()
    assert stage[0] == ("FROM", "python:3.11-slim")
    users = [args for keyword, args in stage if keyword == "USER"]
    assert users, "the shipped image sets no USER, so it runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    cmd = [args for keyword, args in stage if keyword == "CMD"][-1]
    assert json.loads(cmd) == ["mission-control", "ingress"]
    exposed = {port for keyword, args in stage if keyword == "EXPOSE" for port in args.split()}
    assert {"8000", "9100"} <= exposed


def test_image_copies_every_package_the_project_installs() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    copied = {
        shlex.split(args)[0].strip("./")
        for keyword, args in dockerfile_instructions()
        if keyword == "COPY" and not args.startswith("--from")
    }
    assert packages <= copied, f"not copied into the image: {packages - copied}"
    assert any(k == "RUN" and "pip install ." in a for k, a in dockerfile_instructions())


def test_build_context_leaves_out_secrets_and_local_state() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", ".git", ".mission-control"} <= ignored


# --- compose.yml ------------------------------------------------------------------------------


def test_compose_runs_every_service_of_a_deployment() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "redis", "migrate", "ingress", "worker", "prometheus", "grafana"}
    assert services["db"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["ingress"]["command"][:2] == ["mission-control", "ingress"]
    assert services["worker"]["command"] == ["mission-control", "worker"]


def test_compose_keeps_state_in_named_volumes() -> None:
    data = compose()
    for service, target in (("db", "/var/lib/postgresql/data"), ("redis", "/data")):
        mounts = [m.split(":") for m in data["services"][service]["volumes"]]
        named = [source for source, path, *_ in mounts if path == target]
        assert named, f"{service} data is not on a volume"
        assert named[0] in data["volumes"], f"{service} data is not in a named volume"


def test_redis_keeps_the_queue_on_disk_and_never_evicts_it() -> None:
    command = compose()["services"]["redis"]["command"]
    flags = dict(zip(command[1::2], command[2::2], strict=True))
    assert flags["--appendonly"] == "yes"
    assert flags["--appendfsync"] == "everysec"
    assert flags["--maxmemory-policy"] == "noeviction"


def test_every_long_running_service_has_a_healthcheck() -> None:
    services = compose()["services"]
    for name in LONG_RUNNING:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    ingress_test = " ".join(services["ingress"]["healthcheck"]["test"])
    assert "/readyz" in ingress_test
    worker_test = " ".join(services["worker"]["healthcheck"]["test"])
    assert "health_check_key_suffix" in worker_test


def test_migrate_runs_once_before_the_application() -> None:
    services = compose()["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["mission-control", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("ingress", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"


def test_workers_scale_without_colliding() -> None:
    worker = compose()["services"]["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker["deploy"]["replicas"] >= 1


def test_compose_holds_no_secret_literal() -> None:
    secret_words = ("PASSWORD", "TOKEN", "SECRET")

    def walk(node: Any) -> Iterator[tuple[str, Any]]:
        if isinstance(node, dict):
            for key, value in node.items():
                yield str(key), value
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    for key, value in walk(compose()):
        if any(word in key.upper() for word in secret_words) and isinstance(value, str):
            assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), f"{key} is not from .env"
    database_url = compose()["services"]["ingress"]["environment"]["DATABASE_URL"]
    assert "${POSTGRES_PASSWORD:?" in database_url


def test_compose_application_settings_are_valid(tmp_path: Path) -> None:
    environment = compose()["services"]["ingress"]["environment"]
    resolved = {
        key: re.sub(r"\$\{[A-Z_]+(:-|:\?)([^}]*)\}", "x", value)
        for key, value in environment.items()
    }
    assert set(resolved) <= SETTINGS_VARS
    token = secrets.token_urlsafe(48)
    settings = settings_from({**resolved, "AUTH_MODE": "local", "LOCAL_AUTH_TOKEN": token})
    assert settings.rq_redis_url == "redis://redis:6379/0"


def test_prometheus_finds_every_ingress_and_worker_replica() -> None:
    config = load_yaml(ROOT / "deploy" / "prometheus" / "prometheus.yml")
    services = compose()["services"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    ports = {"ingress": 8000, "worker": Settings.model_fields["worker_metrics_port"].default}
    for name, port in ports.items():
        (discovery,) = jobs[name]["dns_sd_configs"]
        assert name in services
        assert discovery["names"] == [name]
        assert discovery["port"] == port
    mount = services["prometheus"]["volumes"][0].split(":")
    assert (ROOT / mount[0]).resolve() == ROOT / "deploy" / "prometheus" / "prometheus.yml"


def test_grafana_is_provisioned_with_the_dashboard_and_datasource() -> None:
    grafana = compose()["services"]["grafana"]
    mounts = {m.split(":")[1]: ROOT / m.split(":")[0] for m in grafana["volumes"] if "./" in m}
    provisioning = mounts["/etc/grafana/provisioning"]
    (datasource,) = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    (provider,) = load_yaml(provisioning / "dashboards" / "mission-control.yml")["providers"]
    dashboard_dir = provider["options"]["path"]
    dashboard_files = [path for target, path in mounts.items() if target.startswith(dashboard_dir)]
    assert dashboard_files == [ROOT / "docs" / "grafana" / "mission-control.json"]
    panels = json.loads(dashboard_files[0].read_text(encoding="utf-8"))["panels"]
    used = {p["datasource"]["uid"] for p in panels if "datasource" in p}
    assert used == {datasource["uid"]}


# --- Kubernetes -------------------------------------------------------------------------------


def test_kubernetes_manifests_cover_a_deployment() -> None:
    kinds = sorted(d["kind"] for d in k8s_documents())
    for kind in ("ConfigMap", "Secret", "Job", "Service", "HorizontalPodAutoscaler"):
        assert kind in kinds
    assert kinds.count("Deployment") == 2


def test_ingress_probes_readiness_and_liveness() -> None:
    deployment = k8s_object("Deployment", "mission-control-ingress")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["command"][:2] == ["mission-control", "ingress"]


def test_hpa_and_service_point_at_the_ingress() -> None:
    deployment = k8s_object("Deployment", "mission-control-ingress")
    hpa = k8s_object("HorizontalPodAutoscaler", "mission-control-ingress")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 1 <= hpa["spec"]["maxReplicas"]
    service = k8s_object("Service", "mission-control-ingress")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    port_names = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    # The HPA scales on CPU utilisation, which needs a CPU request.
    assert container["resources"]["requests"]["cpu"]


def test_prometheus_annotations_name_a_port_the_pod_serves() -> None:
    config = k8s_object("ConfigMap", "mission-control-config")["data"]
    for name in ("mission-control-ingress", "mission-control-worker"):
        template = k8s_object("Deployment", name)["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        (container,) = template["spec"]["containers"]
        assert int(annotations["prometheus.io/port"]) in {
            p["containerPort"] for p in container["ports"]
        }
    worker = k8s_object("Deployment", "mission-control-worker")["spec"]["template"]
    assert worker["metadata"]["annotations"]["prometheus.io/port"] == config["WORKER_METRICS_PORT"]


def test_every_pod_runs_the_compose_image_as_the_image_user() -> None:
    image = compose_image()
    uid = int([a for k, a in final_stage() if k == "USER"][-1].split(":")[0])
    names = []
    for name, spec in pod_specs():
        names.append(name)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == uid
        for container in spec["containers"]:
            assert container["image"] == image, f"{name} runs {container['image']}"
    assert sorted(names) == [
        "mission-control-ingress",
        "mission-control-migrate",
        "mission-control-worker",
    ]
    kustomization = load_yaml(K8S / "kustomization.yaml")
    assert [i["name"] for i in kustomization["images"]] == [image.split(":")[0]]


def test_migrate_job_runs_migrations_and_retries_on_failure() -> None:
    job = k8s_object("Job", "mission-control-migrate")
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] in ("OnFailure", "Never")
    assert spec["containers"][0]["command"] == ["mission-control", "migrate"]


def test_pods_take_settings_from_the_configmap_and_secret() -> None:
    config = k8s_object("ConfigMap", "mission-control-config")
    secret = k8s_object("Secret", "mission-control-secrets")
    for name, spec in pod_specs():
        for container in spec["containers"]:
            refs = {
                (kind, ref["name"])
                for source in container["envFrom"]
                for kind, ref in source.items()
            }
            assert refs == {
                ("configMapRef", config["metadata"]["name"]),
                ("secretRef", secret["metadata"]["name"]),
            }, name
            for variable in container.get("env", []):
                assert variable["name"] in SETTINGS_VARS | NON_SETTINGS_APP_VARS


def test_configmap_and_secret_keys_are_settings() -> None:
    config = k8s_object("ConfigMap", "mission-control-config")["data"]
    secret = k8s_object("Secret", "mission-control-secrets")["stringData"]
    unknown = (set(config) | set(secret)) - SETTINGS_VARS - NON_SETTINGS_APP_VARS
    assert not unknown, f"not settings: {unknown}"
    assert not set(config) & set(secret)
    assert {"DATABASE_URL", "LOCAL_AUTH_TOKEN"} <= set(secret)
    assert all(isinstance(value, str) for value in config.values())


def test_configmap_values_are_valid_settings() -> None:
    config = k8s_object("ConfigMap", "mission-control-config")["data"]
    settings = settings_from({**config, "LOCAL_AUTH_TOKEN": secrets.token_urlsafe(48)})
    assert settings.rate_limit_backend == "redis", "several pods need a shared rate limiter"
    assert settings.log_format == "json"


def test_secret_template_holds_only_placeholders_that_startup_refuses() -> None:
    secret = k8s_object("Secret", "mission-control-secrets")
    assert set(secret["stringData"].values()) == {"REPLACE_ME"}
    assert "data" not in secret
    with pytest.raises(ValidationError, match="LOCAL_AUTH_TOKEN"):
        settings_from({"AUTH_MODE": "local", "LOCAL_AUTH_TOKEN": "REPLACE_ME"})
    kustomization = load_yaml(K8S / "kustomization.yaml")
    listed = kustomization["resources"]
    assert all((K8S / name).is_file() for name in listed)
    secret_files = {
        path.name for path in K8S.glob("*.yaml") if "kind: Secret" in path.read_text("utf-8")
    }
    assert not secret_files & set(listed), "applying the folder would overwrite the real Secret"

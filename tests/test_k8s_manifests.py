"""The Kubernetes manifests under k8s/ (and the bits of the Dockerfile they depend on).

Offline: the documents are validated with kubernetes-validate's bundled schemas for one pinned
Kubernetes version, and `kubectl kustomize` (when kubectl is installed) renders without a cluster.
lognotify itself is imported only for the names of its settings.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "k8s"
DOCKERFILE = ROOT / "Dockerfile"

#: The schemas every document is validated against (kubernetes-validate ships 1.25 to 1.37).
KUBERNETES_VERSION = "1.33.0"

#: Defaults from the contract, used when neither the container nor the ConfigMap sets them.
DEFAULT_KILL_GRACE = 10.0
DEFAULT_DELIVERY_TIMEOUT = 60.0

#: The variables the contract names (settings table, `_FILE` variants, Downward API metadata).
CONTRACT_SETTINGS = frozenset(
    "LOGNOTIFY_" + s
    for s in (
        "TO FROM SMTP_HOST SMTP_PORT SMTP_SECURITY SMTP_USER SMTP_PASSWORD SMTP_CA_FILE "
        "SMTP_TIMEOUT DELIVERY_TIMEOUT NOTIFY_ON JOB_NAME SUBJECT TEMPLATE_DIR MAX_BYTES OUTBOX "
        "REDACT TIMEOUT KILL_GRACE"
    ).split()
)
CONTRACT_METADATA = frozenset(
    ["LOGNOTIFY_POD_NAME", "LOGNOTIFY_POD_NAMESPACE", "LOGNOTIFY_NODE_NAME", "LOGNOTIFY_K8S_JOB_NAME"]
)
CONTRACT_NAMES = (
    CONTRACT_SETTINGS | {n + "_FILE" for n in CONTRACT_SETTINGS} | CONTRACT_METADATA
)

DOWNWARD_API = {
    "LOGNOTIFY_POD_NAME": "metadata.name",
    "LOGNOTIFY_POD_NAMESPACE": "metadata.namespace",
    "LOGNOTIFY_NODE_NAME": "spec.nodeName",
    "LOGNOTIFY_K8S_JOB_NAME": "metadata.labels['batch.kubernetes.io/job-name']",
}
TEMPLATE_FILES = {"subject.txt.j2", "body.txt.j2", "body.html.j2"}
NAME_RE = re.compile(r"\bLOGNOTIFY_[A-Z0-9_]*[A-Z0-9]")


# ---- loading ------------------------------------------------------------------------------------


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def kustomization() -> dict[str, Any]:
    (doc,) = load(K8S / "kustomization.yaml")
    return doc


def resource_files() -> list[Path]:
    return [p for p in manifest_files() if p.name not in ("kustomization.yaml", "kustomization.yml")]


def all_resources() -> list[dict[str, Any]]:
    return [doc for path in resource_files() for doc in load(path)]


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        d
        for d in all_resources()
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"want exactly one {kind} {name or ''} under k8s/, found {len(found)}"
    return found[0]


def cronjob() -> dict[str, Any]:
    return one("CronJob")


def pod_spec() -> dict[str, Any]:
    return cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def container() -> dict[str, Any]:
    containers = pod_spec()["containers"]
    assert len(containers) == 1, "the CronJob's pod should run exactly one container"
    return containers[0]


def env_values() -> dict[str, Any]:
    return {e["name"]: e for e in container().get("env", [])}


def effective_settings() -> dict[str, str]:
    """The LOGNOTIFY_* values the container sees: its ConfigMaps, overridden by its env."""
    values: dict[str, str] = {}
    for source in container().get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            values.update(one("ConfigMap", ref["name"]).get("data") or {})
    for name, entry in env_values().items():
        if "value" in entry:
            values[name] = entry["value"]
    return values


def seconds(settings: dict[str, str], name: str, default: float) -> float:
    raw = settings.get(name)
    return default if raw in (None, "") else float(raw)


def volume_for_path(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The volumeMount containing ``path`` and its volume."""
    mounts = [
        m
        for m in container().get("volumeMounts", [])
        if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")
    ]
    assert mounts, f"{path} is not inside any volumeMount of the container"
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    volumes = {v["name"]: v for v in pod_spec().get("volumes", [])}
    assert mount["name"] in volumes, f"volumeMount {mount['name']} has no volume"
    return mount, volumes[mount["name"]]


def known_env_names() -> frozenset[str]:
    try:
        from lognotify.settings import ENV_NAMES
    except ImportError as exc:
        pytest.skip(
            f"lognotify.settings.ENV_NAMES is not importable yet ({exc}); it should be a frozenset"
            " of every LOGNOTIFY_* variable lognotify reads"
        )
    return frozenset(ENV_NAMES)


# ---- schema validation --------------------------------------------------------------------------


def test_pinned_kubernetes_version_is_shipped() -> None:
    from kubernetes_validate.utils import all_versions

    assert KUBERNETES_VERSION in all_versions(), (
        f"kubernetes-validate {kubernetes_validate.__version__} ships no schemas for"
        f" {KUBERNETES_VERSION}; it has {all_versions()}"
    )


@pytest.mark.parametrize("path", resource_files(), ids=lambda p: p.name)
def test_manifest_validates_against_kubernetes_schema(path: Path) -> None:
    docs = load(path)
    assert docs, f"{path.name} holds no document"
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kust = kustomization()
    assert kust.get("kind") == "Kustomization"
    listed = list(kust.get("resources", []))
    for name in listed:
        assert (K8S / name).is_file(), f"kustomization.yaml lists {name}, which does not exist"
    for path in resource_files():
        if ".example." in path.name:
            assert path.name not in listed, (
                f"{path.name} holds placeholder values: applying it would overwrite the real object"
            )
        else:
            assert path.name in listed, f"{path.name} is not in kustomization.yaml's resources"


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    proc = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, f"kubectl kustomize k8s/ failed:\n{proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d is not None]


def test_kustomize_renders_valid_objects(rendered: list[dict[str, Any]]) -> None:
    kinds = [d["kind"] for d in rendered]
    assert kinds.count("CronJob") == 1, kinds
    assert "Secret" not in kinds, "the kustomization must not ship a placeholder Secret"
    for doc in rendered:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kustomize_sets_the_image(rendered: list[dict[str, Any]]) -> None:
    (cj,) = [d for d in rendered if d["kind"] == "CronJob"]
    (image,) = [e for e in kustomization().get("images", []) if e["name"] == container()["image"]]
    rendered_image = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert rendered_image == f"{image['newName']}:{image['newTag']}"


# ---- settings names ------------------------------------------------------------------------------


def names_in_manifests() -> dict[str, set[str]]:
    """Every LOGNOTIFY_* name written anywhere under k8s/ (keys, values, comments) -> files."""
    names: dict[str, set[str]] = {}
    for path in manifest_files():
        for name in NAME_RE.findall(path.read_text(encoding="utf-8")):
            names.setdefault(name, set()).add(path.name)
    # and, structurally, every variable the container gets
    for name in effective_settings():
        names.setdefault(name, set()).add("(container environment)")
    return names


def test_manifests_set_lognotify_settings() -> None:
    settings = effective_settings()
    for name in ("LOGNOTIFY_TO", "LOGNOTIFY_SMTP_HOST", "LOGNOTIFY_SMTP_PASSWORD_FILE"):
        assert name in settings, f"the container does not get {name}"


def test_every_name_is_in_the_contract() -> None:
    unknown = {n: sorted(f) for n, f in names_in_manifests().items() if n not in CONTRACT_NAMES}
    assert not unknown, f"LOGNOTIFY_* names that the contract does not define: {unknown}"


def test_every_name_is_one_lognotify_knows() -> None:
    known = known_env_names()
    unknown = {n: sorted(f) for n, f in names_in_manifests().items() if n not in known}
    assert not unknown, f"LOGNOTIFY_* names that lognotify does not read: {unknown}"


def test_configmap_values_are_strings() -> None:
    for doc in all_resources():
        if doc["kind"] == "ConfigMap":
            for key, value in (doc.get("data") or {}).items():
                assert isinstance(value, str), f"{doc['metadata']['name']}: {key} is not a string"


# ---- the CronJob ----------------------------------------------------------------------------------


def test_cronjob_runs_the_job_under_lognotify() -> None:
    c = container()
    assert c["command"] == ["lognotify", "--"]
    assert c.get("args"), "the job goes in args"


def test_cronjob_scheduling_policy() -> None:
    spec = cronjob()["spec"]
    job = spec["jobTemplate"]["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert isinstance(spec["successfulJobsHistoryLimit"], int)
    assert isinstance(spec["failedJobsHistoryLimit"], int) and spec["failedJobsHistoryLimit"] >= 1
    assert isinstance(job["backoffLimit"], int)
    assert isinstance(job["activeDeadlineSeconds"], int) and job["activeDeadlineSeconds"] > 0
    assert pod_spec()["restartPolicy"] == "Never"


def test_downward_api_metadata() -> None:
    env = env_values()
    for name, field in DOWNWARD_API.items():
        assert name in env, f"{name} is not set"
        assert env[name].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == field, name


def test_settings_come_from_the_configmap() -> None:
    refs = [s["configMapRef"]["name"] for s in container().get("envFrom", []) if "configMapRef" in s]
    assert refs, "no envFrom configMapRef"
    for name in refs:
        one("ConfigMap", name)  # exists under k8s/


def test_smtp_password_is_a_mounted_secret_file() -> None:
    settings = effective_settings()
    assert "LOGNOTIFY_SMTP_PASSWORD" not in settings, "the password must not be a plain variable"
    for doc in all_resources():
        if doc["kind"] == "ConfigMap":
            assert not any("PASSWORD" in k for k in (doc.get("data") or {})), doc["metadata"]["name"]
    path = settings["LOGNOTIFY_SMTP_PASSWORD_FILE"]
    mount, volume = volume_for_path(path)
    assert mount.get("readOnly") is True
    secret = volume.get("secret")
    assert secret, f"{path} is not on a Secret volume"
    example = one("Secret", secret["secretName"])  # secret.example.yaml shows its shape
    relative = path[len(mount["mountPath"].rstrip("/")) + 1 :]
    items = {i["path"]: i["key"] for i in secret.get("items", [])}
    key = items.get(relative, relative)
    assert key in (example.get("stringData") or {}) or key in (example.get("data") or {}), (
        f"the example Secret has no key {key!r} for {path}"
    )
    mode = secret.get("defaultMode", 0o644)
    assert mode & 0o007 == 0, f"the password file is world-readable (mode {mode:o})"


def test_template_dir_is_the_templates_configmap() -> None:
    template_dir = effective_settings()["LOGNOTIFY_TEMPLATE_DIR"]
    mount, volume = volume_for_path(template_dir)
    assert mount["mountPath"].rstrip("/") == template_dir.rstrip("/")
    ref = volume.get("configMap")
    assert ref, f"{template_dir} is not a ConfigMap volume"
    templates = one("ConfigMap", ref["name"])
    extra = set(templates.get("data") or {}) - TEMPLATE_FILES
    assert not extra, f"keys that are not template names: {sorted(extra)}"


def test_hardened_security_context() -> None:
    pod = pod_spec()
    c = container()
    psc = pod.get("securityContext", {})
    csc = c.get("securityContext", {})
    assert psc.get("runAsNonRoot") is True or csc.get("runAsNonRoot") is True
    assert csc.get("readOnlyRootFilesystem") is True
    assert csc.get("allowPrivilegeEscalation") is False
    assert csc.get("privileged", False) is False
    assert "ALL" in csc.get("capabilities", {}).get("drop", [])
    assert not csc.get("capabilities", {}).get("add")
    seccomp = csc.get("seccompProfile") or psc.get("seccompProfile") or {}
    assert seccomp.get("type") == "RuntimeDefault"
    mount, volume = volume_for_path("/tmp")
    assert mount["mountPath"] == "/tmp" and "emptyDir" in volume, "/tmp must be an emptyDir"
    assert not mount.get("readOnly", False)


def test_resources() -> None:
    resources = container().get("resources", {})
    for kind in ("requests", "limits"):
        for what in ("cpu", "memory"):
            assert what in resources.get(kind, {}), f"resources.{kind}.{what} is not set"


def test_grace_period_covers_kill_grace_and_delivery() -> None:
    settings = effective_settings()
    kill_grace = seconds(settings, "LOGNOTIFY_KILL_GRACE", DEFAULT_KILL_GRACE)
    delivery = seconds(settings, "LOGNOTIFY_DELIVERY_TIMEOUT", DEFAULT_DELIVERY_TIMEOUT)
    grace = pod_spec().get("terminationGracePeriodSeconds", 30)
    assert grace > kill_grace + delivery, (
        f"terminationGracePeriodSeconds {grace} must exceed kill_grace {kill_grace:g}"
        f" + delivery_timeout {delivery:g}, or the kubelet's SIGKILL can cut the report short"
    )


def test_timeout_fires_before_the_job_deadline() -> None:
    settings = effective_settings()
    if not settings.get("LOGNOTIFY_TIMEOUT"):
        pytest.skip("LOGNOTIFY_TIMEOUT is not set")
    timeout = seconds(settings, "LOGNOTIFY_TIMEOUT", 0)
    kill_grace = seconds(settings, "LOGNOTIFY_KILL_GRACE", DEFAULT_KILL_GRACE)
    delivery = seconds(settings, "LOGNOTIFY_DELIVERY_TIMEOUT", DEFAULT_DELIVERY_TIMEOUT)
    deadline = cronjob()["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]
    assert timeout + kill_grace + delivery < deadline


# ---- the image the CronJob runs -------------------------------------------------------------------


def dockerfile_user() -> str:
    users = re.findall(r"^\s*USER\s+(\S+)", DOCKERFILE.read_text(encoding="utf-8"), re.M)
    assert users, "the Dockerfile sets no USER"
    return users[-1]


def test_dockerfile_base_image_is_an_argument() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    first = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert first[0] == "ARG BASE_IMAGE=python:3.12-slim"
    assert re.search(r"^FROM \$\{BASE_IMAGE\}\s*$", text, re.M)


def test_cronjob_user_matches_the_image() -> None:
    user = dockerfile_user()
    assert re.fullmatch(r"[1-9][0-9]*", user), f"USER {user}: want a numeric non-root UID"
    sc = {**pod_spec().get("securityContext", {}), **container().get("securityContext", {})}
    assert str(sc.get("runAsUser", user)) == user, "runAsUser differs from the image's USER"

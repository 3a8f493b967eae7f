"""The Kubernetes manifests under k8s/ (the CronJob) and k8s/watch/ (the watcher), and the
bits of the Dockerfile and docs/deploying.md they depend on.

Offline: every document, and what `kubectl kustomize` renders from each directory (when kubectl
is installed), is validated strictly with kubernetes-validate's bundled schemas for every
Kubernetes version from MIN_KUBERNETES to the newest it ships. lognotify itself is imported only
for the names of its settings, their parsers, and the CronJob-name rule.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from lognotify.settings.spec import Scope

yaml = pytest.importorskip("yaml")
kubernetes_validate = pytest.importorskip("kubernetes_validate")
from kubernetes_validate.utils import all_versions  # type: ignore[import-untyped]  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "k8s"
WATCH = K8S / "watch"
DIRECTORIES = (K8S, WATCH)
DOCKERFILE = ROOT / "Dockerfile"
DEPLOYING = ROOT / "docs" / "deploying.md"

#: The oldest Kubernetes the CronJob works on (backoffLimitPerIndex and podReplacementPolicy
#: are beta, on by default, from 1.29); every manifest validates from it to the newest schema.
MIN_KUBERNETES = (1, 29)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


SCHEMA_VERSIONS = sorted(
    {v for v in all_versions() if _version(v)[:2] >= MIN_KUBERNETES}, key=_version
)

#: Defaults from the contract, used when neither the container nor its ConfigMap sets them.
DEFAULT_KILL_GRACE = 10.0
DEFAULT_DELIVERY_TIMEOUT = 60.0
DEFAULT_TERMINATION_LOG = "/dev/termination-log"

#: The Job controller's back-off before a failed pod is replaced: 10 s, doubled after each
#: further failure, at most 6 minutes.
BACKOFF_FIRST = 10.0
BACKOFF_CAP = 360.0
#: Time allowed per attempt for scheduling the pod and starting its container (image cached).
POD_START_ALLOWANCE = 30.0

#: The variables the contract names: the settings table, its Additions, the `_FILE` variants.
_SETTINGS = """
    TO FROM SMTP_HOST SMTP_PORT SMTP_SECURITY SMTP_USER SMTP_PASSWORD SMTP_CA_FILE SMTP_TIMEOUT
    DELIVERY_TIMEOUT NOTIFY_ON JOB_NAME SUBJECT TEMPLATE_DIR MAX_BYTES OUTBOX REDACT TIMEOUT
    KILL_GRACE K8S_FAILURES K8S_BACKOFF_LIMIT K8S_FINAL_EXIT_CODES NOTIFY_ATTEMPTS
    TERMINATION_LOG PASSTHROUGH CAPTURE WATCH_NAMESPACES WATCH_SELECTOR WATCH_STUCK_AFTER
"""
CONTRACT_SETTINGS = frozenset("LOGNOTIFY_" + s for s in _SETTINGS.split())
CONTRACT_METADATA = frozenset(
    [
        "LOGNOTIFY_POD_NAME",
        "LOGNOTIFY_POD_NAMESPACE",
        "LOGNOTIFY_NODE_NAME",
        "LOGNOTIFY_K8S_JOB_NAME",
    ]
)
#: Downward API variables in lognotify's settings table that CONTRACT.md does not list yet.
TABLE_METADATA = frozenset(["LOGNOTIFY_POD_UID", "LOGNOTIFY_MEMORY_LIMIT"])
CONTRACT_NAMES = (
    CONTRACT_SETTINGS
    | {n + "_FILE" for n in CONTRACT_SETTINGS | CONTRACT_METADATA}
    | CONTRACT_METADATA
    | TABLE_METADATA
)

FAILURE_COUNT = "metadata.annotations['batch.kubernetes.io/job-index-failure-count']"
#: Exactly the CronJob's variables that come from the Downward API, and from where.
CRONJOB_DOWNWARD_API = {
    "LOGNOTIFY_POD_NAME": ("fieldRef", "metadata.name"),
    "LOGNOTIFY_POD_NAMESPACE": ("fieldRef", "metadata.namespace"),
    "LOGNOTIFY_POD_UID": ("fieldRef", "metadata.uid"),
    "LOGNOTIFY_NODE_NAME": ("fieldRef", "spec.nodeName"),
    "LOGNOTIFY_K8S_JOB_NAME": ("fieldRef", "metadata.labels['batch.kubernetes.io/job-name']"),
    "LOGNOTIFY_K8S_FAILURES": ("fieldRef", FAILURE_COUNT),
    "LOGNOTIFY_MEMORY_LIMIT": ("resourceFieldRef", "limits.memory"),
}
WATCH_DOWNWARD_API = {"LOGNOTIFY_POD_NAMESPACE": ("fieldRef", "metadata.namespace")}

#: The watcher's rights, exactly: (apiGroup, resource, verb, resourceName or "").
CLUSTER_RULES = frozenset(
    [("batch", "jobs", v, "") for v in ("get", "list", "watch")]
    + [("", "pods", v, "") for v in ("get", "list", "watch")]
    + [("", "pods/log", "get", "")]
)
STATE_CONFIGMAP = "lognotify-watch-state"
STATE_RULES = frozenset(
    [("", "configmaps", "create", "")]
    + [("", "configmaps", v, STATE_CONFIGMAP) for v in ("get", "update", "patch")]
)

TEMPLATE_FILES = {"subject.txt.j2", "body.txt.j2", "body.html.j2"}
NAME_RE = re.compile(r"\bLOGNOTIFY_[A-Z0-9_]*[A-Z0-9]")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
MEMORY = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}


# ---- loading -------------------------------------------------------------------------------------


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def manifest_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def kustomization(directory: Path) -> dict[str, Any]:
    (doc,) = load(directory / "kustomization.yaml")
    return doc


def resource_files(directory: Path) -> list[Path]:
    return [p for p in manifest_files(directory) if p.stem != "kustomization"]


def resources(directory: Path) -> list[dict[str, Any]]:
    return [doc for path in resource_files(directory) for doc in load(path)]


def every_resource_file() -> list[Path]:
    return [p for d in DIRECTORIES for p in resource_files(d)]


def one(directory: Path, kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        d
        for d in resources(directory)
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    where = directory.relative_to(ROOT)
    assert len(found) == 1, f"want exactly one {kind} {name or ''} in {where}/, found {len(found)}"
    return found[0]


def cronjob() -> dict[str, Any]:
    return one(K8S, "CronJob")


def job_spec() -> dict[str, Any]:
    spec: dict[str, Any] = cronjob()["spec"]["jobTemplate"]["spec"]
    return spec


def deployment() -> dict[str, Any]:
    return one(WATCH, "Deployment")


def pod_spec_of(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod: dict[str, Any] = spec["template"]["spec"]
    return pod


def container_of(workload: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec_of(workload)["containers"]
    assert len(containers) == 1, f"{workload['kind']}: want exactly one container"
    container: dict[str, Any] = containers[0]
    return container


#: (directory, workload) for each pod that lognotify runs in.
WORKLOADS = {"cronjob": (K8S, cronjob), "watch": (WATCH, deployment)}


def env_entries(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container_of(workload).get("env", [])}


def effective_settings(directory: Path, workload: dict[str, Any]) -> dict[str, str]:
    """The LOGNOTIFY_* values the container sees: its ConfigMaps, overridden by its env."""
    values: dict[str, str] = {}
    for source in container_of(workload).get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            values.update(one(directory, "ConfigMap", ref["name"]).get("data") or {})
    for name, entry in env_entries(workload).items():
        if "value" in entry:
            values[name] = entry["value"]
    return values


def seconds(settings: dict[str, str], name: str, default: float) -> float:
    """A duration as lognotify reads it (``90``, ``90s``, ``5m``, ``1h``)."""
    raw = settings.get(name)
    if raw in (None, ""):
        return default
    from lognotify.settings.parsers import seconds as parse_seconds

    value = parse_seconds(zero_ok=True)(raw, name)
    assert isinstance(value, float)
    return value


def volume_for_path(workload: dict[str, Any], path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The volumeMount containing ``path`` and its volume."""
    mounts = [
        m
        for m in container_of(workload).get("volumeMounts", [])
        if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")
    ]
    assert mounts, f"{path} is not inside any volumeMount of the container"
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    volumes = {v["name"]: v for v in pod_spec_of(workload).get("volumes", [])}
    assert mount["name"] in volumes, f"volumeMount {mount['name']} has no volume"
    return mount, volumes[mount["name"]]


def quantity_bytes(value: str | int) -> int:
    text = str(value)
    for suffix, factor in MEMORY.items():
        if text.endswith(suffix):
            return int(text[: -len(suffix)]) * factor
    return int(text)


def known_env_names() -> frozenset[str]:
    try:
        from lognotify.settings import ENV_NAMES
    except ImportError as exc:
        pytest.skip(f"lognotify.settings.ENV_NAMES is not importable ({exc})")
    return frozenset(ENV_NAMES)


# ---- schema validation, every version ------------------------------------------------------------


def test_schemas_cover_the_minimum_kubernetes_to_the_newest() -> None:
    newest = max(all_versions(), key=_version)
    assert SCHEMA_VERSIONS[0] == "{}.{}.0".format(*MIN_KUBERNETES), SCHEMA_VERSIONS
    assert SCHEMA_VERSIONS[-1] == newest
    assert "Needs Kubernetes {}.{} or later".format(*MIN_KUBERNETES) in (
        K8S / "cronjob.yaml"
    ).read_text(encoding="utf-8")


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("path", every_resource_file(), ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_validates_against_kubernetes_schema(path: Path, version: str) -> None:
    docs = load(path)
    assert docs, f"{path.name} holds no document"
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("directory", DIRECTORIES, ids=lambda d: d.name)
def test_kustomization_lists_every_manifest(directory: Path) -> None:
    kust = kustomization(directory)
    assert kust.get("kind") == "Kustomization"
    listed = list(kust.get("resources", []))
    for name in listed:
        assert (directory / name).is_file(), f"kustomization.yaml lists {name}, which is missing"
    for path in resource_files(directory):
        if ".example." in path.name:
            assert path.name not in listed, (
                f"{path.name} holds placeholder values: applying it would overwrite the real object"
            )
        else:
            assert path.name in listed, f"{path.name} is not in kustomization.yaml's resources"


def render(directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    proc = subprocess.run(
        [kubectl, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"kubectl kustomize {directory.name} failed:\n{proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d is not None]


@pytest.fixture(scope="module", params=DIRECTORIES, ids=lambda d: d.name)
def rendered(request: pytest.FixtureRequest) -> tuple[Path, list[dict[str, Any]]]:
    return request.param, render(request.param)


def test_kustomize_renders_valid_objects(rendered: tuple[Path, list[dict[str, Any]]]) -> None:
    directory, docs = rendered
    kinds = [d["kind"] for d in docs]
    assert kinds.count("CronJob" if directory == K8S else "Deployment") == 1, kinds
    assert "Secret" not in kinds, "a kustomization must not ship a placeholder Secret"
    for version in SCHEMA_VERSIONS:
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)


def test_kustomize_pins_the_image_by_digest(rendered: tuple[Path, list[dict[str, Any]]]) -> None:
    directory, docs = rendered
    (workload,) = [d for d in docs if d["kind"] in ("CronJob", "Deployment")]
    source = container_of(WORKLOADS["cronjob" if directory == K8S else "watch"][1]())
    (image,) = [
        e for e in kustomization(directory).get("images", []) if e["name"] == source["image"]
    ]
    assert DIGEST_RE.fullmatch(image["digest"]), f"not a sha256 digest: {image['digest']!r}"
    assert "newTag" not in image, "a tag beside a digest is ignored, and misleads the reader"
    assert container_of(workload)["image"] == f"{image['newName']}@{image['digest']}"


def test_kustomize_puts_everything_in_its_namespace(
    rendered: tuple[Path, list[dict[str, Any]]],
) -> None:
    directory, docs = rendered
    namespace = kustomization(directory)["namespace"]
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for doc in docs:
        if doc["kind"] not in cluster_scoped:
            assert doc["metadata"].get("namespace") == namespace, doc["metadata"]["name"]
        for subject in doc.get("subjects", []):  # the bindings name the watcher's own account
            assert subject == {
                "kind": "ServiceAccount",
                "name": "lognotify-watch",
                "namespace": namespace,
            }


# ---- namespaces and Pod Security -----------------------------------------------------------------


@pytest.mark.parametrize("directory", DIRECTORIES, ids=lambda d: d.name)
def test_namespace_enforces_the_restricted_pod_security_profile(directory: Path) -> None:
    namespace = one(directory, "Namespace")
    assert namespace["metadata"]["name"] == kustomization(directory)["namespace"]
    labels = namespace["metadata"].get("labels", {})
    for mode in ("enforce", "audit", "warn"):
        assert labels.get(f"pod-security.kubernetes.io/{mode}") == "restricted", mode


def test_cronjob_and_watcher_live_in_different_namespaces() -> None:
    # Deleting the watcher's kustomization deletes its namespace: it must not hold the CronJob.
    assert kustomization(K8S)["namespace"] != kustomization(WATCH)["namespace"]


RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What breaks the Pod Security Standards' "restricted" profile in ``pod`` (a pod spec)."""
    found = [f"spec.{h}" for h in ("hostNetwork", "hostPID", "hostIPC") if pod.get(h)]
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']}: {sorted(kinds)}")
    psc = pod.get("securityContext", {})
    containers = [*pod.get("initContainers", []), *pod["containers"]]
    for c in containers:
        found += [f"{c['name']}: {v}" for v in _container_violations(c, psc)]
    return found


def _container_violations(c: dict[str, Any], psc: dict[str, Any]) -> list[str]:
    csc = c.get("securityContext", {})
    merged = {**psc, **csc}
    found = []
    if csc.get("privileged"):
        found.append("privileged")
    if csc.get("allowPrivilegeEscalation") is not False:
        found.append("allowPrivilegeEscalation is not false")
    if merged.get("runAsNonRoot") is not True:
        found.append("runAsNonRoot is not true")
    if merged.get("runAsUser") == 0:
        found.append("runAsUser 0")
    if merged.get("seccompProfile", {}).get("type") not in ("RuntimeDefault", "Localhost"):
        found.append("no RuntimeDefault or Localhost seccomp profile")
    capabilities = csc.get("capabilities", {})
    if "ALL" not in capabilities.get("drop", []):
        found.append("capabilities not dropped")
    if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
        found.append(f"capabilities added: {capabilities['add']}")
    if any(p.get("hostPort") for p in c.get("ports", [])):
        found.append("hostPort")
    if csc.get("procMount", "Default") != "Default":
        found.append("procMount")
    return found


@pytest.mark.parametrize("which", WORKLOADS)
def test_pods_meet_the_restricted_profile(which: str) -> None:
    assert restricted_violations(pod_spec_of(WORKLOADS[which][1]())) == []


def test_the_restricted_check_finds_what_breaks_it() -> None:
    pod = copy.deepcopy(pod_spec_of(cronjob()))
    pod["hostPID"] = True
    pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    del pod["securityContext"]["runAsNonRoot"]
    del pod["securityContext"]["seccompProfile"]
    csc = pod["containers"][0]["securityContext"]
    for key in ("runAsNonRoot", "seccompProfile", "allowPrivilegeEscalation"):
        del csc[key]
    csc["capabilities"] = {"add": ["SYS_ADMIN"]}
    found = "\n".join(restricted_violations(pod))
    for what in (
        "hostPID",
        "hostPath",
        "runAsNonRoot",
        "seccomp",
        "allowPrivilegeEscalation",
        "capabilities not dropped",
        "SYS_ADMIN",
    ):
        assert what in found, (what, found)


# ---- settings names ------------------------------------------------------------------------------


def names_in_manifests() -> dict[str, set[str]]:
    """Every LOGNOTIFY_* name written anywhere under k8s/ (keys, values, comments) -> files."""
    names: dict[str, set[str]] = {}
    for directory in DIRECTORIES:
        for path in manifest_files(directory):
            for name in NAME_RE.findall(path.read_text(encoding="utf-8")):
                names.setdefault(name, set()).add(str(path.relative_to(K8S)))
    for which, (directory, workload) in WORKLOADS.items():
        for name in [*effective_settings(directory, workload()), *env_entries(workload())]:
            names.setdefault(name, set()).add(f"({which} container environment)")
    return names


def test_every_name_is_in_the_contract() -> None:
    unknown = {n: sorted(f) for n, f in names_in_manifests().items() if n not in CONTRACT_NAMES}
    assert not unknown, f"LOGNOTIFY_* names that the contract does not define: {unknown}"


def test_every_name_is_one_lognotify_knows() -> None:
    known = known_env_names()
    unknown = {n: sorted(f) for n, f in names_in_manifests().items() if n not in known}
    assert not unknown, f"LOGNOTIFY_* names that lognotify does not read: {unknown}"


@pytest.mark.parametrize("which", WORKLOADS)
def test_configmap_values_are_strings(which: str) -> None:
    for doc in resources(WORKLOADS[which][0]):
        if doc["kind"] == "ConfigMap":
            for key, value in (doc.get("data") or {}).items():
                assert isinstance(value, str), f"{doc['metadata']['name']}: {key} is not a string"


@pytest.mark.parametrize("which", WORKLOADS)
def test_lognotify_accepts_the_settings(which: str, tmp_path: Path) -> None:
    from lognotify.settings import load_settings

    directory, workload = WORKLOADS[which]
    environ = effective_settings(directory, workload())
    password = tmp_path / "password"
    password.write_text("s3cret-Passw0rd\n", encoding="utf-8")
    environ["LOGNOTIFY_SMTP_PASSWORD_FILE"] = str(password)
    environ.pop("LOGNOTIFY_TEMPLATE_DIR", None)  # a mounted folder, absent here
    scopes: tuple[Scope, ...] = (
        ("all", "cli", "env") if which == "cronjob" else ("all", "watch", "env")
    )
    load_settings(environ=environ, scopes=scopes)  # raises ConfigError on a bad value


@pytest.mark.parametrize("which", WORKLOADS)
def test_downward_api_variables_are_exactly_these(which: str) -> None:
    expected = CRONJOB_DOWNWARD_API if which == "cronjob" else WATCH_DOWNWARD_API
    workload = WORKLOADS[which][1]()
    got = {}
    for name, entry in env_entries(workload).items():
        source = entry.get("valueFrom", {})
        for kind, key in (("fieldRef", "fieldPath"), ("resourceFieldRef", "resource")):
            if kind in source:
                got[name] = (kind, source[kind][key])
    assert got == expected


def test_memory_limit_is_passed_in_bytes() -> None:
    ref = env_entries(cronjob())["LOGNOTIFY_MEMORY_LIMIT"]["valueFrom"]["resourceFieldRef"]
    assert str(ref.get("divisor")) == "1", "the divisor must be 1: lognotify reads bytes"
    assert (
        ref.get("containerName", container_of(cronjob())["name"]) == container_of(cronjob())["name"]
    )


# ---- the CronJob ---------------------------------------------------------------------------------


def test_cronjob_runs_the_job_under_lognotify() -> None:
    c = container_of(cronjob())
    assert c["command"] == ["lognotify", "--"]
    assert c.get("args"), "the job goes in args"


def test_cronjob_scheduling_policy() -> None:
    spec = cronjob()["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert isinstance(spec["successfulJobsHistoryLimit"], int)
    assert isinstance(spec["failedJobsHistoryLimit"], int)
    assert spec["failedJobsHistoryLimit"] >= 1
    deadline = job_spec()["activeDeadlineSeconds"]
    assert isinstance(deadline, int)
    assert deadline > 0
    assert pod_spec_of(cronjob())["restartPolicy"] == "Never"  # podFailurePolicy requires it


def test_job_is_one_indexed_completion_with_a_per_index_backoff_limit() -> None:
    job = job_spec()
    assert job["completions"] == 1
    assert job["parallelism"] == 1
    assert job["completionMode"] == "Indexed"  # backoffLimitPerIndex requires it
    per_index = job["backoffLimitPerIndex"]
    assert isinstance(per_index, int)
    assert per_index >= 0
    assert isinstance(job["backoffLimit"], int)
    assert job["backoffLimit"] >= per_index, (
        "with one index, a backoffLimit below backoffLimitPerIndex ends the Job early"
    )
    assert job["podReplacementPolicy"] == "Failed"  # the only value a podFailurePolicy allows


def fail_job_exit_codes() -> set[int]:
    rules = [r for r in job_spec()["podFailurePolicy"]["rules"] if r["action"] == "FailJob"]
    assert len(rules) == 1, "want one FailJob rule, on exit codes"
    codes = rules[0]["onExitCodes"]
    assert codes["operator"] == "In"
    assert codes.get("containerName") == container_of(cronjob())["name"]
    return set(codes["values"])


def test_pod_failure_policy_fails_at_once_on_timeout_and_configuration_error() -> None:
    assert fail_job_exit_codes() == {2, 124}
    ignore = [r for r in job_spec()["podFailurePolicy"]["rules"] if r["action"] == "Ignore"]
    conditions = [c for r in ignore for c in r.get("onPodConditions", [])]
    assert {"type": "DisruptionTarget", "status": "True"} in conditions


def test_final_exit_codes_are_the_pod_failure_policy_ones() -> None:
    raw = effective_settings(K8S, cronjob())["LOGNOTIFY_K8S_FINAL_EXIT_CODES"]
    assert {int(code) for code in raw.split(",")} == fail_job_exit_codes()


def test_backoff_limit_is_the_jobs_backoff_limit_per_index() -> None:
    raw = effective_settings(K8S, cronjob())["LOGNOTIFY_K8S_BACKOFF_LIMIT"]
    assert int(raw) == job_spec()["backoffLimitPerIndex"]


def test_termination_message_is_where_lognotify_writes_it() -> None:
    c = container_of(cronjob())
    assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"
    path = c.get("terminationMessagePath", DEFAULT_TERMINATION_LOG)
    configured = effective_settings(K8S, cronjob()).get("LOGNOTIFY_TERMINATION_LOG")
    assert (configured or DEFAULT_TERMINATION_LOG) == path


def test_settings_come_from_the_configmap() -> None:
    for directory, workload in WORKLOADS.values():
        refs = [s["configMapRef"]["name"] for s in container_of(workload()).get("envFrom", [])]
        assert refs, "no envFrom configMapRef"
        for name in refs:
            one(directory, "ConfigMap", name)  # exists in the same kustomization


@pytest.mark.parametrize("which", WORKLOADS)
def test_smtp_password_is_a_mounted_secret_file(which: str) -> None:
    directory, workload = WORKLOADS[which]
    settings = effective_settings(directory, workload())
    for name in ("LOGNOTIFY_TO", "LOGNOTIFY_SMTP_HOST", "LOGNOTIFY_SMTP_PASSWORD_FILE"):
        assert name in settings, f"the container does not get {name}"
    assert "LOGNOTIFY_SMTP_PASSWORD" not in settings, "the password must not be a plain variable"
    for doc in resources(directory):
        if doc["kind"] == "ConfigMap":
            assert not any("PASSWORD" in k for k in (doc.get("data") or {})), doc["metadata"][
                "name"
            ]
    path = settings["LOGNOTIFY_SMTP_PASSWORD_FILE"]
    mount, volume = volume_for_path(workload(), path)
    assert mount.get("readOnly") is True
    secret = volume.get("secret")
    assert secret, f"{path} is not on a Secret volume"
    example = one(K8S, "Secret", secret["secretName"])  # k8s/secret.example.yaml shows its shape
    relative = path[len(mount["mountPath"].rstrip("/")) + 1 :]
    key = {i["path"]: i["key"] for i in secret.get("items", [])}.get(relative, relative)
    assert key in (example.get("stringData") or {}) or key in (example.get("data") or {}), (
        f"the example Secret has no key {key!r} for {path}"
    )
    mode = secret.get("defaultMode", 0o644)
    assert mode & 0o007 == 0, f"the password file is world-readable (mode {mode:o})"


def test_template_dir_is_the_templates_configmap() -> None:
    template_dir = effective_settings(K8S, cronjob())["LOGNOTIFY_TEMPLATE_DIR"]
    mount, volume = volume_for_path(cronjob(), template_dir)
    assert mount["mountPath"].rstrip("/") == template_dir.rstrip("/")
    ref = volume.get("configMap")
    assert ref, f"{template_dir} is not a ConfigMap volume"
    templates = one(K8S, "ConfigMap", ref["name"])
    extra = set(templates.get("data") or {}) - TEMPLATE_FILES
    assert not extra, f"keys that are not template names: {sorted(extra)}"


@pytest.mark.parametrize("which", WORKLOADS)
def test_hardened_security_context(which: str) -> None:
    workload = WORKLOADS[which][1]()
    pod, c = pod_spec_of(workload), container_of(workload)
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    assert psc.get("runAsNonRoot") is True or csc.get("runAsNonRoot") is True
    assert {**psc, **csc}.get("runAsUser") == 10001
    assert csc.get("readOnlyRootFilesystem") is True
    assert csc.get("allowPrivilegeEscalation") is False
    assert csc.get("privileged", False) is False
    assert csc.get("capabilities", {}).get("drop") == ["ALL"]
    assert not csc.get("capabilities", {}).get("add")
    seccomp = csc.get("seccompProfile") or psc.get("seccompProfile") or {}
    assert seccomp.get("type") == "RuntimeDefault"
    mount, volume = volume_for_path(workload, "/tmp")
    assert mount["mountPath"] == "/tmp"
    assert "emptyDir" in volume, "/tmp must be an emptyDir"
    assert not mount.get("readOnly", False)
    assert pod.get("enableServiceLinks") is False


@pytest.mark.parametrize("which", WORKLOADS)
def test_resources_with_memory_request_equal_to_limit(which: str) -> None:
    resources_ = container_of(WORKLOADS[which][1]()).get("resources", {})
    for kind in ("requests", "limits"):
        for what in ("cpu", "memory"):
            assert what in resources_.get(kind, {}), f"resources.{kind}.{what} is not set"
    requests, limits = resources_["requests"], resources_["limits"]
    assert quantity_bytes(requests["memory"]) == quantity_bytes(limits["memory"])


def backoff_before(attempt: int) -> float:
    """The Job controller's delay before attempt number ``attempt`` (2 and up)."""
    delay: float = BACKOFF_FIRST * 2.0 ** (attempt - 2)
    return min(delay, BACKOFF_CAP)


def job_budget(attempts: int, per_attempt: float) -> float:
    """Seconds a Job needs for ``attempts`` attempts of ``per_attempt`` each, back-off included."""
    return attempts * per_attempt + sum(backoff_before(n) for n in range(2, attempts + 1))


def test_backoff_doubles_from_10_s_up_to_6_min() -> None:
    assert [backoff_before(n) for n in range(2, 10)] == [10, 20, 40, 80, 160, 320, 360, 360]
    assert job_budget(1, 100) == 100
    assert job_budget(3, 100) == 300 + 10 + 20
    assert job_budget(8, 0) == 10 + 20 + 40 + 80 + 160 + 320 + 360


def cronjob_budget() -> tuple[int, float, str]:
    """The Job's attempts, the seconds they need at worst, and the sum spelled out."""
    settings = effective_settings(K8S, cronjob())
    assert settings.get("LOGNOTIFY_TIMEOUT"), "without LOGNOTIFY_TIMEOUT an attempt is unbounded"
    timeout = seconds(settings, "LOGNOTIFY_TIMEOUT", 0)
    kill_grace = seconds(settings, "LOGNOTIFY_KILL_GRACE", DEFAULT_KILL_GRACE)
    delivery = seconds(settings, "LOGNOTIFY_DELIVERY_TIMEOUT", DEFAULT_DELIVERY_TIMEOUT)
    job = job_spec()
    attempts = min(job["backoffLimitPerIndex"], job["backoffLimit"]) + 1
    per_attempt = timeout + kill_grace + delivery + POD_START_ALLOWANCE
    backoff = job_budget(attempts, 0)
    sum_ = (
        f"{attempts} x ({timeout:g} timeout + {kill_grace:g} kill_grace + {delivery:g} delivery"
        f" + {POD_START_ALLOWANCE:g} pod start) + {backoff:g} back-off"
    )
    return attempts, job_budget(attempts, per_attempt), sum_


def test_every_attempt_fits_in_the_job_deadline() -> None:
    _, budget, sum_ = cronjob_budget()
    deadline = job_spec()["activeDeadlineSeconds"]
    assert budget <= deadline, (
        f"activeDeadlineSeconds {deadline} < {sum_} = {budget:g}: the deadline, not lognotify's"
        " timeout, would stop the last attempt"
    )


def test_the_budget_comment_matches_the_values() -> None:
    _, budget, sum_ = cronjob_budget()
    deadline = job_spec()["activeDeadlineSeconds"]
    text = (K8S / "cronjob.yaml").read_text(encoding="utf-8")
    assert re.search(rf"\b{budget:g} s <= {deadline}\b", text), (
        f"cronjob.yaml's comment does not show the budget: {sum_} = {budget:g} s <= {deadline}"
    )


@pytest.mark.parametrize("which", WORKLOADS)
def test_grace_period_covers_kill_grace_and_delivery(which: str) -> None:
    directory, workload = WORKLOADS[which]
    settings = effective_settings(directory, workload())
    # The watcher runs no command: on SIGTERM it only finishes the report in flight.
    kill_grace = seconds(
        settings, "LOGNOTIFY_KILL_GRACE", DEFAULT_KILL_GRACE if which == "cronjob" else 0
    )
    delivery = seconds(settings, "LOGNOTIFY_DELIVERY_TIMEOUT", DEFAULT_DELIVERY_TIMEOUT)
    grace = pod_spec_of(workload()).get("terminationGracePeriodSeconds", 30)
    assert grace > kill_grace + delivery, (
        f"terminationGracePeriodSeconds {grace} must exceed kill_grace {kill_grace:g}"
        f" + delivery_timeout {delivery:g}, or the kubelet's SIGKILL can cut the report short"
    )


# ---- the watcher ---------------------------------------------------------------------------------


def test_watcher_runs_alone_even_during_a_rollout() -> None:
    spec = deployment()["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def test_watcher_runs_lognotify_watch_as_its_service_account() -> None:
    pod, c = pod_spec_of(deployment()), container_of(deployment())
    assert c["command"] == ["lognotify", "watch"]
    assert not c.get("args")
    account = one(WATCH, "ServiceAccount")["metadata"]["name"]
    assert pod["serviceAccountName"] == account == "lognotify-watch"
    assert pod["automountServiceAccountToken"] is True, "it needs the API"


def test_watcher_memory_is_256_mib() -> None:
    resources_ = container_of(deployment())["resources"]
    assert quantity_bytes(resources_["limits"]["memory"]) == 256 << 20


def test_watch_settings_are_in_its_configmap() -> None:
    settings = effective_settings(WATCH, deployment())
    for name in (
        "LOGNOTIFY_WATCH_NAMESPACES",
        "LOGNOTIFY_WATCH_SELECTOR",
        "LOGNOTIFY_WATCH_STUCK_AFTER",
        "LOGNOTIFY_TO",
        "LOGNOTIFY_SMTP_HOST",
    ):
        assert name in settings, name


def rules_of(role: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """A role's rules, one (apiGroup, resource, verb, resourceName or "") per right."""
    rights = set()
    for rule in role["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs", "resourceNames"}, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    for name in rule.get("resourceNames") or [""]:
                        rights.add((group, resource, verb, name))
    return rights


def test_cluster_role_is_read_only_jobs_pods_and_logs() -> None:
    assert rules_of(one(WATCH, "ClusterRole", "lognotify-watch")) == CLUSTER_RULES


def test_state_role_writes_only_the_state_configmap() -> None:
    assert rules_of(one(WATCH, "Role", "lognotify-watch-state")) == STATE_RULES


def test_the_rights_checks_see_an_added_verb_or_resource() -> None:
    role = copy.deepcopy(one(WATCH, "ClusterRole", "lognotify-watch"))
    role["rules"][0]["verbs"].append("delete")
    assert rules_of(role) != CLUSTER_RULES
    role = copy.deepcopy(one(WATCH, "Role", "lognotify-watch-state"))
    role["rules"][1]["resourceNames"].append("other")
    assert rules_of(role) != STATE_RULES


def test_no_other_rights_are_granted() -> None:
    kinds = [d["kind"] for d in resources(WATCH)]
    assert kinds.count("ClusterRole") == kinds.count("ClusterRoleBinding") == 1
    assert kinds.count("Role") == kinds.count("RoleBinding") == 1
    for kind, role_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        binding = one(WATCH, kind)
        assert binding["roleRef"]["kind"] == role_kind
        assert binding["roleRef"]["name"] == one(WATCH, role_kind)["metadata"]["name"]
        assert [(s["kind"], s["name"]) for s in binding["subjects"]] == [
            ("ServiceAccount", "lognotify-watch")
        ]


# ---- the image -----------------------------------------------------------------------------------


def dockerfile_user() -> str:
    users = re.findall(r"^\s*USER\s+(\S+)", DOCKERFILE.read_text(encoding="utf-8"), re.M)
    assert users, "the Dockerfile sets no USER"
    return str(users[-1])


def test_dockerfile_base_image_is_an_argument() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    first = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    assert first[0] == "ARG BASE_IMAGE=python:3.12-slim"
    assert re.search(r"^FROM \$\{BASE_IMAGE\}\s*$", text, re.M)


@pytest.mark.parametrize("which", WORKLOADS)
def test_pod_user_matches_the_image(which: str) -> None:
    user = dockerfile_user()
    assert re.fullmatch(r"[1-9][0-9]*", user), f"USER {user}: want a numeric non-root UID"
    workload = WORKLOADS[which][1]()
    sc = {
        **pod_spec_of(workload).get("securityContext", {}),
        **container_of(workload).get("securityContext", {}),
    }
    assert str(sc.get("runAsUser", user)) == user, "runAsUser differs from the image's USER"


# ---- docs/deploying.md ---------------------------------------------------------------------------


def docs_text() -> str:
    return DEPLOYING.read_text(encoding="utf-8")


def docs_objects() -> list[dict[str, Any]]:
    """The Kubernetes objects written out in full in the docs' ```yaml blocks."""
    found = []
    for block in re.findall(r"^[ \t]*```yaml\n(.*?)^[ \t]*```", docs_text(), re.S | re.M):
        for doc in yaml.safe_load_all(block):
            if isinstance(doc, dict) and {"apiVersion", "kind", "metadata"} <= set(doc):
                found.append(doc)
    return found


def docs_commands(pattern: str) -> list[str]:
    """The docs' shell lines (in ```sh blocks) that match ``pattern``: continuations joined,
    ``$(date +%s)`` and the block's own ``name=value`` variables replaced by their values."""
    found = []
    for block in re.findall(r"^[ \t]*```sh\n(.*?)^[ \t]*```", docs_text(), re.S | re.M):
        variables = {"$(date +%s)": str(int(time.time()))}
        for raw in block.replace("\\\n", " ").splitlines():
            line = raw.strip()
            for name, value in variables.items():
                line = line.replace(f'"{name}"', value).replace(name, value)
            assignment = re.fullmatch(r"([a-z_]+)=(\S+)", line)
            if assignment:
                variables[f"${assignment[1]}"] = assignment[2]
            elif re.search(pattern, line):
                found.append(line)
    return found


def test_docs_objects_validate() -> None:
    objects = docs_objects()
    assert any(d["kind"] == "NetworkPolicy" for d in objects), "no NetworkPolicy example"
    for version in SCHEMA_VERSIONS:
        for doc in objects:
            kubernetes_validate.validate(doc, version, strict=True)


def test_docs_network_policy_is_the_shipped_example() -> None:
    (shipped,) = load(K8S / "networkpolicy.example.yaml")
    assert shipped in docs_objects(), "docs/deploying.md and k8s/networkpolicy.example.yaml differ"


def test_docs_create_objects_in_the_kustomizations_namespaces() -> None:
    namespaces = {kustomization(d)["namespace"] for d in DIRECTORIES}
    commands = docs_commands(r"^kubectl (create (secret|job)|apply -f|logs)\b")
    assert any("create secret" in c for c in commands)
    for command in commands:
        match = re.search(r"\s-n\s+(\S+)", command)
        namespace = match[1] if match else None
        assert namespace in namespaces, (
            f"{command!r}: without -n {' or -n '.join(sorted(namespaces))} the object lands in"
            " another namespace than the pods that use it"
        )


def test_docs_manual_runs_are_reported_under_their_cronjob() -> None:
    from lognotify.kubernetes.metadata import cronjob_of

    commands = docs_commands(r"^kubectl create job\b.*--from=cronjob/")
    assert commands, "no manual-run example"
    for command in commands:
        match = re.search(r"--from=cronjob/(\S+)\s+(\S+)", command)
        assert match, command
        cron, name = match.groups()
        assert cronjob_of(name) == cron, f"{command!r} is reported as {cronjob_of(name) or name!r}"

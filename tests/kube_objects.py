"""Kubernetes objects for the tests, shaped as a cluster writes them, checked against its schema.

A CronJob's Job and its pods carry what the Job controller and the kubelet put there (labels,
owner references, finalizers, managed fields, conditions, container states), so that the
watcher meets in the tests what it meets in a cluster. ``validate`` checks any object against
the real OpenAPI schemas (kubernetes-validate, strict: an unknown field is an error).
"""

from __future__ import annotations

import copy
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]

Obj = dict[str, Any]
#: The oldest and the newest Kubernetes the objects must be valid for.
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
BACKOFF_LIMIT_MESSAGE = "Job has reached the specified backoff limit"
DEADLINE_MESSAGE = "Job was active longer than specified deadline"


def rfc3339(when: float) -> str:
    return datetime.fromtimestamp(int(when), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_rfc3339() -> str:
    return rfc3339(time.time())


def validate(obj: Obj) -> Obj:
    """``obj`` itself, once the real schemas of every version in KUBERNETES_VERSIONS accept it."""
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(step) for step in error.path)
            raise AssertionError(
                f"not a valid {obj.get('kind')} ({version}) at {where}: {error.message[:300]}"
            ) from None
    return obj


def status(code: int, reason: str, message: str, **details: Any) -> Obj:
    """A ``Status`` object, as the API server answers an error."""
    found: Obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 300 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        found["details"] = details
    return found


def _labels(name: str, uid: str) -> Obj:
    return {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    }


def _managed(manager: str, operation: str, when: float, fields: Obj, sub: str = "") -> Obj:
    entry = {
        "manager": manager,
        "operation": operation,
        "apiVersion": "v1",
        "time": rfc3339(when),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    if sub:
        entry["subresource"] = sub
    return entry


def job(
    name: str,
    namespace: str = "default",
    *,
    cronjob: str | None = None,
    labels: dict[str, str] | None = None,
    created: float | None = None,
    backoff_limit: int = 2,
    deadline: int | None = None,
    containers: tuple[str, ...] = ("main",),
    restart_policy: str = "Never",
) -> Obj:
    """A Job as its CronJob (or a user) made it, running; its pods are made with ``pod``."""
    uid = str(uuid.uuid4())
    created = time.time() - 60 if created is None else created
    meta: Obj = {
        "name": name,
        "namespace": namespace,
        "uid": uid,
        "generation": 1,
        "creationTimestamp": rfc3339(created),
        "labels": {**_labels(name, uid), **(labels or {})},
    }
    if cronjob:
        meta["annotations"] = {"batch.kubernetes.io/cronjob-scheduled-timestamp": rfc3339(created)}
        meta["ownerReferences"] = [
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": cronjob,
                "uid": str(uuid.uuid4()),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    spec: Obj = {
        "parallelism": 1,
        "completions": 1,
        "backoffLimit": backoff_limit,
        "completionMode": "NonIndexed",
        "suspend": False,
        "manualSelector": False,
        "podReplacementPolicy": "TerminatingOrFailed",
        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
        "template": {
            "metadata": {"labels": _labels(name, uid)},
            "spec": {
                "containers": [_container(c) for c in containers],
                "restartPolicy": restart_policy,
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "securityContext": {},
                "schedulerName": "default-scheduler",
            },
        },
    }
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    return validate(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": meta,
            "spec": spec,
            "status": {
                "startTime": rfc3339(created + 1),
                "active": 1,
                "ready": 0,
                "terminating": 0,
                "uncountedTerminatedPods": {},
            },
        }
    )


def _container(name: str) -> Obj:
    return {
        "name": name,
        "image": "registry.example.com/etl:1.4.2",
        "command": ["lognotify", "--"],
        "args": ["/app/sync.sh", "--full"],
        "resources": {
            "limits": {"memory": "256Mi"},
            "requests": {"cpu": "100m", "memory": "256Mi"},
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }


def failed(
    the_job: Obj,
    *,
    reason: str = "BackoffLimitExceeded",
    message: str | None = None,
    at: float | None = None,
    failures: int = 3,
) -> Obj:
    """The same Job, failed for good: FailureTarget, then Failed, as the Job controller sets."""
    done = copy.deepcopy(the_job)
    when = rfc3339(time.time() if at is None else at)
    text = message or (DEADLINE_MESSAGE if reason == "DeadlineExceeded" else BACKOFF_LIMIT_MESSAGE)
    conditions = [
        {
            "type": kind,
            "status": "True",
            "reason": reason,
            "message": text,
            "lastProbeTime": when,
            "lastTransitionTime": when,
        }
        for kind in ("FailureTarget", "Failed")
    ]
    done["status"] = {
        "startTime": the_job["status"]["startTime"],
        "failed": failures,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
        "conditions": conditions,
    }
    return validate(done)


def complete(the_job: Obj, *, at: float | None = None) -> Obj:
    """The same Job, succeeded."""
    done = copy.deepcopy(the_job)
    when = rfc3339(time.time() if at is None else at)
    conditions = [
        {"type": kind, "status": "True", "lastProbeTime": when, "lastTransitionTime": when}
        for kind in ("SuccessCriteriaMet", "Complete")
    ]
    done["status"] = {
        "startTime": the_job["status"]["startTime"],
        "completionTime": when,
        "succeeded": 1,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
        "conditions": conditions,
    }
    return validate(done)


def terminated(
    exit_code: int,
    reason: str,
    *,
    name: str = "main",
    message: str | None = None,
    started: float,
    finished: float,
) -> Obj:
    """A container's ``terminated`` state."""
    state: Obj = {
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": rfc3339(started),
        "finishedAt": rfc3339(finished),
        "containerID": f"containerd://{uuid.uuid4().hex}{uuid.uuid4().hex}",
    }
    if message is not None:
        state["message"] = message
    return state


def container_status(
    name: str = "main", *, state: Obj, last: Obj | None = None, restarts: int = 0
) -> Obj:
    """One entry of ``status.containerStatuses``."""
    found: Obj = {
        "name": name,
        "state": state,
        "lastState": last or {},
        "ready": False,
        "restartCount": restarts,
        "image": "registry.example.com/etl:1.4.2",
        "imageID": "registry.example.com/etl@sha256:" + uuid.uuid4().hex * 2,
        "started": "running" in state,
    }
    if "terminated" in state:
        found["containerID"] = state["terminated"]["containerID"]
    return found


def pod(
    the_job: Obj,
    suffix: str,
    *,
    created: float | None = None,
    node: str | None = "node-1",
    phase: str = "Running",
    statuses: list[Obj] | None = None,
    conditions: list[Obj] | None = None,
    reason: str | None = None,
    message: str | None = None,
) -> Obj:
    """A pod of ``the_job`` as the Job controller made it and the kubelet reported it."""
    meta, template = the_job["metadata"], the_job["spec"]["template"]
    name = f"{meta['name']}-{suffix}"
    created = time.time() - 30 if created is None else created
    spec = copy.deepcopy(template["spec"])
    spec.update(
        serviceAccountName="default",
        serviceAccount="default",
        priority=0,
        enableServiceLinks=True,
        preemptionPolicy="PreemptLowerPriority",
    )
    spec["tolerations"] = [
        {
            "key": f"node.kubernetes.io/{what}",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        }
        for what in ("not-ready", "unreachable")
    ]
    volume = f"kube-api-access-{uuid.uuid4().hex[:5]}"
    for container in spec["containers"]:
        container["volumeMounts"] = [
            {
                "name": volume,
                "readOnly": True,
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
            }
        ]
    spec["volumes"] = [
        {
            "name": volume,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {
                        "configMap": {
                            "name": "kube-root-ca.crt",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {
                                        "apiVersion": "v1",
                                        "fieldPath": "metadata.namespace",
                                    },
                                }
                            ]
                        }
                    },
                ],
            },
        }
    ]
    if node:
        spec["nodeName"] = node
    labels = dict(template["metadata"]["labels"])
    obj: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": f"{meta['name']}-",
            "namespace": meta["namespace"],
            "uid": str(uuid.uuid4()),
            "creationTimestamp": rfc3339(created),
            "labels": labels,
            "finalizers": ["batch.kubernetes.io/job-tracking"],
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": [
                _managed(
                    "kube-controller-manager",
                    "Update",
                    created,
                    {
                        "f:metadata": {
                            "f:generateName": {},
                            "f:labels": {f"f:{key}": {} for key in labels},
                        }
                    },
                ),
                _managed(
                    "kubelet",
                    "Update",
                    created + 5,
                    {
                        "f:status": {
                            "f:conditions": {},
                            "f:containerStatuses": {},
                            "f:phase": {},
                            "f:startTime": {},
                        }
                    },
                    "status",
                ),
            ],
        },
        "spec": spec,
        "status": _status(phase, created, node, statuses, conditions, reason, message),
    }
    return validate(obj)


def _status(
    phase: str,
    created: float,
    node: str | None,
    statuses: list[Obj] | None,
    conditions: list[Obj] | None,
    reason: str | None,
    message: str | None,
) -> Obj:
    when = rfc3339(created + 1)
    found: Obj = {"phase": phase, "qosClass": "Burstable"}
    if node:
        found.update(
            hostIP="10.0.0.5",
            hostIPs=[{"ip": "10.0.0.5"}],
            podIP="10.244.1.7",
            podIPs=[{"ip": "10.244.1.7"}],
            startTime=when,
        )
    ready = "True" if phase == "Running" else "False"
    found["conditions"] = conditions or [
        {"type": kind, "status": value, "lastProbeTime": None, "lastTransitionTime": when}
        for kind, value in (
            ("PodReadyToStartContainers", ready),
            ("Initialized", "True"),
            ("Ready", ready),
            ("ContainersReady", ready),
            ("PodScheduled", "True"),
        )
    ]
    if statuses is not None:
        found["containerStatuses"] = statuses
    if reason:
        found["reason"] = reason
    if message:
        found["message"] = message
    return found


# --- the endings the tests need ------------------------------------------------------------


def failed_pod(
    the_job: Obj,
    suffix: str,
    exit_code: int = 1,
    reason: str = "Error",
    *,
    message: str | None = None,
    started: float | None = None,
    took: float = 20,
) -> Obj:
    """A pod whose container ended with ``exit_code`` (``reason`` OOMKilled for the OOM killer)."""
    started = time.time() - 40 if started is None else started
    state = {
        "terminated": terminated(
            exit_code, reason, message=message, started=started, finished=started + took
        )
    }
    return pod(
        the_job,
        suffix,
        created=started - 2,
        phase="Failed",
        statuses=[container_status(state=state)],
    )


def evicted_pod(the_job: Obj, suffix: str, message: str, *, started: float | None = None) -> Obj:
    """A pod the kubelet evicted (node pressure): DisruptionTarget, reason Evicted."""
    started = time.time() - 40 if started is None else started
    when = rfc3339(started + 15)
    state = {
        "terminated": terminated(
            137,
            "ContainerStatusUnknown",
            started=started,
            finished=started + 15,
            message="The container could not be located when the pod was terminated",
        )
    }
    conditions = [
        {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "TerminationByKubelet",
            "message": message,
            "lastProbeTime": None,
            "lastTransitionTime": when,
        },
        {
            "type": "Ready",
            "status": "False",
            "reason": "PodFailed",
            "lastProbeTime": None,
            "lastTransitionTime": when,
        },
        {
            "type": "PodScheduled",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": rfc3339(started - 1),
        },
    ]
    return pod(
        the_job,
        suffix,
        created=started - 2,
        phase="Failed",
        conditions=conditions,
        statuses=[container_status(state=state)],
        reason="Evicted",
        message=message,
    )


def waiting_pod(
    the_job: Obj,
    suffix: str,
    reason: str = "ImagePullBackOff",
    *,
    message: str | None = None,
    created: float | None = None,
) -> Obj:
    """A pending pod whose container waits (ImagePullBackOff, CreateContainerConfigError, ...)."""
    text = message or (
        'Back-off pulling image "registry.example.com/etl:missing": ErrImagePull: '
        "failed to pull and unpack image: not found"
    )
    state = {"waiting": {"reason": reason, "message": text}}
    return pod(
        the_job, suffix, created=created, phase="Pending", statuses=[container_status(state=state)]
    )


def unschedulable_pod(
    the_job: Obj, suffix: str, message: str, *, created: float | None = None
) -> Obj:
    """A pod no node can take: PodScheduled False, Unschedulable."""
    created = time.time() - 30 if created is None else created
    conditions = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
            "lastProbeTime": None,
            "lastTransitionTime": rfc3339(created),
        }
    ]
    return pod(the_job, suffix, created=created, node=None, phase="Pending", conditions=conditions)


def config_map(name: str, namespace: str, data: dict[str, str]) -> Obj:
    return validate(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": data,
        }
    )

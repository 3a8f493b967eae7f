"""Where a run happened in Kubernetes terms, and the kubectl commands to look further."""

from __future__ import annotations

import pytest

from lognotify.kubernetes.metadata import cronjob_of, job_name, kubectl_commands
from lognotify.settings import load_settings


@pytest.mark.parametrize(
    ("job", "cronjob"),
    [
        ("nightly-etl-29001230", "nightly-etl"),
        ("a-b-c-29412345", "a-b-c"),
        ("nightly-sync-manual-1", None),  # kubectl create job --from=cronjob/...: not a CronJob's
        ("migrate-db", None),
        (None, None),
    ],
)
def test_a_cronjob_is_named_after_the_scheduled_time_suffix_of_its_jobs(
    job: str | None, cronjob: str | None
) -> None:
    assert cronjob_of(job) == cronjob


def test_the_job_name_is_the_setting_else_the_cronjob_else_the_job_else_the_program() -> None:
    assert (
        job_name(load_settings({"job_name": "set"}, {"LOGNOTIFY_K8S_JOB_NAME": "x-29001230"}), "sh")
        == "set"
    )
    assert job_name(load_settings({}, {"LOGNOTIFY_K8S_JOB_NAME": "x-29001230"}), "sh") == "x"
    assert (
        job_name(load_settings({}, {"LOGNOTIFY_K8S_JOB_NAME": "nightly-sync-manual-1"}), "sh")
        == "nightly-sync-manual-1"
    )
    assert job_name(load_settings({}, {}), "sync.sh") == "sync.sh"


def test_kubectl_commands_name_the_pod_the_job_and_the_cronjob() -> None:
    commands = kubectl_commands(
        pod="etl-29001230-x7k2p", namespace="batch", job="etl-29001230", cronjob="etl"
    )
    assert commands == [
        "kubectl logs -n batch etl-29001230-x7k2p",
        "kubectl describe pod -n batch etl-29001230-x7k2p",
        "kubectl describe job -n batch etl-29001230",
        "kubectl describe cronjob -n batch etl",
    ]
    assert kubectl_commands(pod=None, namespace=None, job="j", cronjob=None) == [
        "kubectl describe job j",
        "kubectl logs job/j",
    ]
    assert kubectl_commands(pod=None, namespace=None, job=None, cronjob=None) == []

"""An incident from the API: the failed Job's pods listed afresh, the right log, or why none."""

from __future__ import annotations

from pathlib import Path

import kube_objects as k
import pytest
from kube_api import KubeAPI

from lognotify.kubernetes.watch.api import Api, ApiError
from lognotify.kubernetes.watch.classify import job_failure
from lognotify.kubernetes.watch.incidents import job_failed, log_of
from lognotify.kubernetes.watch.objects import job_view

NOW = 1_780_000_000.0


@pytest.fixture
def api(kube: KubeAPI, tmp_path: Path) -> Api:
    return Api(kube.client(tmp_path / "kubeconfig"))


def test_the_log_of_the_last_failed_pod_is_the_output(kube: KubeAPI, api: Api) -> None:
    job = kube.add(k.job("a", "etl"))
    kube.add(k.failed_pod(job, "aaaaa", 1, started=NOW - 500))
    kube.add(k.failed_pod(job, "bbbbb", 2, started=NOW - 100))
    kube.set_log("etl", "a-aaaaa", b"first attempt\n")
    kube.set_log("etl", "a-bbbbb", b"second attempt\n")
    incident = job_failed(api, job_view(kube.replace(k.failed(job))), 1 << 20, NOW)
    assert incident is not None
    assert incident.output is not None
    assert incident.output.data == b"second attempt\n"
    assert len(incident.attempts) == 2


def test_a_restarted_containers_log_is_its_previous_run(kube: KubeAPI, api: Api) -> None:
    job = kube.add(k.job("a", "etl", restart_policy="OnFailure"))
    last = {"terminated": k.terminated(2, "Error", started=NOW - 60, finished=NOW - 50)}
    state = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}}
    kube.add(k.pod(job, "aaaaa", statuses=[k.container_status(state=state, last=last, restarts=2)]))
    kube.set_log("etl", "a-aaaaa", b"the run that failed\n", previous=True)
    kube.set_log("etl", "a-aaaaa", b"the run starting again\n")
    incident = job_failed(api, job_view(kube.replace(k.failed(job))), 1 << 20, NOW)
    assert incident is not None
    assert incident.output is not None
    assert incident.output.data == b"the run that failed\n"
    assert kube.requests[-1].query == {"container": "main", "previous": "true"}


def test_a_log_that_is_gone_gives_no_output_and_the_message_says_so(
    kube: KubeAPI, api: Api
) -> None:
    job = kube.add(k.job("a", "etl"))
    kube.add(k.failed_pod(job, "aaaaa", 1))
    kube.drop_logs("etl", "a-aaaaa")
    incident = job_failed(api, job_view(kube.replace(k.failed(job))), 1 << 20, NOW)
    assert incident is not None
    assert incident.output is None
    assert incident.message == (
        f"{k.BACKOFF_LIMIT_MESSAGE} The log of pod a-aaaaa is gone "
        "(the API answered 404: the server could not find the requested resource)."
    )


def test_a_job_whose_pods_are_all_gone_says_there_is_no_log(kube: KubeAPI, api: Api) -> None:
    job = kube.add(k.job("a", "etl"))
    incident = job_failed(api, job_view(kube.replace(k.failed(job))), 1 << 20, NOW)
    assert incident is not None
    assert incident.output is None
    assert incident.attempts == ()
    assert incident.message.endswith("No pod of this Job is left to read a log from.")


def test_a_job_mailed_from_inside_is_no_incident(kube: KubeAPI, api: Api) -> None:
    job = kube.add(k.job("a", "etl"))
    said = "lognotify: FAILED a (exit 3); report sent <20260501.1@etl-pod>"
    kube.add(k.failed_pod(job, "aaaaa", 3, message=said))
    assert job_failed(api, job_view(kube.replace(k.failed(job))), 1 << 20, NOW) is None
    assert not any("/log" in r.path for r in kube.requests)


def test_an_api_that_does_not_answer_is_raised_for_a_later_try(kube: KubeAPI, api: Api) -> None:
    job = kube.add(k.job("a", "etl"))
    pod = kube.add(k.failed_pod(job, "aaaaa", 1))
    verdict = job_failure(job_view(k.failed(job)), [pod])
    kube.stop()
    with pytest.raises(ApiError, match="cannot reach"):
        log_of(api, "etl", verdict, 1 << 20)

"""run_watch end to end: the real ``kubernetes`` client against the test API server.

One pass (``once``) runs here directly. A long-running watch runs in this (the main) thread
while a driver thread changes the cluster, waits for what the watcher did (its reports, the
server's record of requests), and ends it with SIGTERM, as the kubelet would. The real process
(``watch_runner.py``) is used where a process must be: SIGTERM with a report in flight.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kube_objects as k
import pytest
from kube_api import KubeAPI

from lognotify.kubernetes.watch import Incident, WatchOptions, run_watch
from lognotify.kubernetes.watch.state import NAME

STATE_NS = "lognotify"
RUNNER = Path(__file__).with_name("watch_runner.py")


@pytest.fixture
def client(kube: KubeAPI, tmp_path: Path) -> Any:
    return kube.client(tmp_path / "kubeconfig")


class Reports:
    """A report function: remembers every incident; refuses the first ``refuse`` of them."""

    def __init__(self, refuse: int = 0, on_call: Callable[[Incident], None] | None = None) -> None:
        self.calls: list[Incident] = []
        self.taken: list[Incident] = []
        self.refuse = refuse
        self.on_call = on_call
        self.changed = threading.Condition()

    def __call__(self, incident: Incident) -> bool:
        if self.on_call:
            self.on_call(incident)
        with self.changed:
            self.calls.append(incident)
            ok = len(self.calls) > self.refuse
            if ok:
                self.taken.append(incident)
            self.changed.notify_all()
            return ok

    def wait(self, count: int, timeout: float = 20) -> list[Incident]:
        """Wait until ``count`` reports were taken; all those taken so far."""
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.taken) >= count, timeout):
                raise TimeoutError(f"{len(self.taken)} reports taken, not {count}: {self.calls}")
            return list(self.taken)

    def jobs(self) -> list[str]:
        return [incident.job for incident in self.taken]


class Lines(list[str]):
    """The watcher's ``say``: every line, and a way to wait for one."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()

    def __call__(self, line: str) -> None:
        with self.changed:
            self.append(line)
            self.changed.notify_all()

    def wait(self, text: str, timeout: float = 20) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: any(text in line for line in self), timeout):
                raise TimeoutError(f"no line with {text!r}: {list(self)}")


def once(client: Any, reports: Reports, **options: Any) -> tuple[int, Lines]:
    lines = Lines()
    options.setdefault("state_namespace", STATE_NS)
    code = run_watch(WatchOptions(once=True, **options), reports, api_client=client, say=lines)
    return code, lines


def watch(
    client: Any,
    kube: KubeAPI,
    reports: Reports,
    drive: Callable[[], object],
    *,
    lines: Lines | None = None,
    connected: bool = True,
    **options: Any,
) -> Lines:
    """Watch (long-running) in this thread while ``drive`` runs in another; then SIGTERM.

    ``drive`` starts once every reader is watching (with ``connected``), else at once.
    """
    lines = Lines() if lines is None else lines
    failed: list[BaseException] = []
    options.setdefault("state_namespace", STATE_NS)
    readers = 2 * max(len(options.get("namespaces", ())), 1)

    def driver() -> None:
        try:
            if connected:
                kube.wait_until(lambda: len(kube.watches) >= readers)
            drive()
        except BaseException as exc:
            failed.append(exc)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # a stray SIGTERM ends nothing
    try:
        thread = threading.Thread(target=driver)
        thread.start()
        code = run_watch(WatchOptions(**options), reports, api_client=client, say=lines)
        thread.join()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if failed:
        raise failed[0]
    assert code == 0
    return lines


def reported(kube: KubeAPI) -> set[str]:
    """The uids recorded in the state ConfigMap, whatever the scope."""
    found = kube.get("configmaps", STATE_NS, NAME)
    entries: set[str] = set()
    for value in ((found or {}).get("data") or {}).values():
        entries |= {line for line in value.splitlines() if line and not line.startswith("#")}
    return entries


def oom_job(
    kube: KubeAPI,
    name: str = "nightly-etl-29001230",
    namespace: str = "etl",
    *,
    cronjob: str | None = "nightly-etl",
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A CronJob's Job whose three attempts failed, the last one OOM-killed, with its log."""
    job = kube.add(
        k.job(name, namespace, cronjob=cronjob, labels=labels, created=time.time() - 900)
    )
    start = time.time() - 800
    kube.add(k.failed_pod(job, "a1b2c", 1, started=start))
    kube.add(k.failed_pod(job, "d3e4f", 2, started=start + 200))
    kube.add(k.failed_pod(job, "g5h6i", 137, "OOMKilled", started=start + 400))
    kube.set_log(namespace, f"{name}-g5h6i", b"loading batch 42\n" * 1000 + b"allocating 2 GiB\n")
    return kube.replace(k.failed(job))


def failing(kube: KubeAPI, name: str, namespace: str = "etl", **labels: str) -> dict[str, Any]:
    """A Job that failed with exit 3 (one attempt)."""
    job = kube.add(k.job(name, namespace, labels=labels or None))
    kube.add(k.failed_pod(job, "zz9zz", 3))
    return kube.replace(k.failed(job, failures=1))


# --- one pass -------------------------------------------------------------------------------


def test_a_backoff_failure_ending_in_oom_is_one_report_with_every_attempt_and_the_log(
    kube: KubeAPI, client: Any
) -> None:
    job = oom_job(kube)
    reports = Reports()
    code, _ = once(client, reports)
    assert code == 0
    [incident] = reports.taken
    assert (incident.kind, incident.key) == ("job-failed", job["metadata"]["uid"])
    assert (incident.namespace, incident.job, incident.cronjob) == (
        "etl",
        job["metadata"]["name"],
        "nightly-etl",
    )
    assert (incident.reason_code, incident.exit_code, incident.signal) == ("oom", 137, 9)
    assert (incident.pod, incident.container, incident.node) == (
        "nightly-etl-29001230-g5h6i",
        "main",
        "node-1",
    )
    assert [a.pod[-5:] for a in incident.attempts] == ["a1b2c", "d3e4f", "g5h6i"]
    assert [a.exit_code for a in incident.attempts] == [1, 2, 137]
    assert [a.reason for a in incident.attempts] == ["Error", "Error", "OOMKilled"]
    assert incident.message == k.BACKOFF_LIMIT_MESSAGE
    assert incident.output is not None
    assert incident.output.data.endswith(b"allocating 2 GiB\n")
    assert incident.started <= incident.attempts[0].started <= incident.ended  # type: ignore[operator]
    assert job["metadata"]["uid"] in reported(kube)


def test_a_job_past_its_deadline_is_reported_as_deadline(kube: KubeAPI, client: Any) -> None:
    job = kube.add(k.job("report-29001", "etl", deadline=600))
    kube.add(k.failed_pod(job, "q1w2e", 143))
    kube.replace(k.failed(job, reason="DeadlineExceeded", failures=1))
    reports = Reports()
    assert once(client, reports)[0] == 0
    [incident] = reports.taken
    assert incident.reason_code == "deadline"
    assert incident.message == k.DEADLINE_MESSAGE
    assert incident.cronjob is None  # a Job of its own: the Job's name is the job


def test_an_evicted_last_pod_is_reported_as_evicted_with_the_kubelets_words(
    kube: KubeAPI, client: Any
) -> None:
    job = kube.add(k.job("scratch-29001", "etl", cronjob="scratch"))
    words = (
        "The node was low on resource: ephemeral-storage. "
        "Threshold quantity: 1Gi, available: 200Mi."
    )
    kube.add(k.evicted_pod(job, "r4t5y", words))
    kube.replace(k.failed(job, failures=1))
    reports = Reports()
    once(client, reports)
    [incident] = reports.taken
    assert (incident.reason_code, incident.message) == ("evicted", words)
    assert incident.attempts[0].reason == "Evicted"


def test_a_job_reported_from_inside_is_not_reported_again_but_recorded(
    kube: KubeAPI, client: Any
) -> None:
    job = kube.add(k.job("sync-29001", "etl", cronjob="sync"))
    said = "lognotify: FAILED sync (exit 3); report sent <1716.42@etl-host>"
    kube.add(k.failed_pod(job, "u7i8o", 3, message=said))
    kube.replace(k.failed(job, failures=1))
    reports = Reports()
    code, lines = once(client, reports)
    assert (code, reports.calls) == (0, [])
    assert any("reported it already" in line for line in lines)
    assert job["metadata"]["uid"] in reported(kube)


def test_a_report_saved_inside_but_not_sent_is_reported(kube: KubeAPI, client: Any) -> None:
    job = kube.add(k.job("sync-29002", "etl", cronjob="sync"))
    said = "lognotify: FAILED sync (exit 3); report saved /tmp/lognotify-outbox-0/x.eml"
    kube.add(k.failed_pod(job, "u7i8o", 3, message=said))
    kube.replace(k.failed(job, failures=1))
    reports = Reports()
    once(client, reports)
    assert reports.jobs() == ["sync-29002"]


def test_a_stuck_pod_is_reported_once_when_old_enough_and_a_younger_one_not_yet(
    kube: KubeAPI, client: Any
) -> None:
    old = kube.add(k.job("pull-29001", "etl"))
    kube.add(k.waiting_pod(old, "p0p0p", created=time.time() - 3600))
    young = kube.add(k.job("pull-29002", "etl"))
    kube.add(
        k.waiting_pod(
            young,
            "p1p1p",
            "CreateContainerConfigError",
            message='secret "etl-db" not found',
            created=time.time() - 60,
        )
    )
    reports = Reports()
    once(client, reports)
    [incident] = reports.taken
    assert (incident.kind, incident.reason_code, incident.job) == (
        "not-started",
        "not-started",
        "pull-29001",
    )
    assert incident.message.startswith('Back-off pulling image "registry.example.com/etl:missing"')
    assert (incident.exit_code, incident.output, incident.container) == (0, None, "main")
    once(client, reports)
    assert len(reports.taken) == 1  # the same pod is not reported twice
    once(client, reports, stuck_after=30)
    assert reports.jobs() == ["pull-29001", "pull-29002"]
    assert reports.taken[1].message == 'secret "etl-db" not found'


def test_an_unschedulable_pod_is_not_started_with_the_schedulers_words(
    kube: KubeAPI, client: Any
) -> None:
    job = kube.add(k.job("big-29001", "etl"))
    words = "0/3 nodes are available: 3 Insufficient memory."
    kube.add(k.unschedulable_pod(job, "b1g00", words, created=time.time() - 3600))
    reports = Reports()
    once(client, reports)
    [incident] = reports.taken
    assert (incident.reason_code, incident.message, incident.node, incident.container) == (
        "not-started",
        words,
        None,
        None,
    )


def test_only_the_namespaces_watched_are_reported(kube: KubeAPI, client: Any) -> None:
    failing(kube, "a-1", "team-a")
    failing(kube, "b-1", "team-b")
    failing(kube, "c-1", "team-c")
    reports = Reports()
    once(client, reports, namespaces=("team-a", "team-c"))
    assert sorted(reports.jobs()) == ["a-1", "c-1"]
    assert all(
        "/namespaces/team-" in r.path
        for r in kube.requests
        if "/jobs" in r.path or "/pods" in r.path
    )


def test_only_the_jobs_the_selector_matches_are_reported_and_their_pods(
    kube: KubeAPI, client: Any
) -> None:
    failing(kube, "mine-1", team="data")
    failing(kube, "theirs-1", team="web")
    stuck = kube.add(k.job("theirs-2", "etl", labels={"team": "web"}))
    kube.add(k.waiting_pod(stuck, "s1s1s", created=time.time() - 3600))
    reports = Reports()
    once(client, reports, selector="team=data")
    assert reports.jobs() == ["mine-1"]


def test_the_same_cluster_twice_is_reported_once(kube: KubeAPI, client: Any) -> None:
    oom_job(kube)
    reports = Reports()
    once(client, reports)
    once(client, reports)
    assert len(reports.taken) == 1
    failing(kube, "later-1")
    once(client, reports)
    assert reports.jobs() == ["nightly-etl-29001230", "later-1"]


def test_a_report_not_taken_is_not_recorded_and_the_next_pass_tries_again(
    kube: KubeAPI, client: Any
) -> None:
    job = failing(kube, "refused-1")
    reports = Reports(refuse=1)
    code, lines = once(client, reports)
    assert (code, len(reports.calls), reports.taken) == (0, 1, [])
    assert job["metadata"]["uid"] not in reported(kube)
    assert any("were not taken" in line for line in lines)
    once(client, reports)
    assert reports.jobs() == ["refused-1"]
    assert job["metadata"]["uid"] in reported(kube)


def test_an_unreachable_api_ends_a_pass_with_1_and_one_line_saying_where_and_why(
    kube: KubeAPI, client: Any
) -> None:
    kube.stop()
    code, lines = once(client, Reports())
    assert code == 1
    [why] = [line for line in lines if "cannot reach" in line]
    assert why == f"cannot reach the Kubernetes API at {kube.url}: connection refused"


def test_the_start_line_says_what_is_watched_and_where_the_record_is(
    kube: KubeAPI, client: Any
) -> None:
    _, lines = once(client, Reports(), namespaces=("etl", "ops"), selector="team=data")
    assert lines[0] == (
        f"one pass over Jobs in etl, ops (selector team=data) at {kube.url}; pods not started "
        f"after 10m are reported; reports are recorded in ConfigMap {STATE_NS}/{NAME}"
    )


# --- watching -------------------------------------------------------------------------------


def test_a_job_that_fails_while_watched_is_reported_once(kube: KubeAPI, client: Any) -> None:
    reports = Reports()

    def drive() -> None:
        oom_job(kube)
        reports.wait(1)
        failing(kube, "sentinel-1")  # comes after every event of the first
        reports.wait(2)

    lines = watch(client, kube, reports, drive)
    assert reports.jobs() == ["nightly-etl-29001230", "sentinel-1"]
    assert lines[0].startswith("watching Jobs in all namespaces (no selector)")


def test_a_young_stuck_pod_is_reported_when_it_comes_of_age_without_any_event(
    kube: KubeAPI, client: Any
) -> None:
    old = kube.add(k.job("pull-1", "etl"))
    kube.add(k.waiting_pod(old, "o0o0o", created=time.time() - 3600))
    young = kube.add(k.job("pull-2", "etl"))
    kube.add(k.waiting_pod(young, "y0y0y", "ErrImagePull", created=time.time()))
    reports = Reports()
    changes: list[int] = []

    def drive() -> None:
        reports.wait(1)
        assert reports.jobs() == ["pull-1"]
        changes.append(sum(1 for event in kube.history if event[2] != "configmaps"))
        reports.wait(2, timeout=10)
        changes.append(sum(1 for event in kube.history if event[2] != "configmaps"))

    watch(client, kube, reports, drive, stuck_after=3)
    assert changes[0] == changes[1]  # no event came: the timer did it
    assert reports.jobs() == ["pull-1", "pull-2"]
    assert reports.taken[1].attempts[0].reason == "ErrImagePull"


def test_a_dropped_watch_resumes_where_it_was_without_missing_or_repeating(
    kube: KubeAPI, client: Any
) -> None:
    reports = Reports()

    def drive() -> None:
        failing(kube, "first-1")
        reports.wait(1)
        lists = kube.count("GET", r"/jobs$")
        with kube.lock:  # dropped, and a Job fails before the watch is back
            kube.drop_watches()
            failing(kube, "gap-1")
        reports.wait(2)
        failing(kube, "after-1")
        reports.wait(3)
        assert kube.count("GET", r"/jobs$") - lists == 1  # one watch again, no list again
        resumed = [r for r in kube.requests if r.path.endswith("/jobs") and r.query.get("watch")]
        assert int(resumed[-1].query["resourceVersion"]) > int(resumed[0].query["resourceVersion"])

    watch(client, kube, reports, drive)
    assert reports.jobs() == ["first-1", "gap-1", "after-1"]


def test_after_410_gone_the_watcher_lists_again_and_reports_only_what_is_new(
    kube: KubeAPI, client: Any
) -> None:
    reports = Reports()

    def drive() -> None:
        failing(kube, "first-1")
        reports.wait(1)
        with kube.lock:
            kube.drop_watches()
            failing(kube, "gap-1")
            kube.compact()
        reports.wait(2)
        failing(kube, "after-1")
        reports.wait(3)
        listed = [r for r in kube.requests if r.path.endswith("/jobs") and not r.query.get("watch")]
        assert len(listed) == 2  # the first list, and the one after 410

    watch(client, kube, reports, drive)
    assert reports.jobs() == ["first-1", "gap-1", "after-1"]


def test_a_restarted_watcher_reports_only_what_it_had_not(kube: KubeAPI, client: Any) -> None:
    reports = Reports()
    oom_job(kube)
    watch(client, kube, reports, lambda: reports.wait(1))
    failing(kube, "while-stopped-1")
    watch(client, kube, reports, lambda: reports.wait(2))
    once(client, reports)
    assert reports.jobs() == ["nightly-etl-29001230", "while-stopped-1"]


def test_a_report_not_taken_is_tried_again_later_and_recorded_only_once_taken(
    kube: KubeAPI, client: Any
) -> None:
    recorded_at_call: list[bool] = []
    reports = Reports(refuse=2, on_call=lambda i: recorded_at_call.append(i.key in reported(kube)))

    def drive() -> None:
        failing(kube, "flaky-1")
        reports.wait(1, timeout=20)

    lines = watch(client, kube, reports, drive)
    assert len(reports.calls) == 3
    assert recorded_at_call == [False, False, False]
    assert reports.taken[0].key in reported(kube)
    assert sum("was not taken; trying again" in line for line in lines) == 2


def test_the_watcher_waits_out_an_unreachable_api_and_goes_on(kube: KubeAPI, client: Any) -> None:
    kube.stop()
    reports, lines = Reports(), Lines()

    def drive() -> None:
        lines.wait("trying again")
        kube.start()
        failing(kube, "after-outage-1")
        reports.wait(1)

    watch(client, kube, reports, drive, lines=lines, connected=False)
    outage = next(line for line in lines if "trying again" in line)
    assert outage.startswith(f"cannot reach the Kubernetes API at {kube.url}: connection refused")
    assert reports.jobs() == ["after-outage-1"]


# --- the real process -------------------------------------------------------------------------


def _env(
    kube: KubeAPI, tmp_path: Path, namespace: str | None = None, **extra: str
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LOGNOTIFY_", "KUBE"))
    }
    env["KUBECONFIG"] = str(kube.kubeconfig(tmp_path / "kubeconfig", namespace))
    env.update(extra)
    return env


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait_file(
    path: Path, predicate: Callable[[list[dict[str, Any]]], bool], proc: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + 30
    while not predicate(_lines(path)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, _lines(path)
        time.sleep(0.02)  # waiting on a file: nothing is ordered by this pause


def _wait_delivered(pid: int, signum: int) -> None:
    """Wait until the kernel has delivered ``signum`` to ``pid`` (it is no longer pending)."""
    bit, deadline = 1 << (signum - 1), time.monotonic() + 10
    while True:
        status = Path(f"/proc/{pid}/status").read_text()
        pending = [
            int(line.split()[1], 16)
            for line in status.splitlines()
            if line.startswith(("SigPnd:", "ShdPnd:"))
        ]
        if not any(mask & bit for mask in pending):
            return
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_sigterm_finishes_the_report_in_flight_then_exits_0(kube: KubeAPI, tmp_path: Path) -> None:
    out, hold = tmp_path / "reports.jsonl", tmp_path / "hold"
    os.mkfifo(hold)
    job = failing(kube, "in-flight-1")
    proc = subprocess.Popen(
        [sys.executable, str(RUNNER), str(out), "--hold", str(hold), "--state-namespace", STATE_NS],
        env=_env(kube, tmp_path),
        stderr=subprocess.PIPE,
    )
    try:
        _wait_file(out, lambda lines: any(line["event"] == "begin" for line in lines), proc)
        proc.send_signal(signal.SIGTERM)
        _wait_delivered(proc.pid, signal.SIGTERM)
        fifo = os.open(hold, os.O_WRONLY | os.O_NONBLOCK)  # fails if the reader is gone
        os.write(fifo, b"go\n")
        os.close(fifo)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert [line["event"] for line in _lines(out)] == ["begin", "taken"]
    assert job["metadata"]["uid"] in reported(kube)
    assert stderr.decode().startswith("lognotify: watching Jobs in all namespaces")


def test_the_record_is_kept_in_the_kubeconfig_contexts_namespace_else_the_pods(
    kube: KubeAPI, tmp_path: Path
) -> None:
    out = tmp_path / "reports.jsonl"
    first = failing(kube, "where-1")
    env = _env(kube, tmp_path, namespace="ops")
    command = [sys.executable, str(RUNNER), str(out), "--once"]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=60)
    assert first["metadata"]["uid"] in str(kube.get("configmaps", "ops", NAME))
    env["LOGNOTIFY_POD_NAMESPACE"] = "mon"  # the Downward API's namespace comes first
    run = subprocess.run(command, env=env, check=True, capture_output=True, timeout=60)
    assert f"reports are recorded in ConfigMap mon/{NAME}" in run.stderr.decode()
    assert first["metadata"]["uid"] in str(kube.get("configmaps", "mon", NAME))

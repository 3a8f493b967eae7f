"""``lognotify watch`` as users run it: the real program, the real Kubernetes client, the test
API server, and the mail that arrives."""

from __future__ import annotations

import gzip
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import kube_objects as k
from helpers import clean_env, lognotify_argv, mail_to, text_body
from kube_api import KubeAPI
from smtp_servers import Sink


def watch_env(kube: KubeAPI, sink: Sink, tmp_path: Path) -> dict[str, str]:
    return clean_env(
        KUBECONFIG=str(kube.kubeconfig(tmp_path / "kubeconfig")),
        LOGNOTIFY_POD_NAMESPACE="lognotify",
        **mail_to(sink),
        LOGNOTIFY_OUTBOX=str(tmp_path / "outbox"),
    )


def oom_job(kube: KubeAPI) -> dict[str, Any]:
    job = kube.add(
        k.job("nightly-etl-29001230", "etl", cronjob="nightly-etl", created=time.time() - 900)
    )
    start = time.time() - 800
    kube.add(k.failed_pod(job, "a1b2c", 1, started=start))
    kube.add(k.failed_pod(job, "d3e4f", 2, started=start + 200))
    kube.add(k.failed_pod(job, "g5h6i", 137, "OOMKilled", started=start + 400))
    kube.set_log(
        "etl", "nightly-etl-29001230-g5h6i", b"loading batch 42\n" * 1000 + b"allocating 2 GiB\n"
    )
    return kube.replace(k.failed(job))


def test_an_oom_killed_job_is_one_mail_with_every_attempt_and_the_log(
    kube: KubeAPI, tmp_path: Path
) -> None:
    oom_job(kube)
    with Sink() as sink:
        env = watch_env(kube, sink, tmp_path)
        done = subprocess.run(
            [*lognotify_argv(), "watch", "--once"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        again = subprocess.run(
            [*lognotify_argv(), "watch", "--once"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        (delivery,) = sink.messages  # the second pass mailed nothing: it was recorded
    assert done.returncode == 0, done.stderr.decode()
    assert again.returncode == 0, again.stderr.decode()
    message = delivery.message
    assert message["X-Lognotify-Job"] == "nightly-etl"
    assert message["X-Lognotify-Status"] == "failure"
    assert message["X-Lognotify-Reason"] == "oom"
    assert message["X-Lognotify-Exit-Code"] == "137"
    assert "(out of memory)" in str(message["Subject"])
    text = text_body(message)
    for pod in ("a1b2c", "d3e4f", "g5h6i"):
        assert f"nightly-etl-29001230-{pod}" in text
    assert "OOMKilled" in text
    assert "allocating 2 GiB" in text
    assert "kubectl describe job -n etl nightly-etl-29001230" in text
    (part,) = message.iter_attachments()
    assert gzip.decompress(part.get_content()).endswith(b"allocating 2 GiB\n")
    print(str(message["Subject"]), text.split("\n", 3)[:3], sep="\n")


def test_an_unreachable_api_is_exit_1_with_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {}}]\n"
    )
    done = subprocess.run(
        [*lognotify_argv(), "watch", "--once"],
        env=clean_env(KUBECONFIG=str(config)),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    lines = [line for line in done.stderr.decode().splitlines() if "127.0.0.1:1" in line]
    assert lines
    assert lines[-1].startswith("lognotify: ")


def test_sigterm_ends_a_long_running_watch_with_0(kube: KubeAPI, tmp_path: Path) -> None:
    with Sink() as sink:
        proc = subprocess.Popen(
            [*lognotify_argv(), "watch", "--namespace", "etl"],
            env=watch_env(kube, sink, tmp_path),
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        first = proc.stderr.readline().decode()
        assert "watching Jobs in" in first
        assert "etl" in first
        kube.wait_until(lambda: kube.watching("jobs") > 0)
        oom_job(kube)  # fails while the watcher runs
        sink.wait_for_messages(1, timeout=60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert len(sink.messages) == 1


def test_a_bad_watch_setting_is_exit_2() -> None:
    done = subprocess.run(
        [*lognotify_argv(), "watch", "--stuck-after", "soon"],
        env=clean_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--stuck-after" in done.stderr.decode()

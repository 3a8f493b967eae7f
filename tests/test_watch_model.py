"""The watcher's records, and the package's promise: it loads without the Kubernetes client."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lognotify.kubernetes.watch import Incident, PodAttempt, WatchOptions


def test_the_options_default_to_the_contracts_values() -> None:
    options = WatchOptions()
    assert (options.namespaces, options.selector, options.once) == ((), None, False)
    assert (options.stuck_after, options.max_bytes, options.state_namespace) == (
        600.0,
        1 << 20,
        None,
    )


def test_records_are_immutable_and_compare_by_value() -> None:
    attempt = PodAttempt(
        pod="p",
        node=None,
        started=None,
        ended=None,
        exit_code=1,
        signal=None,
        reason="Error",
        message=None,
    )
    assert attempt == attempt.replace()
    with pytest.raises(AttributeError):
        attempt.pod = "q"  # type: ignore[misc]
    with pytest.raises(TypeError, match="missing field 'output'"):
        Incident(
            kind="job-failed",
            key="k",
            namespace="n",
            job="j",
            cronjob=None,
            pod=None,
            node=None,
            container=None,
            reason_code="exit",
            exit_code=0,
            signal=None,
            message="m",
            attempts=(attempt,),
            started=0.0,
            ended=0.0,
        )  # type: ignore[call-arg]


def test_importing_the_watcher_does_not_import_the_kubernetes_client() -> None:
    code = "import sys, lognotify.kubernetes.watch; print('kubernetes' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout == "False\n"


def test_without_the_client_a_watch_says_what_to_install_and_returns_1() -> None:
    code = (
        "import sys; sys.modules['kubernetes'] = None\n"
        "from lognotify.kubernetes.watch import WatchOptions, run_watch\n"
        "sys.exit(run_watch(WatchOptions(once=True), lambda i: True))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (run.returncode, run.stderr) == (
        1,
        "lognotify: lognotify watch needs the Kubernetes client: pip install 'lognotify[watch]'\n",
    )

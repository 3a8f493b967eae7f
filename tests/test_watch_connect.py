"""Where the watcher connects (kubeconfig, in-cluster) and where it keeps its record."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from kube_api import KubeAPI

from lognotify.kubernetes.watch.api import Api, ApiError
from lognotify.kubernetes.watch.connect import kubeconfig_namespace, load_client, own_namespace


def test_the_given_namespace_then_the_service_accounts_then_the_pods_then_the_kubeconfigs(
    tmp_path: Path,
) -> None:
    account = tmp_path / "namespace"
    account.write_text("from-account\n")
    missing = str(tmp_path / "none")
    env = {"LOGNOTIFY_POD_NAMESPACE": "from-pod"}
    assert own_namespace("given", lambda: "ctx", env, str(account)) == "given"
    assert own_namespace(None, lambda: "ctx", env, str(account)) == "from-account"
    assert own_namespace(None, lambda: "ctx", env, missing) == "from-pod"
    assert own_namespace(None, lambda: "ctx", {}, missing) == "ctx"
    assert own_namespace(None, lambda: None, {}, missing) == "default"
    account.write_text("")
    assert own_namespace(None, lambda: None, {}, str(account)) == "default"


def test_the_kubeconfig_is_found_through_kubeconfig_with_its_contexts_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with KubeAPI() as kube:
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig(tmp_path / "config", "ops")))
        api = Api(load_client())
        assert api.host == kube.url
        assert api.config_map("x", "y") is None
        assert kubeconfig_namespace() == "ops"


def test_without_any_configuration_one_line_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(ApiError, match="no Kubernetes configuration: not in a cluster"):
        load_client()
    assert kubeconfig_namespace() is None


def test_without_the_watch_extra_it_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['kubernetes'] = None\n"
        "from lognotify.kubernetes.watch.connect import load_client\n"
        "try:\n    load_client()\nexcept Exception as e:\n    print(e)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (
        run.stdout
        == "lognotify watch needs the Kubernetes client: pip install 'lognotify[watch]'\n"
    )

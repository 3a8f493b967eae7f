"""Where the watcher talks to, and where it keeps its record: the client and its own namespace."""

from __future__ import annotations

import os

from lognotify.kubernetes.watch.api import ApiError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

#: Where a pod finds its own namespace (the service account's mounted files).
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def _kubeconfig() -> str:
    # The client reads KUBECONFIG once, when it is imported; this reads it when it is needed.
    return os.environ.get("KUBECONFIG") or "~/.kube/config"


def load_client() -> Any:
    """The ApiClient: in-cluster service account, else KUBECONFIG or ~/.kube/config."""
    try:
        from kubernetes import client, config
    except ImportError:
        raise ApiError(
            "lognotify watch needs the Kubernetes client: pip install 'lognotify[watch]'"
        ) from None
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        try:
            config.load_kube_config(config_file=_kubeconfig(), client_configuration=configuration)  # type: ignore[no-untyped-call]
        except (config.ConfigException, OSError) as exc:
            raise ApiError(
                "no Kubernetes configuration: not in a cluster, and no usable kubeconfig "
                f"(KUBECONFIG or ~/.kube/config): {exc}"
            ) from None
    return client.ApiClient(configuration)


def kubeconfig_namespace() -> str | None:
    """The namespace of the kubeconfig's current context, when there is a kubeconfig."""
    try:
        from kubernetes import config

        _, active = config.list_kube_config_contexts(config_file=_kubeconfig())  # type: ignore[no-untyped-call]
    except Exception:  # no kubeconfig, or one the client cannot read: no namespace from it
        return None
    namespace = ((active or {}).get("context") or {}).get("namespace")
    return namespace if isinstance(namespace, str) and namespace else None


def own_namespace(
    given: str | None,
    kubeconfig: Callable[[], str | None],
    environ: Mapping[str, str],
    service_account: str = SERVICE_ACCOUNT_NAMESPACE,
) -> str:
    """Where the watcher keeps its state: ``given``, else the service account's namespace,
    else LOGNOTIFY_POD_NAMESPACE, else the kubeconfig context's, else ``default``."""
    if given:
        return given
    try:
        with open(service_account, encoding="utf-8") as file:
            found = file.read().strip()
        if found:
            return found
    except OSError:
        pass
    return environ.get("LOGNOTIFY_POD_NAMESPACE") or kubeconfig() or "default"

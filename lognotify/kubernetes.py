"""Kubernetes metadata from the Downward API variables, and where to look further."""

from __future__ import annotations

import re

from lognotify._frozen import Frozen
from lognotify.settings import env_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# A CronJob names its Jobs <cronjob>-<scheduled time in minutes>.
_CRONJOB_SUFFIX = re.compile(r"^(?P<cronjob>.+)-\d+$")


class KubernetesInfo(Frozen):
    """Pod, namespace, node and Job of this run; each is None when not known."""

    __slots__ = ("pod", "namespace", "node", "job")
    pod: str | None
    namespace: str | None
    node: str | None
    job: str | None

    def __init__(
        self,
        *,
        pod: str | None = None,
        namespace: str | None = None,
        node: str | None = None,
        job: str | None = None,
    ) -> None:
        self._init(pod=pod, namespace=namespace, node=node, job=job)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> KubernetesInfo:
        """Read ``LOGNOTIFY_POD_NAME``, ``_POD_NAMESPACE``, ``_NODE_NAME``, ``_K8S_JOB_NAME``."""

        def get(name: str) -> str | None:
            found = env_value(name, environ)
            return found[0].strip() if found else None

        return cls(
            pod=get("LOGNOTIFY_POD_NAME"),
            namespace=get("LOGNOTIFY_POD_NAMESPACE"),
            node=get("LOGNOTIFY_NODE_NAME"),
            job=get("LOGNOTIFY_K8S_JOB_NAME"),
        )

    @property
    def known(self) -> bool:
        """True when any of the metadata is set."""
        return any((self.pod, self.namespace, self.node, self.job))

    @property
    def cronjob(self) -> str | None:
        """The CronJob's name: the Job's name without its numeric suffix (else the Job's name)."""
        if not self.job:
            return None
        match = _CRONJOB_SUFFIX.match(self.job)
        return match["cronjob"] if match else self.job

    def kubectl_commands(self) -> list[str]:
        """The commands to look further: logs, the Job, the pod's events."""
        ns = f" -n {self.namespace}" if self.namespace else ""
        commands = []
        if self.pod:
            commands.append(f"kubectl logs{ns} {self.pod}")
            commands.append(f"kubectl describe pod{ns} {self.pod}")
        if self.job:
            commands.append(f"kubectl describe job{ns} {self.job}")
            if not self.pod:
                commands.append(f"kubectl logs{ns} job/{self.job}")
        if self.cronjob and self.cronjob != self.job:
            commands.append(f"kubectl describe cronjob{ns} {self.cronjob}")
        return commands

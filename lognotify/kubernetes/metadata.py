"""Where a run happened in Kubernetes terms, and the kubectl commands to look further."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re

    from lognotify.settings.model import Settings

# A CronJob names its Jobs <cronjob>-<scheduled time in minutes since the epoch>: 8 digits
# or more for any date since 1970-03 (a manual `kubectl create job --from=cronjob/x x-1` is
# not taken for one of them). Compiled on first use: `lognotify -- true` never needs re.
_CRONJOB_SUFFIX = r"^(?P<cronjob>.+)-\d{8,}$"
_compiled: list[re.Pattern[str]] = []


def cronjob_of(job: str | None) -> str | None:
    """The CronJob's name, from its Job's name (``nightly-sync-29001230`` -> ``nightly-sync``).

    None when the Job's name does not look like one a CronJob made.
    """
    if not job:
        return None
    if not _compiled:
        import re

        _compiled.append(re.compile(_CRONJOB_SUFFIX))
    match = _compiled[0].match(job)
    return match["cronjob"] if match else None


def kubectl_commands(
    *, pod: str | None, namespace: str | None, job: str | None, cronjob: str | None
) -> list[str]:
    """The commands to look further: the pod's logs and events, the Job, the CronJob."""
    ns = f" -n {namespace}" if namespace else ""
    commands = []
    if pod:
        commands.append(f"kubectl logs{ns} {pod}")
        commands.append(f"kubectl describe pod{ns} {pod}")
    if job:
        commands.append(f"kubectl describe job{ns} {job}")
        if not pod:
            commands.append(f"kubectl logs{ns} job/{job}")
    if cronjob:
        commands.append(f"kubectl describe cronjob{ns} {cronjob}")
    return commands


def job_name(settings: Settings, program: str) -> str:
    """The job's name: as set, else its CronJob's, else its Job's, else the program's."""
    info = settings.kubernetes
    return settings.job_name or cronjob_of(info.job) or info.job or program or "job"

"""How ``lognotify watch`` copes with a big cluster: its first list, its memory, and churn.

    python benchmarks/watch_scale.py            # 5,000 Jobs, 20,000 pods; exit 0 = targets hold
    python benchmarks/watch_scale.py --quick    # 200 Jobs, 800 pods: proves it runs

The test API server (tests/kube_api.py) runs in a child process, filled with real-shaped
objects (each kind validated once against the real schema, then copied): most Jobs complete,
some failed and already recorded in the state ConfigMap, a few failed and new, a few running
with a pod stuck on its image. This process runs the watcher on the real ``kubernetes`` client
and measures: one pass (``--once``: list everything, report the new failures, prune and write
the record), the same pass again (nothing new), then a long-running watch through rounds of
churn (Jobs and pods made, finished and deleted), its resident memory after each round.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import signal
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

import kube_objects as k  # noqa: E402
from kube_api import KubeAPI  # noqa: E402

STATE_NS = "lognotify"
#: The targets: "a few seconds", and 200 MiB.
MAX_SECONDS, MAX_RSS_MIB = 5.0, 200.0


def _copy(proto: dict[str, Any], name: str, job: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(json.dumps(proto))
    meta = obj["metadata"]
    meta["name"], meta["uid"] = name, str(uuid.uuid4())
    if job is None:
        meta["labels"].update(
            {
                "batch.kubernetes.io/controller-uid": meta["uid"],
                "controller-uid": meta["uid"],
                "batch.kubernetes.io/job-name": name,
                "job-name": name,
            }
        )
    else:
        owner = job["metadata"]
        meta["labels"].update(
            {
                "batch.kubernetes.io/controller-uid": owner["uid"],
                "controller-uid": owner["uid"],
                "batch.kubernetes.io/job-name": owner["name"],
                "job-name": owner["name"],
            }
        )
        meta["ownerReferences"][0].update(name=owner["name"], uid=owner["uid"])
        meta["generateName"] = f"{owner['name']}-"
    return obj


def _shapes() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """One Job and one pod of each kind, validated against the real schemas, to be copied."""
    proto = k.job("proto", "ns-0", cronjob="proto")
    done = {
        "terminated": k.terminated(
            0, "Completed", started=time.time() - 99, finished=time.time() - 9
        )
    }
    return {
        "complete": (
            k.complete(proto),
            k.pod(proto, "x", phase="Succeeded", statuses=[k.container_status(state=done)]),
        ),
        "failed": (k.failed(proto), k.failed_pod(proto, "x", 137, "OOMKilled")),
        "stuck": (proto, k.waiting_pod(proto, "x", created=time.time() - 3600)),
        "running": (proto, k.pod(proto, "x")),
    }


def _kind(index: int) -> str:
    """Per hundred Jobs: 90 complete, 8 failed and recorded, 1 failed and new, 1 stuck."""
    rank = index % 100
    return (
        "complete" if rank < 90 else "recorded" if rank < 98 else "new" if rank == 98 else "stuck"
    )


def _fill(kube: KubeAPI, jobs: int, pods: int, shapes: dict[str, Any]) -> dict[str, int]:
    per_job, counts, recorded = (
        max(pods // jobs, 1),
        dict.fromkeys(("recorded", "new", "stuck"), 0),
        [],
    )
    for index in range(jobs):
        kind = _kind(index)
        job_proto, pod_proto = shapes["failed" if kind in ("recorded", "new") else kind]
        job = _copy(job_proto, f"etl-{index:05d}")
        job["metadata"]["namespace"] = f"ns-{index % 20}"
        kube.add(job)
        for attempt in range(per_job):
            pod = _copy(pod_proto, f"etl-{index:05d}-{attempt:05x}", job)
            pod["metadata"]["namespace"] = job["metadata"]["namespace"]
            kube.add(pod)
        if kind in counts:
            counts[kind] += 1
        if kind == "recorded":
            recorded.append(job["metadata"]["uid"])
    from lognotify.kubernetes.watch.state import NAME, encode, scope, scope_key

    text = scope((), None)
    kube.add(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": NAME, "namespace": STATE_NS},
            "data": {scope_key(text): encode(text, recorded)},
        }
    )
    return counts


def _churn(kube: KubeAPI, shapes: dict[str, Any], round_: int, size: int) -> None:
    """``size`` Jobs with a pod each made, completed and deleted; then a failing sentinel."""
    made = []
    for index in range(size):
        job = _copy(shapes["running"][0], f"churn-{round_}-{index}")
        job["metadata"]["namespace"] = "churn"
        pod = _copy(shapes["running"][1], f"churn-{round_}-{index}-p0000", job)
        pod["metadata"]["namespace"] = "churn"
        made.append((kube.add(job), kube.add(pod)))
    for job, _ in made:
        job["status"] = json.loads(json.dumps(shapes["complete"][0]["status"]))
        kube.replace(job)
    for job, pod in made:
        kube.delete("pods", "churn", pod["metadata"]["name"])
        kube.delete("jobs", "churn", job["metadata"]["name"])
    sentinel = _copy(shapes["failed"][0], f"sentinel-{round_}")
    sentinel["metadata"]["namespace"] = "churn"
    kube.add(sentinel)


def _server(conn: Any, jobs: int, pods: int) -> None:
    kube = KubeAPI(validate_objects=False).start()
    started = time.monotonic()
    shapes = _shapes()
    counts = _fill(kube, jobs, pods, shapes)
    conn.send((kube.port, counts, time.monotonic() - started))
    while True:
        command, *args = conn.recv()
        if command == "stop":
            kube.stop()
            return
        if command == "churn":
            _churn(kube, shapes, *args)
        conn.send(len(kube.watches))


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.pods, args.rounds = 200, 800, 2
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("fork").Process(
        target=_server, args=(child, args.jobs, args.pods)
    )
    server.start()
    port, counts, fill_seconds = parent.recv()
    print(
        f"cluster: {args.jobs} Jobs, {args.jobs * max(args.pods // args.jobs, 1)} pods in 20 "
        "namespaces "
        f"({counts['recorded']} failed and recorded, {counts['new']} failed and new, "
        f"{counts['stuck']} with a stuck pod); made in {fill_seconds:.1f} s by the server's process"
    )
    try:
        return _measure(args, port, counts, parent)
    finally:
        parent.send(("stop",))
        server.join(10)


def _measure(args: argparse.Namespace, port: int, counts: dict[str, int], control: Any) -> int:
    started = time.monotonic()
    from kubernetes import config

    from lognotify.kubernetes.watch import WatchOptions, run_watch

    path = TESTS.parent / "benchmarks" / ".watch-scale-kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "b",
                "clusters": [{"name": "b", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "b", "user": {"token": "t"}}],
                "contexts": [{"name": "b", "context": {"cluster": "b", "user": "b"}}],
            }
        )
    )
    client = config.new_client_from_config(config_file=str(path))  # type: ignore[no-untyped-call]
    path.unlink()
    # The client's API classes cost a second to import: counted here, not in the passes.
    from kubernetes.client import BatchV1Api, CoreV1Api  # noqa: F401

    print(f"import and client: {time.monotonic() - started:.2f} s, {_rss_mib():.0f} MiB resident")
    reported: list[str] = []
    lines: list[str] = []
    options = WatchOptions(once=True, state_namespace=STATE_NS)
    figures = []

    def report(incident: Any) -> bool:
        reported.append(incident.job)
        return True

    for label in ("first pass", "second pass"):
        before, began = len(reported), time.monotonic()
        code = run_watch(options, report, api_client=client, say=lines.append)
        seconds = time.monotonic() - began
        figures.append(seconds)
        print(
            f"{label} (--once): {seconds:.2f} s, {len(reported) - before} reported, exit {code}, "
            f"peak RSS {_peak_mib():.0f} MiB"
        )
    expected = counts["new"] + counts["stuck"]
    ok = len(reported) == expected and figures[0] <= MAX_SECONDS and _peak_mib() <= MAX_RSS_MIB
    print(
        f"target: first pass <= {MAX_SECONDS:g} s and peak RSS <= {MAX_RSS_MIB:g} MiB, "
        f"{expected} reports: {'holds' if ok else 'MISSED'}"
    )
    churned = _churning(args, client, control, reported)  # even when a target was missed
    return churned if ok else 1


def _churning(args: argparse.Namespace, client: Any, control: Any, reported: list[str]) -> int:
    from lognotify.kubernetes.watch import WatchOptions, run_watch

    size = max(args.jobs // 5, 10)
    rss: list[float] = []
    taken = threading.Condition()
    failed: list[BaseException] = []

    def report(incident: Any) -> bool:
        with taken:
            reported.append(incident.job)
            taken.notify_all()
        return True

    def drive() -> None:
        try:
            for round_ in range(args.rounds):
                control.send(("churn", round_, size))
                control.recv()
                with taken:
                    sentinel = f"sentinel-{round_}"
                    if not taken.wait_for(lambda: sentinel in reported, 120):  # noqa: B023
                        raise TimeoutError(f"sentinel {round_} was never reported")
                rss.append(_rss_mib())
        except BaseException as exc:
            failed.append(exc)
        finally:
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)

    thread = threading.Thread(target=drive)
    began = time.monotonic()
    thread.start()
    code = run_watch(
        WatchOptions(state_namespace=STATE_NS), report, api_client=client, say=lambda line: None
    )
    thread.join()
    if failed:
        print(f"churn: {failed[0]!r}")
        return 1
    events = args.rounds * size * 5
    print(
        f"churn: {args.rounds} rounds of {size} Jobs and pods made, completed, deleted "
        f"(~{events} events) in {time.monotonic() - began:.1f} s, exit {code}; resident MiB "
        f"after each round: {', '.join(f'{mib:.0f}' for mib in rss)}"
    )
    grew = rss[-1] - rss[0] if len(rss) > 1 else 0.0
    print(
        f"target: memory flat under churn (grew {grew:+.0f} MiB from round 1): "
        f"{'holds' if grew <= 16 else 'MISSED'}"
    )
    return 0 if grew <= 16 and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

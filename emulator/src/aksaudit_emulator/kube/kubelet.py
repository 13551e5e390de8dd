"""The simulated kubelet: runs each bound pod's container command for real with `sh` against the
node's root directory, and reports status the way a kubelet does.

Per pod: wait while the node is missing or NotReady or a fault holds the pod (ContainerCreating,
ErrImagePull/ImagePullBackOff); materialize ConfigMap volumes under
`state_dir/pods/<cluster>/<ns>/<pod>/volumes/<volume>/`; start the first container's
command+args (argv[0] `/bin/sh`, `bash`... runs as `sh`) in its own process group with env =
container env + AKSAUDIT_ROOT (node root), AKSAUDIT_RUN (per-pod run dir), AKSAUDIT_MOUNT (the
volume mounted at /aksaudit), HOSTNAME (node name), TMPDIR (the node root's /tmp: what a killed
container leaves there stays on the simulated node), PATH = stand-ins, extra_path, system PATH;
stdout+stderr become the pod log; exit code sets the phase (restartPolicy honoured, with
CrashLoopBackOff for Always); exec readiness probes set Ready; activeDeadlineSeconds kills the
pod (Failed, DeadlineExceeded); deletion sends SIGTERM, then SIGKILL after the grace period
(capped at 2 s), then removes the pod.

This module holds what the pods share (start slots, child processes, the stand-ins' PATH, the
resync loop, node reboots); one pod's life is a ``PodWorker`` (podworker.py), one method per phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import shutil
import signal
from pathlib import Path

from .podworker import PodKey, PodRun, PodWorker, killpg
from .runtime import KubeRuntime, wait_event
from .store import Obj, WatchEvent

log = logging.getLogger(__name__)


def _standins_dir() -> Path | None:
    try:
        mod = importlib.import_module("..noderoot", __package__)
        found = mod.standins_dir()
    except (ImportError, AttributeError):
        return None
    return Path(found) if found else None


class Kubelet:
    """One kubelet for every node of every cluster; pods are tasks on the emulator's loop."""

    def __init__(self, rt: KubeRuntime) -> None:
        self.rt = rt
        self.opts = rt.options
        self.runs: dict[PodKey, PodRun] = {}
        self.sem = asyncio.Semaphore(self.opts.max_concurrency)
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.path_prefix = [p for p in [self.opts.standins or _standins_dir()] if p is not None]
        self.path_prefix += list(self.opts.extra_path)
        self.started_total = 0
        self.procs: set[asyncio.subprocess.Process] = set()
        self._reapers: set[asyncio.Task[int]] = set()

    # -- lifecycle
    def start(self) -> None:
        self.rt.kubelet = self
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop the loop, kill every container, wait for the pod tasks."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        tasks = []
        for run in list(self.runs.values()):
            if run.proc is not None:
                killpg(run.proc, signal.SIGKILL)
            if run.task is not None:
                run.task.cancel()
                tasks.append(run.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        # reap every child (containers and probes) so no transport outlives the loop
        for proc in list(self.procs):
            killpg(proc, signal.SIGKILL)
        if self.procs:
            await asyncio.wait([asyncio.create_task(p.wait()) for p in self.procs], timeout=5)
        self.runs.clear()
        self.rt.kubelet = None

    def track(self, proc: asyncio.subprocess.Process) -> None:
        self.procs.add(proc)
        waiter = asyncio.get_running_loop().create_task(proc.wait())
        waiter.add_done_callback(lambda _t: self.procs.discard(proc))
        self._reapers.add(waiter)
        waiter.add_done_callback(self._reapers.discard)

    def tracks(self, cluster: str, ns: str, name: str) -> bool:
        return (cluster, ns, name) in self.runs

    def poke(self, cluster: str, ev: WatchEvent) -> None:
        run = self.runs.get(
            (cluster, ev.obj["metadata"].get("namespace", ""), ev.obj["metadata"]["name"])
        )
        if run is not None:
            run.poke.set()
        elif ev.type != "DELETED":
            self._maybe_start(cluster, ev.obj)
        else:  # removed while no container ran (finished, or never started): drop its sandbox
            meta = ev.obj["metadata"]
            shutil.rmtree(
                self.rt.state.state_dir / "pods" / cluster / meta["namespace"] / meta["name"],
                ignore_errors=True,
            )

    def _maybe_start(self, cluster: str, pod: Obj) -> None:
        """Take on a pod bound to a node, once (the kubelet's pod worker)."""
        meta = pod["metadata"]
        key = (cluster, meta["namespace"], meta["name"])
        if not pod["spec"].get("nodeName") or key in self.runs or self._task is None:
            return
        if pod["status"].get("phase") in ("Succeeded", "Failed"):
            return
        run = PodRun(meta["uid"], node=str(pod["spec"]["nodeName"]))
        self.runs[key] = run
        run.task = asyncio.get_running_loop().create_task(self._pod(key, run))

    def reboot(self, cluster: str, node: str) -> int:
        """A node reboot or reimage as its pods see it: every running container there is killed
        and started again at once (restartCount + 1, fresh run dir) if its restartPolicy allows;
        a `Never` pod ends Failed. Returns how many containers were killed."""
        killed = 0
        for (c, _, _), run in list(self.runs.items()):
            if c == cluster and run.node == node and run.proc is not None:
                run.rebooted = True
                killpg(run.proc, signal.SIGKILL)
                killed += 1
        return killed

    def kill_now(self, cluster: str, ns: str, name: str) -> None:
        run = self.runs.pop((cluster, ns, name), None)
        if run is None:
            return
        if run.proc is not None:
            killpg(run.proc, signal.SIGKILL)
        if run.task is not None:
            run.task.cancel()

    async def _loop(self) -> None:
        while True:
            await wait_event(self.wake, self.opts.sync_interval * 5)
            self.wake.clear()
            for cluster in self.rt.clusters():
                store = self.rt.store(cluster)
                if store is None:
                    continue
                # resync: events start pods at once; this catches anything missed
                for pod in store.list("pods"):
                    self._maybe_start(cluster, pod)

    # -- one pod
    async def _pod(self, key: PodKey, run: PodRun) -> None:
        try:
            store = self.rt.store(key[0])
            if store is not None:
                await PodWorker(self, key, run, store).live()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("simulated kubelet failed on pod %s/%s", key[1], key[2])
        finally:
            if run.proc is not None and run.proc.returncode is None:
                killpg(run.proc, signal.SIGKILL)
            if self.runs.get(key) is run:
                del self.runs[key]
            store = self.rt.store(key[0])
            if store is not None and store.get("pods", key[1], key[2]) is None:
                # the pod is gone (and no successor of that name yet): drop its sandbox
                shutil.rmtree(
                    self.rt.state.state_dir / "pods" / key[0] / key[1] / key[2], ignore_errors=True
                )

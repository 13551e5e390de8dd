"""The simulated kubelet: runs each bound pod's container command for real with `sh` against the
node's root directory, and reports status the way a kubelet does.

Per pod: wait while the node is missing or NotReady or a fault holds the pod (ContainerCreating,
ErrImagePull/ImagePullBackOff); materialize ConfigMap volumes under
`state_dir/pods/<cluster>/<ns>/<pod>/volumes/<volume>/`; start the first container's
command+args (argv[0] `/bin/sh`, `bash`... runs as `sh`) in its own process group with env =
container env + AKSAUDIT_ROOT (node root), AKSAUDIT_RUN (per-pod run dir), AKSAUDIT_MOUNT (the
volume mounted at /aksaudit), HOSTNAME (node name), PATH = stand-ins, extra_path, system PATH;
stdout+stderr become the pod log; exit code sets the phase (restartPolicy honoured, with
CrashLoopBackOff for Always); exec readiness probes set Ready; activeDeadlineSeconds kills the
pod (Failed, DeadlineExceeded); deletion sends SIGTERM, then SIGKILL after the grace period
(capped at 2 s), then removes the pod.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import importlib
import logging
import os
import re
import shutil
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..state import SimNode
from .runtime import KubeRuntime
from .store import KubeStore, Obj, PodLog, WatchEvent, now_iso

log = logging.getLogger(__name__)

PodKey = tuple[str, str, str]  # cluster, namespace, name
_SHELLS = {"sh", "bash", "dash", "ash"}
_KILL_GRACE_CAP = 2.0


class _MountError(Exception):
    pass


@dataclass
class _Run:
    uid: str
    poke: asyncio.Event = field(default_factory=asyncio.Event)
    proc: asyncio.subprocess.Process | None = None
    task: asyncio.Task[None] | None = None
    node: str = ""
    rebooted: bool = False  # the container was killed by a node reboot: restart, no back-off


def _standins_dir() -> Path | None:
    try:
        mod = importlib.import_module("..noderoot", __package__)
        found = mod.standins_dir()
    except (ImportError, AttributeError):
        return None
    return Path(found) if found else None


def _killpg(proc: asyncio.subprocess.Process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _materialize(store: KubeStore, pod: Obj, sandbox: Path, root: Path) -> dict[str, Path]:
    """Volume name -> host directory; ConfigMap keys become files (mode from the spec)."""
    ns = pod["metadata"]["namespace"]
    vols_dir = sandbox / "volumes"
    if vols_dir.exists():
        shutil.rmtree(vols_dir)
    out: dict[str, Path] = {}
    for v in pod["spec"].get("volumes") or []:
        name = v["name"]
        d = vols_dir / name
        if "configMap" in v:
            src = v["configMap"]
            cm = store.get("configmaps", ns, src.get("name", ""))
            d.mkdir(parents=True, exist_ok=True)
            if cm is None:
                if src.get("optional"):
                    out[name] = d
                    continue
                raise _MountError(
                    f'MountVolume.SetUp failed for volume "{name}" : configmap '
                    f'"{src.get("name", "")}" not found'
                )
            data: dict[str, bytes] = {k: v2.encode() for k, v2 in (cm.get("data") or {}).items()}
            for k, b64 in (cm.get("binaryData") or {}).items():
                data[k] = base64.b64decode(b64)
            items = src.get("items") or [{"key": k, "path": k} for k in sorted(data)]
            for it in items:
                if it["key"] not in data:
                    raise _MountError(
                        f'MountVolume.SetUp failed for volume "{name}" : configmap references '
                        f"non-existent config key: {it['key']}"
                    )
                f = d / it.get("path", it["key"])
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(data[it["key"]])
                f.chmod(int(it.get("mode", src.get("defaultMode", 0o644))))
            out[name] = d
        elif "hostPath" in v:
            out[name] = root / str(v["hostPath"].get("path", "/")).lstrip("/")
        else:  # emptyDir, secret, projected...: an empty writable directory
            d.mkdir(parents=True, exist_ok=True)
            out[name] = d
    (sandbox / "run").mkdir(parents=True, exist_ok=True)
    return out


def _argv(ctr: Obj) -> list[str]:
    argv = [str(a) for a in (ctr.get("command") or []) + (ctr.get("args") or [])]
    if not argv:
        return []
    base = os.path.basename(argv[0])
    if base in _SHELLS:
        argv[0] = "sh"
    elif argv[0].startswith("/") and not os.path.exists(argv[0]):
        argv[0] = base  # an image path: look it up on PATH (the stand-ins)
    return argv


def _container_status(
    ctr: Obj, state: Obj, ready: bool, restarts: int, cid: str, last: Obj | None = None
) -> Obj:
    started = "running" in state
    st: Obj = {
        "name": ctr["name"],
        "image": ctr.get("image", ""),
        "imageID": "",
        "ready": ready,
        "restartCount": restarts,
        "started": started,
        "state": state,
        "lastState": last or {},
    }
    if "waiting" not in state:
        st["containerID"] = cid
        image = str(ctr.get("image", ""))
        st["imageID"] = f"{image}@sha256:{uuid.uuid5(uuid.NAMESPACE_URL, image).hex * 2}"
    return st


def _conditions(ready: bool, initialized: bool, reason: str | None = None) -> list[Obj]:
    t = now_iso()
    out: list[Obj] = [
        {"type": "PodReadyToStartContainers", "status": "True" if initialized else "False"},
        {"type": "Initialized", "status": "True"},
        {"type": "Ready", "status": "True" if ready else "False"},
        {"type": "ContainersReady", "status": "True" if ready else "False"},
        {"type": "PodScheduled", "status": "True"},
    ]
    for c in out:
        c["lastTransitionTime"] = t
        if c["type"] in ("Ready", "ContainersReady") and not ready:
            c["reason"] = reason or "ContainersNotReady"
    return out


class Kubelet:
    """One kubelet for every node of every cluster; pods are tasks on the emulator's loop."""

    def __init__(self, rt: KubeRuntime) -> None:
        self.rt = rt
        self.opts = rt.options
        self.runs: dict[PodKey, _Run] = {}
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
                _killpg(run.proc, signal.SIGKILL)
            if run.task is not None:
                run.task.cancel()
                tasks.append(run.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        # reap every child (containers and probes) so no transport outlives the loop
        for proc in list(self.procs):
            _killpg(proc, signal.SIGKILL)
        if self.procs:
            await asyncio.wait([asyncio.create_task(p.wait()) for p in self.procs], timeout=5)
        self.runs.clear()
        self.rt.kubelet = None

    def _track(self, proc: asyncio.subprocess.Process) -> None:
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
        run = _Run(meta["uid"], node=str(pod["spec"]["nodeName"]))
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
                _killpg(run.proc, signal.SIGKILL)
                killed += 1
        return killed

    def kill_now(self, cluster: str, ns: str, name: str) -> None:
        run = self.runs.pop((cluster, ns, name), None)
        if run is None:
            return
        if run.proc is not None:
            _killpg(run.proc, signal.SIGKILL)
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
    async def _pod(self, key: PodKey, run: _Run) -> None:
        try:
            await self._lifecycle(key, run)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("simulated kubelet failed on pod %s/%s", key[1], key[2])
        finally:
            if run.proc is not None and run.proc.returncode is None:
                _killpg(run.proc, signal.SIGKILL)
            if self.runs.get(key) is run:
                del self.runs[key]
            store = self.rt.store(key[0])
            if store is not None and store.get("pods", key[1], key[2]) is None:
                # the pod is gone (and no successor of that name yet): drop its sandbox
                shutil.rmtree(
                    self.rt.state.state_dir / "pods" / key[0] / key[1] / key[2], ignore_errors=True
                )

    def _current(self, store: KubeStore, key: PodKey, run: _Run) -> Obj | None:
        pod = store.get("pods", key[1], key[2])
        return pod if pod is not None and pod["metadata"]["uid"] == run.uid else None

    def _set(self, store: KubeStore, key: PodKey, run: _Run, status: Obj) -> None:
        pod = self._current(store, key, run)
        if pod is None:
            return
        old = pod.get("status") or {}
        merged = {**old, **status}
        if _same_status(old, merged):
            return
        new = copy.deepcopy(pod)
        new["status"] = merged
        store.update("pods", new)

    async def _nap(self, run: _Run, seconds: float) -> None:
        await wait_event(run.poke, max(seconds, 0.01))
        run.poke.clear()

    def _deadline_passed(self, pod: Obj, started: float) -> bool:
        ads = pod["spec"].get("activeDeadlineSeconds")
        return ads is not None and time.monotonic() - started >= ads * self.opts.time_scale

    def _fail(
        self,
        store: KubeStore,
        key: PodKey,
        run: _Run,
        reason: str,
        message: str,
        cstatus: list[Obj] | None = None,
    ) -> None:
        st: Obj = {
            "phase": "Failed",
            "reason": reason,
            "message": message,
            "conditions": _conditions(False, True, "PodFailed"),
        }
        if cstatus is not None:
            st["containerStatuses"] = cstatus
        self._set(store, key, run, st)

    async def _lifecycle(self, key: PodKey, run: _Run) -> None:
        cluster, ns, name = key
        store = self.rt.store(cluster)
        if store is None:
            return
        pod = self._current(store, key, run)
        if pod is None:
            return
        node_name = pod["spec"]["nodeName"]
        ctr = pod["spec"]["containers"][0]
        cid = "containerd://" + uuid.uuid4().hex + uuid.uuid4().hex
        host_ip = ""
        started_mono: float | None = None
        pull_started: float | None = None
        mounts: dict[str, Path] = {}
        node: SimNode | None = None
        sandbox = self.rt.state.state_dir / "pods" / cluster / ns / name
        # 1. wait until the pod can start
        while True:
            pod = self._current(store, key, run)
            if pod is None:
                return
            if pod["metadata"].get("deletionTimestamp"):
                store.remove("pods", ns, name)
                return
            node = self.rt.sim_node(cluster, node_name)
            if node is None or not self.rt.node_ready(node):
                await self._nap(run, self.opts.sync_interval)
                continue
            if not node.is_linux:
                sel = (pod["spec"].get("nodeSelector") or {}).get("kubernetes.io/os")
                if sel and sel != "windows":
                    self._fail(
                        store,
                        key,
                        run,
                        "NodeAffinity",
                        "Pod was rejected: Predicate NodeAffinity failed",
                    )
                else:
                    term = {
                        "terminated": {
                            "exitCode": 128,
                            "reason": "StartError",
                            "message": "failed to create containerd task: a Linux container "
                            "cannot run on a Windows node",
                            "startedAt": now_iso(),
                            "finishedAt": now_iso(),
                            "containerID": cid,
                        }
                    }
                    self._fail(
                        store,
                        key,
                        run,
                        "StartError",
                        "container could not start",
                        [_container_status(ctr, term, False, 0, cid)],
                    )
                return
            if node.virtual or node.root is None:
                self._fail(
                    store,
                    key,
                    run,
                    "ProviderFailed",
                    "virtual node (Azure Container Instances) does not support privileged "
                    "containers or host namespaces",
                )
                return
            if started_mono is None and self._pending_fault(cluster, node_name, pod, True):
                await self._nap(run, self.opts.sync_interval)
                continue
            if started_mono is None:
                started_mono = time.monotonic()
                from .controller import node_ip

                host_ip = node_ip(node)
                pod_ip = (
                    host_ip
                    if pod["spec"].get("hostNetwork")
                    else (f"10.244.{uuid.uuid4().int % 250}.{2 + uuid.uuid4().int % 250}")
                )
                self._set(
                    store,
                    key,
                    run,
                    {
                        "hostIP": host_ip,
                        "hostIPs": [{"ip": host_ip}],
                        "podIP": pod_ip,
                        "podIPs": [{"ip": pod_ip}],
                        "startTime": now_iso(),
                        "conditions": _conditions(False, False),
                        "containerStatuses": [
                            _container_status(
                                ctr, {"waiting": {"reason": "ContainerCreating"}}, False, 0, cid
                            )
                        ],
                    },
                )
            if self._deadline_passed(pod, started_mono):
                self._fail(
                    store,
                    key,
                    run,
                    "DeadlineExceeded",
                    "Pod was active on the node longer than the specified deadline",
                )
                return
            if self._pending_fault(cluster, node_name, pod):
                await self._nap(run, self.opts.sync_interval)
                continue
            image = str(ctr.get("image", ""))
            if self._image_fault(cluster, node_name, pod, image):
                pull_started = pull_started or time.monotonic()
                in_backoff = time.monotonic() - pull_started > 1.0 * self.opts.time_scale
                waiting = (
                    {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}
                    if in_backoff
                    else {
                        "reason": "ErrImagePull",
                        "message": f'failed to pull and unpack image "{image}": failed to '
                        f'resolve reference "{image}": not found',
                    }
                )
                self._set(
                    store,
                    key,
                    run,
                    {
                        "containerStatuses": [
                            _container_status(ctr, {"waiting": waiting}, False, 0, cid)
                        ]
                    },
                )
                await self._nap(run, min(self.opts.sync_interval, 0.5 * self.opts.time_scale))
                continue
            pull_started = None
            try:
                assert node.root is not None
                mounts = _materialize(store, pod, sandbox, node.root)
            except _MountError as e:
                self._set(
                    store,
                    key,
                    run,
                    {
                        "containerStatuses": [
                            _container_status(
                                ctr,
                                {"waiting": {"reason": "ContainerCreating", "message": str(e)}},
                                False,
                                0,
                                cid,
                            )
                        ]
                    },
                )
                await self._nap(run, self.opts.sync_interval)
                continue
            break
        assert node is not None and node.root is not None and started_mono is not None
        env = self._env(pod, ctr, node, mounts, sandbox, host_ip)
        argv = _argv(ctr)
        podlog = store.pod_log(ns, name)
        restarts = 0
        last_state: Obj | None = None
        policy = pod["spec"].get("restartPolicy", "Always")
        probe = ctr.get("readinessProbe")
        # 2. run (and restart per restartPolicy)
        while True:
            one_shot = policy != "Always"
            await self.sem.acquire()
            held = True
            try:
                pod = self._current(store, key, run)
                if pod is None:
                    return
                if pod["metadata"].get("deletionTimestamp"):
                    store.remove("pods", ns, name)
                    return
                try:
                    proc = await asyncio.create_subprocess_exec(
                        *_PDEATHSIG,
                        *(argv or ["false"]),
                        stdin=asyncio.subprocess.DEVNULL,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.STDOUT,
                        env=env,
                        cwd=str(sandbox / "run"),
                        start_new_session=True,
                        limit=1 << 20,
                    )
                    self._track(proc)
                except OSError as e:
                    term = {
                        "terminated": {
                            "exitCode": 128,
                            "reason": "StartError",
                            "message": f"exec: {e}",
                            "startedAt": now_iso(),
                            "finishedAt": now_iso(),
                            "containerID": cid,
                        }
                    }
                    self._fail(
                        store,
                        key,
                        run,
                        "StartError",
                        str(e),
                        [_container_status(ctr, term, False, restarts, cid)],
                    )
                    return
                self.started_total += 1
                run.proc = proc
                if not one_shot:
                    self.sem.release()
                    held = False
                t_start = now_iso()
                ready = probe is None
                running = {"running": {"startedAt": t_start}}
                self._set(
                    store,
                    key,
                    run,
                    {
                        "phase": "Running",
                        "conditions": _conditions(ready, True),
                        "containerStatuses": [
                            _container_status(ctr, running, ready, restarts, cid, last_state)
                        ],
                    },
                )
                pump = asyncio.create_task(self._pump(proc, podlog))
                prober: asyncio.Task[None] | None = None
                if probe is not None:
                    prober = asyncio.create_task(
                        self._probe(
                            store,
                            key,
                            run,
                            probe,
                            env,
                            sandbox,
                            ctr,
                            running,
                            restarts,
                            cid,
                            last_state,
                        )
                    )
                waiter = asyncio.create_task(proc.wait())
                try:
                    outcome = await self._watch_running(store, key, run, waiter, started_mono)
                    if prober is not None:
                        prober.cancel()
                        await asyncio.wait({prober}, timeout=2.0)
                    if outcome != "exited":
                        await self._terminate(proc, waiter, pod, outcome)
                    await asyncio.wait({pump}, timeout=2.0)
                    if not pump.done():  # a background child still holds the pipe
                        _killpg(proc, signal.SIGKILL)
                finally:
                    # also on cancellation (kill_now, stop): nothing of this pod outlives it
                    for t in (prober, pump, waiter):
                        if t is not None and not t.done():
                            t.cancel()
                code = proc.returncode if proc.returncode is not None else 137
                run.proc = None
            finally:
                if held:
                    self.sem.release()
            if outcome == "deleted":
                store.remove("pods", ns, name)
                return
            if outcome == "gone":
                return
            term = {
                "terminated": {
                    "exitCode": code if code >= 0 else 128 - code,
                    "reason": "Completed" if code == 0 else "Error",
                    "startedAt": t_start,
                    "finishedAt": now_iso(),
                    "containerID": cid,
                }
            }
            if outcome == "deadline":
                self._fail(
                    store,
                    key,
                    run,
                    "DeadlineExceeded",
                    "Pod was active on the node longer than the specified deadline",
                    [_container_status(ctr, term, False, restarts, cid, last_state)],
                )
                return
            if policy == "Never" or (policy == "OnFailure" and code == 0):
                phase = "Succeeded" if code == 0 else "Failed"
                self._set(
                    store,
                    key,
                    run,
                    {
                        "phase": phase,
                        "conditions": _conditions(
                            False, True, "PodCompleted" if code == 0 else "PodFailed"
                        ),
                        "containerStatuses": [
                            _container_status(ctr, term, False, restarts, cid, last_state)
                        ],
                    },
                )
                return
            # restart with the kubelet's back-off (10 s doubling, capped at 5 min), scaled
            restarts += 1
            last_state = term
            backoff = min(10.0 * 2 ** (restarts - 1), 300.0) * self.opts.time_scale
            if run.rebooted:
                run.rebooted = False
                backoff = 0.0
                # the volumes and run dir were on the node that rebooted: start clean
                shutil.rmtree(sandbox / "run", ignore_errors=True)
                with contextlib.suppress(_MountError):  # ConfigMap gone: keep the old copy
                    mounts = _materialize(store, pod, sandbox, node.root)
                (sandbox / "run").mkdir(parents=True, exist_ok=True)
                env = self._env(pod, ctr, node, mounts, sandbox, host_ip)
            backing_off: Obj = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {int(backoff)}s restarting failed "
                    f"container={ctr['name']} pod={name}",
                }
            }
            self._set(
                store,
                key,
                run,
                {
                    "conditions": _conditions(False, True),
                    "containerStatuses": [
                        _container_status(ctr, backing_off, False, restarts, cid, last_state)
                    ],
                },
            )
            until = time.monotonic() + backoff
            while time.monotonic() < until:
                pod = self._current(store, key, run)
                if pod is None:
                    return
                if pod["metadata"].get("deletionTimestamp"):
                    store.remove("pods", ns, name)
                    return
                await self._nap(run, min(until - time.monotonic(), self.opts.sync_interval))

    async def _watch_running(
        self, store: KubeStore, key: PodKey, run: _Run, waiter: asyncio.Task[int], started: float
    ) -> str:
        """Wait for exit, deletion or the deadline: exited | deleted | gone | deadline."""
        while True:
            pod = self._current(store, key, run)
            if pod is None:
                return "gone"
            if pod["metadata"].get("deletionTimestamp"):
                return "deleted"
            ads = pod["spec"].get("activeDeadlineSeconds")
            left = 3600.0
            if ads is not None:
                left = ads * self.opts.time_scale - (time.monotonic() - started)
                if left <= 0:
                    return "deadline"
            poke = asyncio.create_task(run.poke.wait())
            try:
                done, _ = await asyncio.wait(
                    {waiter, poke}, timeout=max(left, 0.01), return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                poke.cancel()
            run.poke.clear()
            if waiter in done:
                return "exited"

    async def _terminate(
        self, proc: asyncio.subprocess.Process, waiter: asyncio.Task[int], pod: Obj, outcome: str
    ) -> None:
        grace = float(
            pod["metadata"].get("deletionGracePeriodSeconds")
            or pod["spec"].get("terminationGracePeriodSeconds", 30)
        )
        if outcome == "gone":
            grace = 0
        _killpg(proc, signal.SIGTERM)
        await asyncio.wait({waiter}, timeout=min(grace * self.opts.time_scale, _KILL_GRACE_CAP))
        if not waiter.done():
            _killpg(proc, signal.SIGKILL)
            await waiter

    async def _pump(self, proc: asyncio.subprocess.Process, podlog: PodLog) -> None:
        assert proc.stdout is not None
        while True:
            try:
                line = await proc.stdout.readline()
            except ValueError:  # a line over the limit: keep what fits
                line = await proc.stdout.read(1 << 20)
            if not line:
                return
            podlog.append(line.decode(errors="replace").rstrip("\n"))

    async def _probe(
        self,
        store: KubeStore,
        key: PodKey,
        run: _Run,
        probe: Obj,
        env: dict[str, str],
        sandbox: Path,
        ctr: Obj,
        running: Obj,
        restarts: int,
        cid: str,
        last_state: Obj | None,
    ) -> None:
        """Exec readiness probe: Ready after successThreshold passes, not ready after
        failureThreshold failures (kubelet semantics), scaled by time_scale."""
        scale = self.opts.time_scale
        await asyncio.sleep(float(probe.get("initialDelaySeconds", 0)) * scale)
        period = max(float(probe.get("periodSeconds", 10)) * scale, 0.02)
        timeout = max(float(probe.get("timeoutSeconds", 1)), 0.5)
        need_ok = int(probe.get("successThreshold", 1))
        need_fail = int(probe.get("failureThreshold", 3))
        ready, oks, fails = False, 0, 0
        while True:
            ok = await self._exec_probe(probe, env, sandbox, timeout)
            oks, fails = (oks + 1, 0) if ok else (0, fails + 1)
            flip = (not ready and oks >= need_ok) or (ready and fails >= need_fail)
            if flip:
                ready = not ready
                self._set(
                    store,
                    key,
                    run,
                    {
                        "conditions": _conditions(ready, True),
                        "containerStatuses": [
                            _container_status(ctr, running, ready, restarts, cid, last_state)
                        ],
                    },
                )
            await asyncio.sleep(period)

    async def _exec_probe(
        self, probe: Obj, env: dict[str, str], sandbox: Path, limit: float
    ) -> bool:
        cmd = [str(a) for a in ((probe.get("exec") or {}).get("command") or [])]
        if not cmd:
            return True  # httpGet / tcpSocket / grpc: nothing listens here; count as passing
        quick = _test_probe(cmd, env)
        if quick is not None:
            return quick
        if os.path.basename(cmd[0]) in _SHELLS:
            cmd[0] = "sh"
        try:
            p = await asyncio.create_subprocess_exec(
                *cmd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                env=env,
                cwd=str(sandbox / "run"),
                start_new_session=True,
            )
            self._track(p)
        except OSError:
            return False
        try:
            async with asyncio.timeout(limit):
                return await p.wait() == 0
        except asyncio.CancelledError:
            _killpg(p, signal.SIGKILL)  # stop() waits for it before the loop closes
            raise
        except TimeoutError:
            _killpg(p, signal.SIGKILL)
            await p.wait()
            return False

    # -- helpers
    def _pending_fault(self, cluster: str, node: str, pod: Obj, unacked: bool = False) -> bool:
        """A pod-pending fault holds the pod (`unacked`: one with `"ack": false`, whose kubelet
        never takes the pod on: no startTime, so activeDeadlineSeconds never fires)."""
        for f in self.rt.faults(
            "pod-pending", cluster, node=node, namespace=pod["metadata"]["namespace"]
        ):
            if unacked and f.get("ack", True) is not False:
                continue
            if str(pod["metadata"]["name"]).startswith(str(f.get("pod_prefix", ""))):
                return True
        return False

    def _image_fault(self, cluster: str, node: str, pod: Obj, image: str) -> bool:
        for f in self.rt.faults(
            "image-pull", cluster, node=node, namespace=pod["metadata"]["namespace"]
        ):
            if str(f.get("image", "")) in image and str(pod["metadata"]["name"]).startswith(
                str(f.get("pod_prefix", ""))
            ):
                return True
        return False

    def _env(
        self,
        pod: Obj,
        ctr: Obj,
        node: SimNode,
        mounts: dict[str, Path],
        sandbox: Path,
        host_ip: str,
    ) -> dict[str, str]:
        assert node.root is not None
        env: dict[str, str] = {k: v for k, v in os.environ.items() if k.startswith("AKSAUDIT_SIM_")}
        fields = {
            "metadata.name": pod["metadata"]["name"],
            "metadata.namespace": pod["metadata"]["namespace"],
            "metadata.uid": pod["metadata"]["uid"],
            "spec.nodeName": node.name,
            "status.hostIP": host_ip,
            "status.podIP": (pod.get("status") or {}).get("podIP", host_ip),
        }
        for e in ctr.get("env") or []:
            if "value" in e:
                env[e["name"]] = str(e["value"])
            elif "valueFrom" in e:
                vf = e["valueFrom"]
                if "fieldRef" in vf:
                    env[e["name"]] = fields.get(vf["fieldRef"].get("fieldPath", ""), "")
                elif "configMapKeyRef" in vf:
                    ref = vf["configMapKeyRef"]
                    store = self.rt.store(node.cluster)
                    cm = (
                        store.get("configmaps", pod["metadata"]["namespace"], ref.get("name", ""))
                        if store
                        else None
                    )
                    val = ((cm or {}).get("data") or {}).get(ref.get("key", ""))
                    if val is not None:
                        env[e["name"]] = val
            else:
                env[e["name"]] = ""
        for m in ctr.get("volumeMounts") or []:
            if m.get("mountPath", "").rstrip("/") == "/aksaudit" and m.get("name") in mounts:
                env["AKSAUDIT_MOUNT"] = str(mounts[m["name"]] / m.get("subPath", ""))
        env["AKSAUDIT_ROOT"] = str(node.root)
        env["AKSAUDIT_RUN"] = str(sandbox / "run")
        env["HOSTNAME"] = node.name
        env["HOME"] = str(sandbox / "run")
        env["PATH"] = os.pathsep.join(
            [str(p) for p in self.path_prefix] + [os.environ.get("PATH", os.defpath)]
        )
        return env


# Containers die with the emulator even when it is killed outright (a keeper loops forever and
# runs in its own session, so nothing else would stop it): util-linux setpriv sets the parent-
# death signal and execs the command (same pid, so process-group kills still work).
_SETPRIV = shutil.which("setpriv")
_PDEATHSIG: list[str] = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []

_TEST_RE = re.compile(r"^\s*(?:test|\[)\s+-([efd])\s+(\S+?)\s*\]?\s*$")
_VAR_RE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")


def _test_probe(cmd: list[str], env: dict[str, str]) -> bool | None:
    """`test -f FILE` probes (the keeper's) answered with a stat instead of a fork: 500 pods
    probing every few seconds would otherwise spend the CPU on sh. None = run it for real."""
    if len(cmd) == 3 and os.path.basename(cmd[0]) in _SHELLS and cmd[1] == "-c":
        text = cmd[2]
    elif len(cmd) == 3 and os.path.basename(cmd[0]) == "test":
        text = f"test {cmd[1]} {cmd[2]}"
    else:
        return None
    m = _TEST_RE.match(text)
    if m is None or any(ch in m.group(2) for ch in "'\"`;&|<>*?()"):
        return None

    def expand(v: re.Match[str]) -> str:
        name = v.group(1) or v.group(3)
        val = env.get(name, "")
        return val if val or v.group(2) is None else v.group(2)

    path = _VAR_RE.sub(expand, m.group(2))
    flag = m.group(1)
    if flag == "f":
        return os.path.isfile(path)
    if flag == "d":
        return os.path.isdir(path)
    return os.path.exists(path)


async def wait_event(event: asyncio.Event, seconds: float) -> None:
    """Wait for an event at most `seconds`. asyncio.timeout, not wait_for: on 3.11 wait_for can
    swallow a cancellation that races with completion, leaving a task that never stops."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


def _same_status(a: Obj, b: Obj) -> bool:
    """Equal apart from transition timestamps (so a resync does not churn resourceVersions)."""

    def strip(s: Obj) -> Any:
        s = copy.deepcopy(s)
        for c in s.get("conditions") or []:
            c.pop("lastTransitionTime", None)
        return s

    return bool(strip(a) == strip(b))

"""One pod's life on the simulated kubelet (see kubelet.py for what it promises), as a class
with one method per phase: admit, prepare, run_container, finish, back_off.

The kubelet (kubelet.py) owns what is shared between pods (start slots, child processes, the
stand-ins' PATH); a ``PodWorker`` owns one pod's state from admission to its end. Status writes
check the pod's uid, so a worker never writes over a successor of the same name.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import os
import re
import shutil
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..state import SimNode
from . import events
from .controller import node_ip
from .runtime import wait_event
from .store import KubeStore, Obj, PodLog, now_iso

if TYPE_CHECKING:
    from .kubelet import Kubelet

PodKey = tuple[str, str, str]  # cluster, namespace, name
_SHELLS = {"sh", "bash", "dash", "ash"}
_KILL_GRACE_CAP = 2.0


class MountError(Exception):
    """A volume cannot be set up (the pod stays ContainerCreating)."""


@dataclass
class PodRun:
    """What the kubelet tracks of a pod it took on: its task and its running container."""

    uid: str
    poke: asyncio.Event = field(default_factory=asyncio.Event)
    proc: asyncio.subprocess.Process | None = None
    task: asyncio.Task[None] | None = None
    node: str = ""
    rebooted: bool = False  # the container was killed by a node reboot: restart, no back-off


def killpg(proc: asyncio.subprocess.Process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def materialize(store: KubeStore, pod: Obj, sandbox: Path, root: Path) -> dict[str, Path]:
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
                raise MountError(
                    f'MountVolume.SetUp failed for volume "{name}" : configmap '
                    f'"{src.get("name", "")}" not found'
                )
            data: dict[str, bytes] = {k: v2.encode() for k, v2 in (cm.get("data") or {}).items()}
            for k, b64 in (cm.get("binaryData") or {}).items():
                data[k] = base64.b64decode(b64)
            items = src.get("items") or [{"key": k, "path": k} for k in sorted(data)]
            for it in items:
                if it["key"] not in data:
                    raise MountError(
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


def container_argv(ctr: Obj) -> list[str]:
    argv = [str(a) for a in (ctr.get("command") or []) + (ctr.get("args") or [])]
    if not argv:
        return []
    base = os.path.basename(argv[0])
    if base in _SHELLS:
        argv[0] = "sh"
    elif argv[0].startswith("/") and not os.path.exists(argv[0]):
        argv[0] = base  # an image path: look it up on PATH (the stand-ins)
    return argv


def container_status(
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


def conditions(ready: bool, initialized: bool, reason: str | None = None) -> list[Obj]:
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


class PodWorker:
    """One pod's life on its node (the kubelet's pod worker), one method per phase:

    ``admit`` (wait for the node, faults, the image, the volumes) -> ``prepare`` (environment,
    command) -> ``run_container`` (start, watch until exit, deletion or deadline) -> ``finish``
    (the terminal phase) or ``back_off`` (restart per restartPolicy) -> ``run_container`` ...
    Every status write goes through ``set_status``, which ignores a successor of the same name.
    """

    def __init__(self, kubelet: Kubelet, key: PodKey, run: PodRun, store: KubeStore) -> None:
        self.kubelet = kubelet
        self.rt = kubelet.rt
        self.opts = kubelet.opts
        self.key = key
        self.run = run
        self.store = store
        self.cluster, self.ns, self.name = key
        self.sandbox = self.rt.state.state_dir / "pods" / self.cluster / self.ns / self.name
        self.cid = "containerd://" + uuid.uuid4().hex + uuid.uuid4().hex
        self.pod: Obj = {}
        self.ctr: Obj = {}  # the first container, as the pod was taken on
        self.node_name = ""
        self.node: SimNode | None = None
        self.host_ip = ""
        self.started_mono: float | None = None
        self.pull_started: float | None = None
        self.mounts: dict[str, Path] = {}
        self.env: dict[str, str] = {}
        self.argv: list[str] = []
        self.restarts = 0
        self.last_state: Obj | None = None
        self.held = False  # this pod holds one of the kubelet's start slots
        # set by prepare()
        self.podlog: PodLog
        self.policy = "Always"
        self.probe: Obj | None = None
        self.pull_seen = ""  # the image pull's last recorded state: "", error, backoff, pulled
        self.mount_seen = ""  # the last FailedMount message recorded

    async def live(self) -> None:
        """The whole life, until the pod has ended or is gone."""
        pod = self.current()
        if pod is None:
            return
        self.pod = pod
        self.node_name = pod["spec"]["nodeName"]
        self.ctr = pod["spec"]["containers"][0]
        if not await self.admit():
            return
        self.prepare()
        while True:
            ran = await self.run_container()
            if ran is None:
                return
            term = self.finish(*ran)
            if term is None or not await self.back_off(term):
                return

    # -- phase 1: admission
    async def admit(self) -> bool:
        """Wait until the container can start: the node exists and is Ready, no fault holds the
        pod, the image pulls and the volumes mount. False when the pod ended meanwhile."""
        while True:
            pod = self.current()
            if pod is None:
                return False
            self.pod = pod
            if pod["metadata"].get("deletionTimestamp"):
                self.store.remove("pods", self.ns, self.name)
                return False
            node = self.node = self.rt.sim_node(self.cluster, self.node_name)
            if node is None or not self.rt.node_ready(node):
                await self.nap(self.opts.sync_interval)
                continue
            if not node.is_linux:
                self.refuse_windows_node()
                return False
            if node.virtual or node.root is None:
                self.fail(
                    "ProviderFailed",
                    "virtual node (Azure Container Instances) does not support privileged "
                    "containers or host namespaces",
                )
                return False
            if self.started_mono is None and self.pending_fault(unacked=True):
                await self.nap(self.opts.sync_interval)
                continue
            if self.started_mono is None:
                self.mark_started(node)
            assert self.started_mono is not None
            if self.deadline_passed(self.started_mono):
                self.fail(
                    "DeadlineExceeded",
                    "Pod was active on the node longer than the specified deadline",
                )
                return False
            if self.pending_fault():
                await self.nap(self.opts.sync_interval)
                continue
            if await self.image_pull_blocked():
                continue
            self.pull_started = None
            if not await self.mount_volumes(node):
                continue
            return True

    def refuse_windows_node(self) -> None:
        """A Linux pod bound to a Windows node: rejected by node affinity or fails to start."""
        sel = (self.pod["spec"].get("nodeSelector") or {}).get("kubernetes.io/os")
        if sel and sel != "windows":
            self.fail("NodeAffinity", "Pod was rejected: Predicate NodeAffinity failed")
            return
        term = {
            "terminated": {
                "exitCode": 128,
                "reason": "StartError",
                "message": "failed to create containerd task: a Linux container "
                "cannot run on a Windows node",
                "startedAt": now_iso(),
                "finishedAt": now_iso(),
                "containerID": self.cid,
            }
        }
        self.fail(
            "StartError",
            "container could not start",
            [container_status(self.ctr, term, False, 0, self.cid)],
        )

    def mark_started(self, node: SimNode) -> None:
        """The kubelet took the pod on: IPs, startTime, ContainerCreating."""
        self.started_mono = time.monotonic()
        self.host_ip = node_ip(node)
        pod_ip = (
            self.host_ip
            if self.pod["spec"].get("hostNetwork")
            else (f"10.244.{uuid.uuid4().int % 250}.{2 + uuid.uuid4().int % 250}")
        )
        self.set_status(
            {
                "hostIP": self.host_ip,
                "hostIPs": [{"ip": self.host_ip}],
                "podIP": pod_ip,
                "podIPs": [{"ip": pod_ip}],
                "startTime": now_iso(),
                "conditions": conditions(False, False),
                "containerStatuses": [
                    container_status(
                        self.ctr, {"waiting": {"reason": "ContainerCreating"}}, False, 0, self.cid
                    )
                ],
            }
        )

    async def image_pull_blocked(self) -> bool:
        """An image-pull fault or a digest the registry does not know: ErrImagePull, then
        ImagePullBackOff, and a nap. True = blocked."""
        image = str(self.ctr.get("image", ""))
        # a digest the registry does not serve cannot be pulled (a swapped or made-up image)
        if not self.image_fault(image) and self.rt.state.registry.knows(image):
            self.pulled(image)
            return False
        self.pull_started = self.pull_started or time.monotonic()
        in_backoff = time.monotonic() - self.pull_started > 1.0 * self.opts.time_scale
        self.pull_failed(image, in_backoff)
        waiting = (
            {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}
            if in_backoff
            else {
                "reason": "ErrImagePull",
                "message": f'failed to pull and unpack image "{image}": failed to '
                f'resolve reference "{image}": not found',
            }
        )
        self.set_status(
            {
                "containerStatuses": [
                    container_status(self.ctr, {"waiting": waiting}, False, 0, self.cid)
                ]
            }
        )
        await self.nap(min(self.opts.sync_interval, 0.5 * self.opts.time_scale))
        return True

    def pulled(self, image: str) -> None:
        """The kubelet's image events once the image is there (once per container start)."""
        if self.pull_seen == "pulled":
            return
        self.pull_seen = "pulled"
        if self.ctr.get("imagePullPolicy") == "Always":
            self.event("Normal", "Pulling", f'Pulling image "{image}"')
            self.event(
                "Normal",
                "Pulled",
                f'Successfully pulled image "{image}" in 512ms (512ms including waiting)',
            )
        else:
            self.event("Normal", "Pulled", f'Container image "{image}" already present on machine')

    def pull_failed(self, image: str, in_backoff: bool) -> None:
        """ErrImagePull (Pulling, Failed), then ImagePullBackOff (BackOff, Failed): recorded on
        each change, as the kubelet's sync loop does."""
        state = "backoff" if in_backoff else "error"
        if self.pull_seen == state:
            return
        self.pull_seen = state
        if in_backoff:
            self.event("Normal", "BackOff", f'Back-off pulling image "{image}"')
            self.event("Warning", "Failed", "Error: ImagePullBackOff")
        else:
            self.event("Normal", "Pulling", f'Pulling image "{image}"')
            self.event(
                "Warning",
                "Failed",
                f'Failed to pull image "{image}": failed to pull and unpack image "{image}": '
                f'failed to resolve reference "{image}": not found',
            )
            self.event("Warning", "Failed", "Error: ErrImagePull")

    def event(self, type_: str, reason: str, message: str, container: bool = True) -> None:
        """An Event about this pod (its first container) from this node's kubelet."""
        pod = self.current()
        if pod is None:
            return
        path = events.container_path(str(self.ctr.get("name", ""))) if container else ""
        events.record(self.store, pod, type_, reason, message, ("kubelet", self.node_name), path)

    async def mount_volumes(self, node: SimNode) -> bool:
        """Materialize the volumes; a missing ConfigMap keeps the pod ContainerCreating."""
        try:
            assert node.root is not None
            self.mounts = materialize(self.store, self.pod, self.sandbox, node.root)
        except MountError as e:
            if str(e) != self.mount_seen:  # the kubelet retries with back-off; once per cause
                self.mount_seen = str(e)
                self.event("Warning", "FailedMount", str(e), container=False)
            self.set_status(
                {
                    "containerStatuses": [
                        container_status(
                            self.ctr,
                            {"waiting": {"reason": "ContainerCreating", "message": str(e)}},
                            False,
                            0,
                            self.cid,
                        )
                    ]
                }
            )
            await self.nap(self.opts.sync_interval)
            return False
        return True

    # -- phase 2: the container
    def prepare(self) -> None:
        """Environment and command line, once admitted."""
        assert self.node is not None and self.node.root is not None
        self.env = self.container_env(self.pod)
        self.argv = container_argv(self.ctr)
        self.podlog = self.store.pod_log(self.ns, self.name)
        self.policy = self.pod["spec"].get("restartPolicy", "Always")
        self.probe = self.ctr.get("readinessProbe")

    async def run_container(self) -> tuple[str, int, str] | None:
        """Start the container and watch it until it exits, is deleted or passes its deadline:
        (outcome, exit code, start time), or None when the pod has ended."""
        await self.kubelet.sem.acquire()
        self.held = True
        try:
            pod = self.current()
            if pod is None:
                return None
            self.pod = pod
            if pod["metadata"].get("deletionTimestamp"):
                self.store.remove("pods", self.ns, self.name)
                return None
            if self.podlog.instance:
                # a restart is a new container: its own id, its own log
                self.cid = "containerd://" + uuid.uuid4().hex + uuid.uuid4().hex
            proc = await self.start_process()
            if proc is None:
                return None
            t_start = now_iso()
            outcome = await self.watch(proc, t_start)
            code = proc.returncode if proc.returncode is not None else 137
            self.run.proc = None
            return outcome, code, t_start
        finally:
            if self.held:
                self.kubelet.sem.release()
                self.held = False

    async def start_process(self) -> asyncio.subprocess.Process | None:
        """Exec the command in its own session; a start error fails the pod (None)."""
        self.pulled(str(self.ctr.get("image", "")))  # each restart looks at the image again
        try:
            proc = await asyncio.create_subprocess_exec(
                *PDEATHSIG,
                *(self.argv or ["false"]),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=self.env,
                cwd=str(self.sandbox / "run"),
                start_new_session=True,
                limit=1 << 20,
            )
            self.kubelet.track(proc)
        except OSError as e:
            term = {
                "terminated": {
                    "exitCode": 128,
                    "reason": "StartError",
                    "message": f"exec: {e}",
                    "startedAt": now_iso(),
                    "finishedAt": now_iso(),
                    "containerID": self.cid,
                }
            }
            self.event("Warning", "Failed", f"Error: exec: {e}")
            self.fail(
                "StartError",
                str(e),
                [container_status(self.ctr, term, False, self.restarts, self.cid)],
            )
            return None
        self.kubelet.started_total += 1
        self.event("Normal", "Created", f"Created container: {self.ctr['name']}")
        self.event("Normal", "Started", f"Started container {self.ctr['name']}")
        self.run.proc = proc
        self.podlog.begin_instance()
        if self.policy == "Always":  # a keeper frees its start slot at once
            self.kubelet.sem.release()
            self.held = False
        return proc

    async def watch(self, proc: asyncio.subprocess.Process, t_start: str) -> str:
        """Running: log pump, readiness prober, then exit | deleted | gone | deadline."""
        ready = self.probe is None
        running = {"running": {"startedAt": t_start}}
        self.set_status(
            {
                "phase": "Running",
                "conditions": conditions(ready, True),
                "containerStatuses": [
                    container_status(
                        self.ctr, running, ready, self.restarts, self.cid, self.last_state
                    )
                ],
            }
        )
        pump = asyncio.create_task(self.pump(proc, self.podlog))
        prober: asyncio.Task[None] | None = None
        if self.probe is not None:
            prober = asyncio.create_task(
                self.probe_readiness(self.probe, running, self.restarts, self.last_state)
            )
        waiter = asyncio.create_task(proc.wait())
        assert self.started_mono is not None
        try:
            outcome = await self.watch_running(waiter, self.started_mono)
            if prober is not None:
                prober.cancel()
                await asyncio.wait({prober}, timeout=2.0)
            if outcome in ("deleted", "deadline"):
                self.event("Normal", "Killing", f"Stopping container {self.ctr['name']}")
            if outcome != "exited":
                await self.terminate(proc, waiter, self.pod, outcome)
            await asyncio.wait({pump}, timeout=2.0)
            if not pump.done():  # a background child still holds the pipe
                killpg(proc, signal.SIGKILL)
        finally:
            # also on cancellation (kill_now, stop): nothing of this pod outlives it
            for t in (prober, pump, waiter):
                if t is not None and not t.done():
                    t.cancel()
        return outcome

    # -- phase 3: the end, or a restart
    def finish(self, outcome: str, code: int, t_start: str) -> Obj | None:
        """Record how the run ended. Returns the container's terminated state when the pod
        restarts (then ``back_off``), None when the pod has ended."""
        if outcome == "gone":
            return None
        pod = self.current()
        if outcome == "deleted" or (pod is not None and pod["metadata"].get("deletionTimestamp")):
            # Deleted, or deleted just as the container exited on its own: either way the
            # kubelet removes a pod whose containers are done once it carries deletionTimestamp.
            self.store.remove("pods", self.ns, self.name)
            return None
        term = {
            "terminated": {
                "exitCode": code if code >= 0 else 128 - code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": t_start,
                "finishedAt": now_iso(),
                "containerID": self.cid,
            }
        }
        if outcome == "deadline":
            self.fail(
                "DeadlineExceeded",
                "Pod was active on the node longer than the specified deadline",
                [container_status(self.ctr, term, False, self.restarts, self.cid, self.last_state)],
            )
            return None
        if self.policy == "Never" or (self.policy == "OnFailure" and code == 0):
            self.set_status(
                {
                    "phase": "Succeeded" if code == 0 else "Failed",
                    "conditions": conditions(
                        False, True, "PodCompleted" if code == 0 else "PodFailed"
                    ),
                    "containerStatuses": [
                        container_status(
                            self.ctr, term, False, self.restarts, self.cid, self.last_state
                        )
                    ],
                }
            )
            return None
        return term

    async def back_off(self, term: Obj) -> bool:
        """CrashLoopBackOff: the kubelet's back-off (10 s doubling, capped at 5 min, scaled; none
        after a node reboot, which also starts from a clean sandbox). False = the pod ended."""
        self.restarts += 1
        self.last_state = term
        backoff = min(10.0 * 2 ** (self.restarts - 1), 300.0) * self.opts.time_scale
        if self.run.rebooted:
            self.run.rebooted = False
            backoff = 0.0
            self.reset_sandbox()
        backing_off: Obj = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {int(backoff)}s restarting failed "
                f"container={self.ctr['name']} pod={self.name}",
            }
        }
        self.set_status(
            {
                "conditions": conditions(False, True),
                "containerStatuses": [
                    container_status(
                        self.ctr, backing_off, False, self.restarts, self.cid, self.last_state
                    )
                ],
            }
        )
        self.event(
            "Warning",
            "BackOff",
            f"Back-off restarting failed container {self.ctr['name']} in pod "
            f"{self.name}_{self.ns}({self.run.uid})",
        )
        self.pull_seen = ""  # the next start checks the image again
        until = time.monotonic() + backoff
        while time.monotonic() < until:
            pod = self.current()
            if pod is None:
                return False
            if pod["metadata"].get("deletionTimestamp"):
                self.store.remove("pods", self.ns, self.name)
                return False
            await self.nap(min(until - time.monotonic(), self.opts.sync_interval))
        return True

    def reset_sandbox(self) -> None:
        """The volumes and run dir were on the node that rebooted: start clean."""
        assert self.node is not None and self.node.root is not None
        shutil.rmtree(self.sandbox / "run", ignore_errors=True)
        with contextlib.suppress(MountError):  # ConfigMap gone: keep the old copy
            self.mounts = materialize(self.store, self.pod, self.sandbox, self.node.root)
        (self.sandbox / "run").mkdir(parents=True, exist_ok=True)
        self.env = self.container_env(self.pod)

    # -- status
    def current(self) -> Obj | None:
        """This pod as stored now (None when deleted or replaced by a namesake)."""
        pod = self.store.get("pods", self.ns, self.name)
        return pod if pod is not None and pod["metadata"]["uid"] == self.run.uid else None

    def set_status(self, status: Obj) -> None:
        pod = self.current()
        if pod is None:
            return
        old = pod.get("status") or {}
        merged = {**old, **status}
        if same_status(old, merged):
            return
        new = copy.deepcopy(pod)
        new["status"] = merged
        self.store.update("pods", new)

    def fail(self, reason: str, message: str, cstatus: list[Obj] | None = None) -> None:
        if reason == "DeadlineExceeded":
            self.event("Normal", reason, message, container=False)
        st: Obj = {
            "phase": "Failed",
            "reason": reason,
            "message": message,
            "conditions": conditions(False, True, "PodFailed"),
        }
        if cstatus is not None:
            st["containerStatuses"] = cstatus
        self.set_status(st)

    async def nap(self, seconds: float) -> None:
        await wait_event(self.run.poke, max(seconds, 0.01))
        self.run.poke.clear()

    def deadline_passed(self, started: float) -> bool:
        ads = self.pod["spec"].get("activeDeadlineSeconds")
        return ads is not None and time.monotonic() - started >= ads * self.opts.time_scale

    # -- running container helpers
    async def watch_running(self, waiter: asyncio.Task[int], started: float) -> str:
        """Wait for exit, deletion or the deadline: exited | deleted | gone | deadline."""
        while True:
            pod = self.current()
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
            poke = asyncio.create_task(self.run.poke.wait())
            try:
                done, _ = await asyncio.wait(
                    {waiter, poke}, timeout=max(left, 0.01), return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                poke.cancel()
            self.run.poke.clear()
            if waiter in done:
                return "exited"

    async def terminate(
        self, proc: asyncio.subprocess.Process, waiter: asyncio.Task[int], pod: Obj, outcome: str
    ) -> None:
        grace = float(
            pod["metadata"].get("deletionGracePeriodSeconds")
            or pod["spec"].get("terminationGracePeriodSeconds", 30)
        )
        if outcome == "gone":
            grace = 0
        killpg(proc, signal.SIGTERM)
        await asyncio.wait({waiter}, timeout=min(grace * self.opts.time_scale, _KILL_GRACE_CAP))
        if not waiter.done():
            killpg(proc, signal.SIGKILL)
            await waiter

    async def pump(self, proc: asyncio.subprocess.Process, podlog: PodLog) -> None:
        assert proc.stdout is not None
        while True:
            try:
                line = await proc.stdout.readline()
            except ValueError:  # a line over the limit: keep what fits
                line = await proc.stdout.read(1 << 20)
            if not line:
                return
            podlog.append(line.decode(errors="replace").rstrip("\n"))

    async def probe_readiness(
        self, probe: Obj, running: Obj, restarts: int, last_state: Obj | None
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
            ok = await self.exec_probe(probe, self.env, self.sandbox, timeout)
            oks, fails = (oks + 1, 0) if ok else (0, fails + 1)
            if not ok:
                self.event("Warning", "Unhealthy", "Readiness probe failed: ")
            flip = (not ready and oks >= need_ok) or (ready and fails >= need_fail)
            if flip:
                ready = not ready
                self.set_status(
                    {
                        "conditions": conditions(ready, True),
                        "containerStatuses": [
                            container_status(
                                self.ctr, running, ready, restarts, self.cid, last_state
                            )
                        ],
                    },
                )
            await asyncio.sleep(period)

    async def exec_probe(
        self, probe: Obj, env: dict[str, str], sandbox: Path, limit: float
    ) -> bool:
        cmd = [str(a) for a in ((probe.get("exec") or {}).get("command") or [])]
        if not cmd:
            return True  # httpGet / tcpSocket / grpc: nothing listens here; count as passing
        quick = test_probe(cmd, env)
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
            self.kubelet.track(p)
        except OSError:
            return False
        try:
            async with asyncio.timeout(limit):
                return await p.wait() == 0
        except asyncio.CancelledError:
            killpg(p, signal.SIGKILL)  # stop() waits for it before the loop closes
            raise
        except TimeoutError:
            killpg(p, signal.SIGKILL)
            await p.wait()
            return False

    # -- faults and environment
    def pending_fault(self, unacked: bool = False) -> bool:
        """A pod-pending fault holds the pod (`unacked`: one with `"ack": false`, whose kubelet
        never takes the pod on: no startTime, so activeDeadlineSeconds never fires)."""
        for f in self.rt.faults(
            "pod-pending", self.cluster, node=self.node_name, namespace=self.ns
        ):
            if unacked and f.get("ack", True) is not False:
                continue
            if self.name.startswith(str(f.get("pod_prefix", ""))):
                return True
        return False

    def image_fault(self, image: str) -> bool:
        for f in self.rt.faults("image-pull", self.cluster, node=self.node_name, namespace=self.ns):
            if str(f.get("image", "")) in image and self.name.startswith(
                str(f.get("pod_prefix", ""))
            ):
                return True
        return False

    def container_env(self, pod: Obj) -> dict[str, str]:
        """The container's environment: its env (values, fieldRef, configMapKeyRef), the node
        root, run dir, the node's /tmp as TMPDIR and /aksaudit mount, and PATH with the
        stand-ins first."""
        node, ctr, mounts, sandbox, host_ip = (
            self.node,
            self.ctr,
            self.mounts,
            self.sandbox,
            self.host_ip,
        )
        assert node is not None
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
        env["AKSAUDIT_SIMULATION"] = "1"  # the node script runs host commands as stand-ins only
        env["AKSAUDIT_RUN"] = str(sandbox / "run")
        env["HOSTNAME"] = node.name
        env["HOME"] = str(sandbox / "run")
        # the node's own /tmp, as a container in the host's namespaces has it: what a killed
        # script leaves there (SIGKILL on a forced delete, a reboot or the emulator's end) stays
        # on the simulated node, never in this machine's /tmp
        node_tmp = node.root / "tmp"
        node_tmp.mkdir(exist_ok=True)  # a root laid out by hand (tests) may have none
        env["TMPDIR"] = str(node_tmp)
        env["PATH"] = os.pathsep.join(
            [str(p) for p in self.kubelet.path_prefix] + [os.environ.get("PATH", os.defpath)]
        )
        return env


# Containers die with the emulator even when it is killed outright (a keeper loops forever and
# runs in its own session, so nothing else would stop it): util-linux setpriv sets the parent-
# death signal and execs the command (same pid, so process-group kills still work).
_SETPRIV = shutil.which("setpriv")
PDEATHSIG: list[str] = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []

_TEST_RE = re.compile(r"^\s*(?:test|\[)\s+-([efd])\s+(\S+?)\s*\]?\s*$")
_VAR_RE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")


def test_probe(cmd: list[str], env: dict[str, str]) -> bool | None:
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


def same_status(a: Obj, b: Obj) -> bool:
    """Equal apart from transition timestamps (so a resync does not churn resourceVersions)."""

    def strip(s: Obj) -> Any:
        s = copy.deepcopy(s)
        for c in s.get("conditions") or []:
            c.pop("lastTransitionTime", None)
        return s

    return bool(strip(a) == strip(b))

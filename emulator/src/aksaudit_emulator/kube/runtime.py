"""Shared context of the kube side: options, per-cluster stores, fault lookup, wake-ups."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ScenarioError
from ..state import EmulatorState, SimNode
from . import schema
from .objects import SYSTEM_NAMESPACES, prepare_namespace
from .store import KubeStore, WatchEvent

# a node as last rendered into its Node object: a copy of it, its readiness, the kube version
NodeSeen = tuple[SimNode, bool, str]

if TYPE_CHECKING:
    from .kubelet import Kubelet


async def wait_event(event: asyncio.Event, seconds: float) -> None:
    """Wait for an event at most `seconds`. asyncio.timeout, not wait_for: on 3.11 wait_for can
    swallow a cancellation that races with completion, leaving a task that never stops."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


@dataclass
class KubeOptions:
    """Knobs for tests, the demo and benches. time_scale multiplies every kubelet duration
    (probe periods and delays, activeDeadlineSeconds, restart back-off, image-pull back-off)."""

    time_scale: float = 1.0
    max_concurrency: int = 64  # one-shot containers running at once per emulator
    history: int = 5000  # watch events kept per resource and cluster; older rvs get 410
    log_lines: int = 2000  # per pod
    standins: Path | None = None  # default: emulator.noderoot.standins_dir() when present
    extra_path: list[Path] = field(default_factory=list)  # after the stand-ins, before PATH
    token: str | None = None  # bearer token required when set (any bearer token otherwise)
    bookmark_interval: float = 5.0  # seconds between BOOKMARK events on watches that ask
    sync_interval: float = 0.2  # controller/kubelet resync period (they also react to events)
    user: str = "aksaudit-user"  # the identity named in 403 messages


_SCENARIO_KEYS = {
    "time_scale": float,
    "max_concurrency": int,
    "history": int,
    "log_lines": int,
    "bookmark_interval": float,
    "sync_interval": float,
}


def options_from_scenario(section: Any, base: KubeOptions) -> KubeOptions:
    """Apply a scenario's `kube:` mapping (time_scale, max_concurrency, history, log_lines,
    bookmark_interval, sync_interval) over `base`; a bad value is a ScenarioError."""
    from dataclasses import replace

    if not section:
        return base
    if not isinstance(section, dict):
        raise ScenarioError("scenario: 'kube' must be a mapping")
    changes: dict[str, Any] = {}
    for key, value in section.items():
        conv = _SCENARIO_KEYS.get(key)
        if conv is None:
            raise ScenarioError(
                f"scenario: kube.{key} is not a kube option ({', '.join(sorted(_SCENARIO_KEYS))})"
            )
        try:
            changes[key] = conv(value)
        except (TypeError, ValueError):
            raise ScenarioError(f"scenario: kube.{key} must be a number") from None
        if changes[key] <= 0:
            raise ScenarioError(f"scenario: kube.{key} must be positive")
    return replace(base, **changes)


class KubeRuntime:
    """Everything the routes, the controller and the kubelet share."""

    def __init__(self, state: EmulatorState, options: KubeOptions) -> None:
        self.state = state
        self.options = options
        self.wake = asyncio.Event()  # set on any object change: controller and kubelet resync
        self.kubelet: Kubelet | None = None
        self.controller_task: asyncio.Task[None] | None = None
        self.node_sigs: dict[str, dict[str, NodeSeen]] = {}  # cluster -> node -> last rendered
        self.ds_backoff: dict[tuple[str, str], tuple[float, float]] = {}  # (ds uid, node)
        self.ds_backoff_pending: set[tuple[str, str]] = set()  # back-offs not yet expired
        self.reconciled_rv: dict[str, int] = {}  # cluster -> store.rv after the last pass
        self.closing = False  # set on app shutdown: open watches and log follows end at once
        self._schemas: asyncio.Future[schema.Schemas] | None = None

    def warm_schemas(self) -> None:
        """Start building the kinds' schemas in a thread (the loop keeps serving meanwhile)."""
        if self._schemas is None:
            self._schemas = asyncio.get_running_loop().run_in_executor(None, schema.load)

    async def schemas(self) -> schema.Schemas:
        """The kinds' schemas (field validation, OpenAPI, apply), once built."""
        self.warm_schemas()
        assert self._schemas is not None
        return await self._schemas

    # -- stores
    def clusters(self) -> list[str]:
        with self.state.lock:
            return list(self.state.clusters)

    def store(self, cluster: str) -> KubeStore | None:
        """The cluster's store, created with its system namespaces on first use."""
        st = self.state.kube.get(cluster)
        if isinstance(st, KubeStore):
            return st
        with self.state.lock:
            if cluster not in self.state.clusters:
                return None
        st = KubeStore(cluster, self.options.history, self.options.log_lines)
        for ns in SYSTEM_NAMESPACES:
            st.create("namespaces", prepare_namespace({"metadata": {"name": ns}}))

        def listener(ev: WatchEvent, c: str = cluster) -> None:
            self._on_event(c, ev)

        st.listeners.append(listener)
        self.state.kube[cluster] = st
        from .controller import sync_nodes

        sync_nodes(self, st)
        return st

    def _on_event(self, cluster: str, ev: WatchEvent) -> None:
        if ev.resource == "events":
            return  # recorded by the loops themselves: no resync for them
        self.wake.set()
        if self.kubelet is not None and ev.resource == "pods":
            self.kubelet.poke(cluster, ev)

    def close_streams(self) -> None:
        """End every open watch now (the server waits for open requests when it stops)."""
        self.closing = True
        for st in list(self.state.kube.values()):
            if isinstance(st, KubeStore):
                for w in list(st.watchers):
                    w.queue.put_nowait(None)
                for lg in st.logs.values():
                    lg.changed.set()

    # -- nodes
    def sim_nodes(self, cluster: str) -> dict[str, SimNode]:
        with self.state.lock:
            c = self.state.clusters.get(cluster)
            return dict(c.nodes) if c else {}

    def sim_node(self, cluster: str, name: str) -> SimNode | None:
        with self.state.lock:
            c = self.state.clusters.get(cluster)
            return c.nodes.get(name) if c else None

    def node_ready(self, node: SimNode) -> bool:
        """SimNode.ready and no node-not-ready fault naming it (by node, pool or index)."""
        if not node.ready:
            return False
        for kind in ("node-not-ready", "node_not_ready"):
            for _ in self.faults(
                kind, node.cluster, node=node.name, pool=node.pool, index=node.instance_id
            ):
                return False
        return True

    def kube_version(self, cluster: str) -> str:
        with self.state.lock:
            c = self.state.clusters.get(cluster)
            return f"v{c.kubernetes_version}" if c else "v1.32.6"

    # -- faults
    def faults(self, kind: str, cluster: str | None = None, **match: str) -> list[dict[str, Any]]:
        """Faults of a kind that apply: a key the fault leaves out matches anything."""
        out: list[dict[str, Any]] = []
        with self.state.lock:
            for f in self.state.faults:
                if f.get("kind") != kind:
                    continue
                if cluster is not None and f.get("cluster") not in (None, cluster):
                    continue
                if all(f.get(k) is None or str(f.get(k)) == v for k, v in match.items()):
                    out.append(f)
        return out

    def kube_down(self, cluster: str) -> dict[str, Any] | None:
        """The kube-down fault holding now, if any; its clock starts at the first request."""
        now = time.time()
        for f in self.faults("kube-down", cluster):
            with self.state.lock:
                if "seconds" not in f:
                    return f
                until = f.setdefault("until", now + float(f["seconds"]))
            if now < until:
                return f
        return None

    def reboot_node(self, cluster: str, node: str) -> int:
        """Simulate a node reboot/reimage for its pods (see Kubelet.reboot). Loop thread only;
        from another thread use `loop.call_soon_threadsafe(rt.reboot_node, cluster, node)`."""
        return self.kubelet.reboot(cluster, node) if self.kubelet is not None else 0

    # -- pods
    def delete_pod(
        self, store: KubeStore, pod: dict[str, Any], grace: bool = True, seconds: int | None = None
    ) -> dict[str, Any]:
        """Delete a pod like the API server: graceful (deletionTimestamp, MODIFIED; the kubelet
        stops the container, then DELETED) when a kubelet runs it, at once otherwise."""
        import copy

        from .store import now_iso

        meta = pod["metadata"]
        ns, name = meta["namespace"], meta["name"]
        if meta.get("deletionTimestamp"):
            return pod
        kubelet = self.kubelet
        tracked = kubelet is not None and kubelet.tracks(store.cluster, ns, name)
        if grace and tracked and seconds != 0:
            new = copy.deepcopy(pod)
            new["metadata"]["deletionTimestamp"] = now_iso()
            new["metadata"]["deletionGracePeriodSeconds"] = (
                seconds
                if seconds is not None
                else pod["spec"].get("terminationGracePeriodSeconds", 30)
            )
            return store.update("pods", new)
        if tracked and kubelet is not None:
            kubelet.kill_now(store.cluster, ns, name)
        return store.remove("pods", ns, name) or pod

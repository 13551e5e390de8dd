"""The emulator's Kubernetes side: API server, DaemonSet controller, scheduler, simulated kubelet.

Server hook (one call, nothing else to start or stop)::

    from aksaudit_emulator.kube import KubeOptions, register_kube_routes
    rt = register_kube_routes(app, state, KubeOptions(token=token))

It adds the routes `/k8s/{cluster}` and `/k8s/{cluster}/{tail:.*}` (any method) and appends an
`on_startup` hook (starts the controller task and the kubelet on the app's loop) and an
`on_shutdown` hook (ends open watches and log follows, so the server need not wait for them)
and an `on_cleanup` hook (kills every container process, stops both). `app[KUBE_RUNTIME]` is the
`KubeRuntime`; `state.kube[cluster]` is each cluster's `KubeStore` (created on first use, with
the namespaces default, kube-system, kube-public, kube-node-lease; nodes come from
`state.clusters[c].nodes` and follow it within `sync_interval`). Call `store.compact()` to make
every earlier resourceVersion answer 410 Expired.

Auth: any `Authorization: Bearer <token>` (401 without), or exactly `KubeOptions.token` when set.

Scenario: an optional top-level `kube:` mapping overrides KubeOptions fields, e.g.
`kube: {time_scale: 0.05, max_concurrency: 64, history: 5000, log_lines: 2000,
bookmark_interval: 5, sync_interval: 0.2}` (history = watch events kept per resource;
time_scale multiplies probe periods/delays, activeDeadlineSeconds, restart and image-pull
back-off, and the termination grace period).

Faults (dicts in `state.faults`; a key left out matches anything; read on every use, so tests
may add and remove them at any time; take `state.lock` when mutating the list):
- `{"kind": "kube-down", "cluster": C, "seconds": S}`: every request answers 503
  ServiceUnavailable and open watches end, for S seconds counted from the first request that
  sees it (the emulator writes `"until"` into the dict); no `seconds` = until removed.
  `"retry_after": N` adds a Retry-After header (urllib3 then retries by itself).
- `{"kind": "drop-watch", "cluster": C, "resource": "pods", "after_events": N, "times": K}`: a
  watch stream ends cleanly after N events (default 0); `times` limits how many watches are
  dropped (decremented, default every watch).
- `{"kind": "pod-pending", "cluster": C, "node": NODE, "namespace": NS, "pod_prefix": P}`: the
  pod stays Pending, container waiting `ContainerCreating`; as on a real node the kubelet has
  started the pod (status.startTime), so `activeDeadlineSeconds` still ends it (Failed,
  DeadlineExceeded). With `"ack": false` the kubelet never takes the pod on: Pending with no
  startTime and no container status, forever.
- `{"kind": "image-pull", "cluster": C, "node": NODE, "namespace": NS, "image": SUBSTR,
  "pod_prefix": P}`: Pending, waiting `ErrImagePull`, then `ImagePullBackOff`.
- `{"kind": "node-not-ready", "cluster": C, "node": NODE, "pool": P, "index": I}` (also
  spelled `node_not_ready`): node Ready=False with the not-ready taints; pods bound there stay
  Pending with no container status (same as `SimNode.ready = False`). Running ones go on.
- `{"kind": "forbidden", "cluster": C, "verb": V, "resource": R, "namespace": NS, "reason": T}`:
  matching requests get the RBAC 403 and SelfSubjectAccessReview answers allowed=false.

Node reboot/reimage: `rt.reboot_node(cluster, node)` (loop thread) kills every container on
the node and starts it again at once (restartCount + 1, fresh run dir).

API semantics kept as a real API server has them: deletion with finalizers and the garbage
collector (gc.py: foreground keeps the owner until its dependents are gone, background,
orphan); uid, creationTimestamp, resourceVersion and generation set by the server on create; one
log per container instance (`previous=true` is the one before the last restart, 400 when there
was none); JSON or YAML bodies only (protobuf: 415); discovery with short names; OpenAPI v2/v3
(openapi.py, from schema.py: the `kubernetes` client's models), field validation and pruning of
unknown fields; strategic merge patch (smp.py); server-side apply and managedFields (ssa.py);
Events from the scheduler, kubelet and DaemonSet controller (events.py; also as
events.k8s.io/v1, which clients may write too); Table output (table.py); streaming lists
(`sendInitialEvents=true`, what kubectl >= 1.35 watches with).

Kubelet guarantees: see kubelet.py's docstring. In short: a pod bound to a Linux node with a
root runs its first container's command for real (`sh`), with the node root as AKSAUDIT_ROOT
and the stand-ins first on PATH; phase, container state, Ready and the log follow as on a real
node; at most `max_concurrency` one-shot containers run at once; container processes die with
the emulator (setpriv --pdeathsig) and are killed on pod delete (SIGTERM, SIGKILL after the
scaled grace period, at most 2 s).
"""

from __future__ import annotations

from aiohttp import web

from ..state import EmulatorState
from .api import KubeApi
from .controller import run_controller
from .kubelet import Kubelet
from .runtime import KubeOptions, KubeRuntime, options_from_scenario
from .store import KubeStore

__all__ = [
    "KUBE_RUNTIME",
    "KubeOptions",
    "KubeRuntime",
    "KubeStore",
    "Kubelet",
    "register_kube_routes",
]

KUBE_RUNTIME = web.AppKey("aksaudit_kube_runtime", KubeRuntime)


def register_kube_routes(
    app: web.Application, state: EmulatorState, options: KubeOptions | None = None
) -> KubeRuntime:
    """Serve the Kubernetes API of every cluster in `state` and run its control loops with the
    app (startup/cleanup hooks)."""
    opts = options_from_scenario((state.scenario or {}).get("kube"), options or KubeOptions())
    rt = KubeRuntime(state, opts)
    api = KubeApi(rt)
    app.router.add_route("*", "/k8s/{cluster}", api.handle)
    app.router.add_route("*", "/k8s/{cluster}/{tail:.*}", api.handle)
    app[KUBE_RUNTIME] = rt

    async def on_startup(_app: web.Application) -> None:
        import asyncio

        for cluster in rt.clusters():
            rt.store(cluster)
        rt.warm_schemas()
        Kubelet(rt).start()
        rt.controller_task = asyncio.get_running_loop().create_task(run_controller(rt))

    async def on_cleanup(_app: web.Application) -> None:
        import asyncio
        import contextlib

        task = rt.controller_task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if rt.kubelet is not None:
            await rt.kubelet.stop()

    async def on_shutdown(_app: web.Application) -> None:
        rt.close_streams()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return rt

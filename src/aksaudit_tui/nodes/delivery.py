"""Node delivery: run the node script on every eligible node, through one-shot pods or the keeper
DaemonSet, and report one :class:`NodeResult` per node.

The work happens inside the cluster; this module only creates objects and follows them with one
pod watch per run. One-shot pods are always deleted (success, failure, deadline, cancel, error):
every exit path goes through a ``finally`` that deletes by the run's label and waits until the
pods are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from kubernetes.client.exceptions import ApiException

from aksaudit_tui.errors import UsageError, UserError
from aksaudit_tui.nodes import manifests as m
from aksaudit_tui.nodes.kube import KubeClient, NodeInfo, Obj, PodEvent, PodWatch, api_message
from aksaudit_tui.nodes.older_keepers import stop_keeper
from aksaudit_tui.nodes.pods import (
    container_started,
    container_status,
    pod_node,
    pod_ready,
    pod_reason,
    waiting_reason,
)
from aksaudit_tui.nodes.status import NodeStatus, parse_node_status

DeliveryMode = Literal["keeper", "one-shot"]
NodePhase = Literal[
    "pending", "scheduled", "running", "compliant", "failed", "skipped", "removed", "unknown"
]
OnNode = Callable[["NodeResult"], None]

# Waiting reasons that will not fix themselves within a rollout. ErrImagePull is not one: the
# first failed pull may be a registry blip; ImagePullBackOff follows when it persists.
HARD_WAITING = frozenset(
    {
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "CrashLoopBackOff",
    }
)
_TICK_S = 0.25
_NS_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class DeliverySpec:
    """Delivery parameters, built by the engine from the plan."""

    namespace: str = m.DEFAULT_NAMESPACE
    image: str = m.DEFAULT_IMAGE
    mode: DeliveryMode = "keeper"
    concurrency: int = 10
    keeper_interval_s: int = 300
    pod_deadline_s: int = 600
    run_id: str = "manual"
    # One-shot leaves nothing behind: also delete our namespace when no keeper lives in it.
    cleanup_namespace: bool = True
    # The plan's hash, annotated on the namespace a run creates (cleanup's proof it is ours).
    plan_sha: str = ""

    def __post_init__(self) -> None:
        if self.mode not in ("keeper", "one-shot"):
            raise UsageError(f"delivery mode must be keeper or one-shot, not {self.mode!r}")
        if not _NS_RE.match(self.namespace) or len(self.namespace) > 63:
            raise UsageError(
                f"namespace {self.namespace!r} is not a valid Kubernetes name (lower case "
                "letters, digits and '-', at most 63 characters)"
            )
        if not self.image or any(c.isspace() for c in self.image):
            raise UsageError(f"image {self.image!r} is not a valid image reference")
        for name in ("concurrency", "keeper_interval_s", "pod_deadline_s"):
            if int(getattr(self, name)) < 1:
                raise UsageError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not self.run_id.strip():
            raise UsageError("run_id must not be empty")


@dataclass(frozen=True)
class NodeResult:
    node: str
    pool: str
    os: str  # the OS SKU when known (e.g. "Ubuntu2204"), else "linux" / "windows"
    phase: NodePhase
    audit_version: str | None = None
    status: NodeStatus | None = None  # the node script's final JSON, parsed
    message: str = ""

    @property
    def final(self) -> bool:
        return self.phase in ("compliant", "failed", "skipped", "removed", "unknown")


@dataclass
class DeliveryStats:
    """What a run cost, for the figures in the report and the O(1)-watch tests."""

    pods_created: int = 0
    watch_requests: int = 0
    relists: int = 0
    drops: int = 0
    seconds: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # e.g. no admission fence (< 1.30)


def _fence(stats: DeliveryStats, warning: str | None) -> None:
    if warning and warning not in stats.warnings:
        stats.warnings.append(warning)


async def _keeper_sha(kube: KubeClient, ns: str, run_sha: str, stats: DeliveryStats) -> str | None:
    """The script sha256 the keeper DaemonSet in ``ns`` runs, when the DaemonSet is ours and
    its sha comes from a source a namespace editor cannot write: the cluster-scoped fence
    policy's annotation, or this run's own rendered script. Its pods must stay admitted while
    a run's pods run beside them.

    The DaemonSet's env alone proves nothing (anyone who may edit DaemonSets in the namespace
    sets it), so a fence that records no sha (one from before scripts were pinned, or none)
    admits nothing of the keeper's: the run says the keeper must be applied again instead."""
    ds = await kube.get_daemonset(ns)
    meta = (ds or {}).get("metadata") or {}
    if ds is None or (meta.get("labels") or {}).get(m.LABEL_MANAGED_BY) != m.MANAGED_BY_VALUE:
        return None
    containers = ((ds.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers")
    env = [e for c in containers or [] for e in c.get("env") or [] if e.get("name") == m.SHA_ENV]
    sha = str(env[-1].get("value") or "") if env else ""
    if not m.is_sha256(sha):
        return None
    if sha == run_sha:
        return sha
    admitted = await kube.admitted_shas(ns)
    if admitted is not None and sha in admitted:
        return sha
    if admitted is None and m.fence_supported(await kube.server_version()):
        _fence(
            stats,
            f"the keeper DaemonSet in {ns} runs a script no aksaudit fence records as "
            "admitted (a fence from before scripts were pinned): this run does not admit it, "
            "so its pods cannot restart until you apply the keeper again",
        )
    return None


async def _make_fence(
    kube: KubeClient, spec: DeliverySpec, run_sha: str, keeper: str | None, stats: DeliveryStats
) -> None:
    """Fence ``spec.namespace`` for this run before its first pod: the run's script and the
    running keeper's (``keeper``, from :func:`_keeper_sha`) are the only ones admitted; then
    ask admission, with the run's sha, whether our pods may run. The caller holds ``keeper``
    before this widens the fence, so every way out of the run can narrow it again."""
    shas = m.fence_shas(run_sha, keeper)
    _fence(stats, await kube.ensure_fence(spec.namespace, spec.image, shas))
    await kube.check_admission(spec.namespace, spec.image, run_sha)


async def _narrow_fence(
    kube: KubeClient, spec: DeliverySpec, sha: str, stats: DeliveryStats
) -> None:
    """Put the fence back to admitting ``sha`` only (the script the keeper DaemonSet runs).
    A failure is said in ``stats.warnings``, never raised: this runs on the way out of a run,
    where raising would hide the error that ended it."""
    try:
        _fence(stats, await kube.ensure_fence(spec.namespace, spec.image, (sha,)))
    except (ApiException, UserError) as e:
        msg = api_message(e) if isinstance(e, ApiException) else str(e)
        _fence(
            stats,
            f"the fence in {spec.namespace} still admits this run's script beside the keeper's: "
            f"narrowing it failed ({msg}); apply again to put it back",
        )


def _result(
    n: NodeInfo, phase: NodePhase, message: str = "", st: NodeStatus | None = None
) -> NodeResult:
    return NodeResult(
        node=n.name,
        pool=n.pool,
        os=n.os_sku or n.os,
        phase=phase,
        audit_version=st.audit_version if st else None,
        status=st,
        message=message,
    )


def _skip_result(n: NodeInfo) -> NodeResult:
    # NotReady is a node we should configure but cannot now: a failure, not a skip.
    if not n.ready and n.os != "windows" and not n.virtual and n.skip_reason == "node NotReady":
        return _result(n, "failed", "node NotReady: not configured (run again when it is Ready)")
    return _result(n, "skipped", n.skip_reason or "")


def result_from_status(
    n: NodeInfo, st: NodeStatus | None, script_mode: str, log: str
) -> NodeResult:
    """A node's outcome from the node script's JSON status (None: no status line)."""
    if st is None:
        return _result(n, "failed", _tail(log) or "no status line in the pod log")
    if not st.supported:
        return _result(n, "skipped", st.skip_reason or "unsupported node OS", st)
    if not st.ok:
        return _result(n, "failed", "; ".join(st.errors) or "node script reported errors", st)
    if script_mode == "remove":
        return _result(n, "removed", "restored", st)
    if not st.compliant:
        what = ", ".join(st.changed) or "configuration"
        return _result(n, "failed", f"not compliant (would change: {what})", st)
    return _result(
        n, "compliant", "ok" if not st.changed else "changed: " + ", ".join(st.changed), st
    )


def _tail(log: str, lines: int = 1) -> str:
    rows = [ln.strip() for ln in log.splitlines() if ln.strip()]
    return " | ".join(rows[-lines:])


def _name(pod: Obj) -> str:
    return str((pod.get("metadata") or {}).get("name", ""))


def _emit(on_node: OnNode | None, r: NodeResult) -> None:
    if on_node is not None:
        on_node(r)


# --- one-shot --------------------------------------------------------------------------------


@dataclass
class _Active:
    node: NodeInfo
    created: float
    pod: Obj | None = None
    scheduled_reported: bool = False
    running_reported: bool = False


def _start(nodes: Sequence[NodeInfo], on_node: OnNode | None) -> dict[str, NodeResult]:
    """Report every node once before any pod: skipped ones with their reason (their final
    result, returned), eligible ones ``pending``."""
    results: dict[str, NodeResult] = {}
    for n in nodes:
        if not n.eligible:
            results[n.name] = _skip_result(n)
            _emit(on_node, results[n.name])
    for n in nodes:
        if n.eligible:
            _emit(on_node, _result(n, "pending"))
    return results


def _stop_watch(watch: PodWatch, stats: DeliveryStats) -> None:
    watch.stop()
    stats.watch_requests += watch.watch_requests
    stats.relists += watch.relists
    stats.drops += watch.drops


async def _oneshot(
    kube: KubeClient,
    spec: DeliverySpec,
    nodes: Sequence[NodeInfo],
    script_text: str,
    rules_text: str,
    script_mode: m.ScriptMode,
    on_node: OnNode | None,
    cancel: asyncio.Event | None,
    deadline_s: float | None,
    stats: DeliveryStats,
) -> list[NodeResult]:
    t0 = time.monotonic()
    results = _start(nodes, on_node)
    todo = deque(n for n in nodes if n.eligible)
    if not todo:
        return [results[n.name] for n in nodes]

    ns = spec.namespace
    run_label = m.label_value(spec.run_id)
    selector = f"{m.LABEL_RUN}={run_label},{m.LABEL_ROLE}=oneshot"
    cm_name = m.oneshot_configmap_name(spec.run_id)
    active: dict[str, _Active] = {}
    finishing: set[asyncio.Task[None]] = set()
    creating: set[asyncio.Future[Obj]] = set()
    starting: set[asyncio.Task[None]] = set()  # waiting for their create's answer
    broken: list[Exception] = []  # a create that failed in a way no node result says
    watch: PodWatch | None = None
    end = t0 + deadline_s if deadline_s else None
    ns_created = False
    run_sha = m.script_sha256(script_text)
    keeper_sha: str | None = None

    async def finish(name: str, a: _Active, pod: Obj | None, reason: str | None) -> None:
        """Read the pod's log once, record the node's result, delete the pod."""
        n = a.node
        try:
            log = ""
            if pod is not None and container_started(pod):
                log = await kube.pod_log(ns, name)
            st = parse_node_status(log)
            detail = _tail(log)
            if st is not None:  # the script's own verdict (and errors) wins
                r = result_from_status(n, st, script_mode, log)
            elif (
                reason is not None
                and script_mode == "check"
                and not (pod and container_started(pod))
            ):
                # a check pod that never ran tells nothing about the node: unknown, not failed
                r = _result(n, "unknown", f"pod did not start ({reason})")
            elif reason is not None:
                r = _result(n, "failed", reason + (f"; last log line: {detail}" if detail else ""))
            else:
                where = pod_reason(pod) if pod is not None else "pod"
                r = _result(n, "failed", f"{where}; no status line: {detail or 'no output'}")
        except ApiException as e:
            r = _result(n, "failed", f"reading the pod log failed: {api_message(e)}")
        results[n.name] = r
        try:
            _emit(on_node, r)
        finally:  # the pod goes even if the caller's callback fails
            with contextlib.suppress(ApiException):
                await kube.delete_pod(ns, name, grace_s=0 if reason is None else None)

    def start_finish(name: str, pod: Obj | None, reason: str | None) -> None:
        a = active.pop(name, None)
        if a is None:
            return
        t = asyncio.ensure_future(finish(name, a, pod, reason))
        finishing.add(t)
        t.add_done_callback(finishing.discard)

    def consider(pod: Obj) -> None:
        name = _name(pod)
        a = active.get(name)
        if a is None:
            return
        a.pod = pod
        scheduled(a)  # the pod is there: its create landed, whether or not its answer has
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            reason = None if phase == "Succeeded" else pod_reason(pod)
            start_finish(name, pod, reason)
            return
        wreason, _ = waiting_reason(pod)
        if wreason in HARD_WAITING:
            start_finish(name, pod, pod_reason(pod))
            return
        if phase == "Running" and not a.running_reported:
            a.running_reported = True
            _emit(on_node, _result(a.node, "running"))

    def start(n: NodeInfo) -> None:
        """Create the pod on ``n`` without waiting for the API's answer: the loop goes on
        reading events, so a finished pod's successor starts at once, not after the creates in
        flight have returned (waiting for them held every freed slot by a create's round
        trip, a wave in all but name)."""
        body = oneshot_pod(spec, script_text, script_mode, n.name)
        name = body["metadata"]["name"]
        active[name] = _Active(n, time.monotonic())
        # Kept: a cancel cannot stop the create's thread, so the cleanup below waits for it
        # to land and then deletes its pod (else a privileged pod can land after the run's
        # last look and stay).
        call = asyncio.ensure_future(kube.create_pod(body))
        creating.add(call)
        call.add_done_callback(creating.discard)
        task = asyncio.ensure_future(created(n, name, call))
        starting.add(task)
        task.add_done_callback(starting.discard)

    async def created(n: NodeInfo, name: str, call: asyncio.Future[Obj]) -> None:
        try:
            await asyncio.shield(call)
        except (ApiException, UserError) as e:
            active.pop(name, None)
            msg = api_message(e) if isinstance(e, ApiException) else str(e)
            results[n.name] = _result(n, "failed", f"creating the pod failed: {msg}")
            _emit(on_node, results[n.name])
            return
        except Exception as e:  # anything else ends the run, as it did when awaited there
            broken.append(e)
            return
        stats.pods_created += 1
        a = active.get(name)
        if a is not None:  # (its events may have finished it already)
            scheduled(a)

    def scheduled(a: _Active) -> None:
        """Report the node ``scheduled`` once, before anything its pod's events report."""
        if not a.scheduled_reported:
            a.scheduled_reported = True
            _emit(on_node, _result(a.node, "scheduled"))

    outcome: Literal["done", "cancelled", "deadline"] = "done"
    try:
        # Two steps of calls at once instead of eight in a row (the first pod waited for every
        # one): the namespace beside the keeper's sha (a read), then the fence (which needs
        # that sha), the ConfigMap and the watch (which need the namespace). Each step waits
        # for all its calls, so a failure never leaves one running into the cleanup.
        made, sha = await asyncio.gather(
            kube.ensure_namespace(ns, plan_sha=spec.plan_sha),
            _keeper_sha(kube, ns, run_sha, stats),
            return_exceptions=True,
        )
        ns_created = made is True
        _raise_first(made, sha)
        keeper_sha = sha if isinstance(sha, str) else None
        watch = kube.watch_pods(ns, selector)
        _raise_first(
            *await asyncio.gather(
                _make_fence(kube, spec, run_sha, keeper_sha, stats),
                kube.ensure_configmap(oneshot_configmap(spec, script_text, rules_text)),
                watch.start(),
                return_exceptions=True,
            )
        )
        leftovers = watch.started_with
        if leftovers:  # same run id reused after a crash: start clean
            await kube.delete_pods(ns, selector, grace_s=0)

        while todo or active:
            if cancel is not None and cancel.is_set():
                outcome = "cancelled"
                break
            now = time.monotonic()
            if end is not None and now > end:
                outcome = "deadline"
                break
            if broken:
                raise broken[0]
            while todo and len(active) < max(1, spec.concurrency):
                start(todo.popleft())
            ev = await watch.next(_TICK_S)
            while ev is not None:
                _handle_event(ev, active, consider, start_finish)
                nxt = watch.drain()
                ev = nxt.pop(0) if nxt else None
                for e in nxt:
                    _handle_event(e, active, consider, start_finish)
            now = time.monotonic()
            for name, a in list(active.items()):
                if now - a.created > spec.pod_deadline_s:
                    where = pod_reason(a.pod) if a.pod else "no status from the node"
                    start_finish(
                        name, a.pod, f"no result after {spec.pod_deadline_s}s (pod {where})"
                    )
        if finishing:
            await asyncio.gather(*list(finishing), return_exceptions=True)
    finally:
        if watch is not None:
            _stop_watch(watch, stats)
        for t in list(finishing):
            if not t.done():
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await t
        for t in list(starting):
            t.cancel()  # (shielded: the creates themselves are waited for just below)
        if creating:
            await asyncio.gather(*list(creating), return_exceptions=True)
        try:
            await _cleanup_oneshot(kube, spec, selector, cm_name, ns_created)
        finally:
            if keeper_sha is not None and keeper_sha != run_sha:
                # the keeper stays: its fence goes back to admitting its script only
                await _narrow_fence(kube, spec, keeper_sha, stats)

    tail_msg = {"cancelled": "cancelled", "deadline": "rollout deadline reached", "done": ""}[
        outcome
    ]
    phase: NodePhase = "unknown" if outcome == "cancelled" else "failed"
    for a in active.values():
        results[a.node.name] = _result(a.node, phase, tail_msg)
        _emit(on_node, results[a.node.name])
    for n in todo:
        results[n.name] = _result(n, phase, tail_msg + " before this node was started")
        _emit(on_node, results[n.name])
    stats.seconds = time.monotonic() - t0
    return [results[n.name] for n in nodes if n.name in results]


def _raise_first(*results: object) -> None:
    """Raise the first exception among ``results`` (``gather(..., return_exceptions=True)``)."""
    for r in results:
        if isinstance(r, BaseException):
            raise r


def _handle_event(
    ev: PodEvent,
    active: dict[str, _Active],
    consider: Callable[[Obj], None],
    start_finish: Callable[[str, Obj | None, str | None], None],
) -> None:
    if ev.type == "ERROR":
        raise UserError(ev.message)
    if ev.type == "RELISTED":
        present = {_name(p) for p in ev.pods}
        for p in ev.pods:
            consider(p)
        for name in [n for n in active if n not in present]:
            a = active[name]
            if a.pod is not None:  # it existed and vanished while the watch was away
                start_finish(name, a.pod, "the pod was deleted by someone else")
        return
    if ev.pod is None:
        return
    if ev.type == "DELETED":
        name = _name(ev.pod)
        if name in active:
            start_finish(name, ev.pod, "the pod was deleted by someone else")
        return
    consider(ev.pod)


async def _cleanup_oneshot(
    kube: KubeClient, spec: DeliverySpec, selector: str, cm_name: str, ns_created: bool
) -> None:
    """Delete every pod of this run (waiting until they are gone), its ConfigMap, and our
    namespace when nothing else of ours lives in it."""
    ns = spec.namespace
    errors: list[str] = []
    try:
        await kube.delete_pods(ns, selector)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            pods, _ = await kube.list_pods(ns, selector)
            if not pods:
                break
            if any(not (p.get("metadata") or {}).get("deletionTimestamp") for p in pods):
                # A create still in flight when the run was cancelled (its thread cannot be
                # stopped) lands after the delete: delete again.
                await kube.delete_pods(ns, selector)
            await asyncio.sleep(0.25)
        else:
            errors.append("one-shot pods still terminating")
    except ApiException as e:
        errors.append(f"deleting the pods failed: {api_message(e)}")
    try:
        await kube.delete_owned("configmap", ns, cm_name)
        if spec.cleanup_namespace and spec.mode == "one-shot":
            ds = await kube.get_daemonset(ns)
            if ds is None:
                rest, _ = await kube.list_pods(ns, m.MANAGED_SELECTOR)
                if not rest:
                    await kube.delete_owned("namespace", "", ns)
    except ApiException as e:
        errors.append(f"cleanup failed: {api_message(e)}")
    if errors:
        raise UserError(
            f"{'; '.join(errors)} in namespace {ns}; run `aksaudit cleanup` to remove leftovers"
        )


# --- keeper ----------------------------------------------------------------------------------


async def _failed_run_log(kube: KubeClient, ns: str, name: str) -> str:
    """The log of the keeper container that just failed.

    The API server serves one log per container instance. While the container waits in
    CrashLoopBackOff the failed instance is still the current one (``previous`` is the run
    before it, or 400 after the first crash); once the kubelet has restarted it, the failed one
    is ``previous``. So: the current log, or the previous one when the current holds no status
    line (a restart happened in between)."""
    log = await kube.pod_log(ns, name, tail_lines=400)
    if parse_node_status(log) is None:
        before = await kube.pod_log(ns, name, previous=True, tail_lines=400)
        if parse_node_status(before) is not None:
            return before
    return log


async def _keeper(
    kube: KubeClient,
    spec: DeliverySpec,
    nodes: Sequence[NodeInfo],
    script_text: str,
    rules_text: str,
    on_node: OnNode | None,
    cancel: asyncio.Event | None,
    deadline_s: float | None,
    stats: DeliveryStats,
) -> list[NodeResult]:
    t0 = time.monotonic()
    results = _start(nodes, on_node)
    waiting: dict[str, NodeInfo] = {n.name: n for n in nodes if n.eligible}

    ns = spec.namespace
    await kube.ensure_namespace(ns, plan_sha=spec.plan_sha)
    run_sha = m.script_sha256(script_text)
    previous = await _keeper_sha(kube, ns, run_sha, stats)
    _, configmap, ds = keeper_objects(spec, script_text, rules_text)
    try:
        await _make_fence(kube, spec, run_sha, previous, stats)
        await kube.ensure_configmap(configmap)
        await kube.ensure_daemonset(ds)
    except BaseException:
        if previous is not None and previous != run_sha:
            # the DaemonSet was not moved to this script: admit only the one it runs
            await _narrow_fence(kube, spec, previous, stats)
        raise
    if previous is not None and previous != run_sha:
        # the DaemonSet now runs this script: the previous one is no longer admitted
        await _narrow_fence(kube, spec, run_sha, stats)
    want_sha = ds["metadata"]["annotations"][m.ANNOTATION_SPEC_SHA]
    if not waiting:
        return [results[n.name] for n in nodes]

    latest: dict[str, Obj] = {}  # node -> current-generation keeper pod
    reading: dict[str, asyncio.Task[None]] = {}
    reported_running: set[str] = set()
    reported_scheduled: set[str] = set()
    limit = deadline_s if deadline_s else float(spec.pod_deadline_s)
    end = t0 + limit

    async def conclude(node: str, pod: Obj, failed_reason: str | None) -> None:
        n = waiting.get(node)
        if n is None:
            return
        try:
            if failed_reason and "CrashLoopBackOff" in failed_reason:
                log = await _failed_run_log(kube, ns, _name(pod))
            else:
                log = (
                    await kube.pod_log(ns, _name(pod), tail_lines=400)
                    if container_started(pod)
                    else ""
                )
        except ApiException as e:
            log = f"(log unavailable: {api_message(e)})"
        st = parse_node_status(log)
        if failed_reason is None and st is None:
            # Ready means the launcher saw an ok status; the log no longer holds it.
            r = _result(n, "compliant", "keeper pod Ready (no status line in its recent log)")
        elif failed_reason is None:
            r = result_from_status(n, st, "apply", log)
            if r.phase == "failed" and st is not None and st.ok and not st.compliant:
                return  # the keeper is re-applying right now; wait for its next status
        elif st is not None and not st.ok:
            r = result_from_status(n, st, "apply", log)
        else:
            detail = _tail(log)
            r = _result(
                n, "failed", failed_reason + (f"; last log line: {detail}" if detail else ""), st
            )
        if node in waiting:
            del waiting[node]
            results[node] = r
            _emit(on_node, r)

    def schedule(node: str, pod: Obj, failed_reason: str | None) -> None:
        if node in reading and not reading[node].done():
            return
        reading[node] = asyncio.ensure_future(conclude(node, pod, failed_reason))

    def consider(pod: Obj) -> None:
        node = pod_node(pod)
        if node not in waiting:
            return
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return
        if (meta.get("annotations") or {}).get(m.ANNOTATION_SPEC_SHA) != want_sha:
            return  # an older generation, about to be replaced by the DaemonSet controller
        latest[node] = pod
        wreason, _ = waiting_reason(pod)
        term = (container_status(pod).get("state") or {}).get("terminated") or {}
        if pod_ready(pod):
            schedule(node, pod, None)
        elif wreason in HARD_WAITING or term.get("exitCode", 0) != 0:
            # A failed apply exits (the launcher's contract): report it now, with the script's
            # own errors, instead of waiting for the deadline.
            schedule(node, pod, pod_reason(pod))
        elif (pod.get("status") or {}).get("phase") == "Running" and node not in reported_running:
            reported_running.add(node)
            _emit(on_node, _result(waiting[node], "running"))
        elif node not in reported_scheduled and (pod.get("status") or {}).get("phase") == "Pending":
            reported_scheduled.add(node)
            _emit(on_node, _result(waiting[node], "scheduled"))

    watch = kube.watch_pods(ns, m.KEEPER_SELECTOR)
    outcome: Literal["done", "cancelled", "deadline"] = "done"
    try:
        for p in await watch.start():
            consider(p)
        while waiting:
            if cancel is not None and cancel.is_set():
                outcome = "cancelled"
                break
            if time.monotonic() > end:
                outcome = "deadline"
                break
            ev = await watch.next(_TICK_S)
            events = [ev, *watch.drain()] if ev is not None else []
            for e in events:
                if e.type == "ERROR":
                    raise UserError(e.message)
                if e.type == "RELISTED":
                    for p in e.pods:
                        consider(p)
                elif e.pod is not None and e.type != "DELETED":
                    consider(e.pod)
                elif e.pod is not None:
                    latest.pop(pod_node(e.pod), None)
        pending_reads = [t for t in reading.values() if not t.done()]
        if pending_reads:
            await asyncio.gather(*pending_reads, return_exceptions=True)
    finally:
        _stop_watch(watch, stats)
        for t in reading.values():
            if not t.done():
                t.cancel()

    if outcome == "deadline" or (outcome == "done" and waiting):
        await _explain_stragglers(kube, spec, waiting, latest, results, on_node, limit)
    for n in list(waiting.values()):
        r = _result(n, "unknown" if outcome == "cancelled" else "failed", outcome)
        results[n.name] = r
        _emit(on_node, r)
    stats.seconds = time.monotonic() - t0
    return [results[n.name] for n in nodes if n.name in results]


async def _explain_stragglers(
    kube: KubeClient,
    spec: DeliverySpec,
    waiting: dict[str, NodeInfo],
    latest: dict[str, Obj],
    results: dict[str, NodeResult],
    on_node: OnNode | None,
    limit: float,
) -> None:
    """At the deadline, one reason per node still not Ready (a log read only for those)."""
    sem = asyncio.Semaphore(max(1, spec.concurrency))

    async def one(n: NodeInfo) -> None:
        pod = latest.get(n.name)
        if pod is None:
            msg = (
                f"no current keeper pod on this node after {limit:.0f}s (the DaemonSet did not "
                "place one: check its events, node affinity, taints, admission)"
            )
            r = _result(n, "failed", msg)
        else:
            log = ""
            if container_started(pod):
                async with sem:
                    with contextlib.suppress(ApiException):
                        log = await kube.pod_log(spec.namespace, _name(pod), tail_lines=400)
            st = parse_node_status(log)
            if st is not None and not st.ok:
                r = result_from_status(n, st, "apply", log)
            else:
                detail = _tail(log)
                r = _result(
                    n,
                    "failed",
                    f"keeper pod not Ready after {limit:.0f}s: {pod_reason(pod)}"
                    + (f"; last log line: {detail}" if detail else ""),
                    st,
                )
        waiting.pop(n.name, None)
        results[n.name] = r
        _emit(on_node, r)

    await asyncio.gather(*(one(n) for n in list(waiting.values())))


# --- public API ------------------------------------------------------------------------------


async def rollout(
    kube: KubeClient,
    spec: DeliverySpec,
    nodes: Sequence[NodeInfo],
    script_text: str,
    rules_text: str = "",
    *,
    on_node: OnNode | None = None,
    cancel: asyncio.Event | None = None,
    deadline_s: float | None = None,
    stats: DeliveryStats | None = None,
) -> list[NodeResult]:
    """Configure every eligible node (apply), in ``spec.mode``; one result per node, in order.

    Skipped nodes (Windows, virtual, immutable OS) come back ``skipped`` with the reason; NotReady
    nodes ``failed``. On cancel the nodes not finished come back ``unknown`` ("cancelled"). Raises
    UserError when admission rejects our pods (the API's reason and what to fix)."""
    stats = stats if stats is not None else DeliveryStats()
    before = dict(kube.calls)
    try:
        if spec.mode == "one-shot":
            return await _oneshot(
                kube, spec, nodes, script_text, rules_text, "apply", on_node, cancel,
                deadline_s, stats,
            )  # fmt: skip
        return await _keeper(
            kube, spec, nodes, script_text, rules_text, on_node, cancel, deadline_s, stats
        )
    finally:
        stats.calls = _delta(before, kube.calls)


def _delta(before: dict[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """API calls made since ``before`` (the client's counter is shared by every caller)."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


async def check_nodes(
    kube: KubeClient,
    spec: DeliverySpec,
    nodes: Sequence[NodeInfo],
    script_text: str,
    rules_text: str = "",
    *,
    on_node: OnNode | None = None,
    cancel: asyncio.Event | None = None,
    deadline_s: float | None = None,
    stats: DeliveryStats | None = None,
) -> list[NodeResult]:
    """Live compliance per node, changing nothing on the nodes: the keeper pods' latest status
    (keeper mode), or a one-shot pod per node running the script's ``check`` mode."""
    stats = stats if stats is not None else DeliveryStats()
    before = dict(kube.calls)
    try:
        if spec.mode == "one-shot":
            return await _oneshot(
                kube, spec, nodes, script_text, rules_text, "check", on_node, cancel,
                deadline_s, stats,
            )  # fmt: skip
        return await _keeper_status(kube, spec, nodes, script_text, on_node)
    finally:
        stats.calls = _delta(before, kube.calls)


async def _keeper_status(
    kube: KubeClient,
    spec: DeliverySpec,
    nodes: Sequence[NodeInfo],
    script_text: str,
    on_node: OnNode | None,
) -> list[NodeResult]:
    want = m.script_sha256(script_text)
    try:
        pods, _ = await kube.list_pods(spec.namespace, m.KEEPER_SELECTOR)
    except ApiException as e:
        if e.status != 404:
            raise
        pods = []
    by_node: dict[str, Obj] = {}
    for p in pods:
        if not (p.get("metadata") or {}).get("deletionTimestamp"):
            by_node[pod_node(p)] = p
    sem = asyncio.Semaphore(max(1, spec.concurrency))

    async def one(n: NodeInfo) -> NodeResult:
        if not n.eligible:
            return _skip_result(n)
        pod = by_node.get(n.name)
        if pod is None:
            return _result(n, "failed", "no keeper pod on this node")
        async with sem:
            log = await kube.pod_log(spec.namespace, _name(pod), tail_lines=400)
        st = parse_node_status(log)
        r = result_from_status(n, st, "check", log)
        sha = ((pod.get("metadata") or {}).get("annotations") or {}).get(m.ANNOTATION_SCRIPT_SHA)
        if r.phase == "compliant" and sha != want:
            r = _result(n, "failed", "keeper runs a different script than the plan's (drift)", st)
        elif r.phase == "compliant" and not pod_ready(pod):
            r = _result(n, "failed", f"keeper pod not Ready: {pod_reason(pod)}", st)
        return r

    out = await asyncio.gather(*(one(n) for n in nodes))
    for r in out:
        _emit(on_node, r)
    return list(out)


async def remove_nodes(
    kube: KubeClient,
    spec: DeliverySpec,
    nodes: Sequence[NodeInfo],
    script_text: str,
    rules_text: str = "",
    *,
    on_node: OnNode | None = None,
    cancel: asyncio.Event | None = None,
    deadline_s: float | None = None,
    stats: DeliveryStats | None = None,
) -> list[NodeResult]:
    """Undo everything on the nodes and in the cluster: delete the keeper first (so it cannot
    re-apply while we restore), run the script's ``remove`` mode through one-shot pods, then
    delete our ConfigMap and namespace. Objects without our label are never touched."""
    stats = stats if stats is not None else DeliveryStats()
    ns = spec.namespace
    await stop_keeper(kube, ns)
    oneshot = DeliverySpec(
        namespace=ns,
        image=spec.image,
        mode="one-shot",
        concurrency=spec.concurrency,
        keeper_interval_s=spec.keeper_interval_s,
        pod_deadline_s=spec.pod_deadline_s,
        run_id=spec.run_id,
        cleanup_namespace=False,
        plan_sha=spec.plan_sha,
    )
    results = await _oneshot(
        kube, oneshot, nodes, script_text, rules_text, "remove", on_node, cancel, deadline_s,
        stats,
    )  # fmt: skip
    await kube.delete_owned("configmap", ns, m.SCRIPT_CONFIGMAP)
    rest, _ = await kube.list_pods(ns, m.MANAGED_SELECTOR)
    if not rest and await kube.delete_owned("namespace", "", ns):
        await kube.wait_namespace_gone(ns)
    return results


# --- the objects, one source for the rollouts above and for `aksaudit manifests` --------------


def keeper_objects(spec: DeliverySpec, script_text: str, rules_text: str) -> tuple[Obj, Obj, Obj]:
    """Namespace, ConfigMap and DaemonSet of a keeper rollout, exactly as it sends them."""
    ns = spec.namespace
    return (
        m.namespace_manifest(ns, spec.plan_sha),
        m.configmap_manifest(ns, script_text, rules_text, spec.run_id),
        m.keeper_daemonset_manifest(
            namespace=ns,
            image=spec.image,
            script_text=script_text,
            run_id=spec.run_id,
            interval_s=spec.keeper_interval_s,
            max_unavailable=spec.concurrency,
        ),
    )


def oneshot_configmap(spec: DeliverySpec, script_text: str, rules_text: str) -> Obj:
    """A one-shot run's own ConfigMap (never the keeper's)."""
    name = m.oneshot_configmap_name(spec.run_id)
    return m.configmap_manifest(spec.namespace, script_text, rules_text, spec.run_id, name=name)


def oneshot_pod(spec: DeliverySpec, script_text: str, mode: m.ScriptMode, node: str) -> Obj:
    """The one-shot pod a run creates on ``node``."""
    return m.oneshot_pod_manifest(
        namespace=spec.namespace,
        node=node,
        mode=mode,
        image=spec.image,
        script_text=script_text,
        run_id=spec.run_id,
        configmap=m.oneshot_configmap_name(spec.run_id),
        deadline_s=spec.pod_deadline_s,
    )


ONESHOT_TEMPLATE_NAME = "aksaudit-apply"


def delivery_objects(spec: DeliverySpec, script_text: str, rules_text: str) -> list[Obj]:
    """Every object an apply with ``spec`` sends, in the order it sends them.

    Keeper: namespace, the fence (admission policy and binding, on Kubernetes >= 1.30),
    ConfigMap, DaemonSet. One-shot: namespace, fence, the run's ConfigMap and a ``PodTemplate``
    holding the pod it creates on each node: its ``metadata.name`` is then
    ``aksaudit-apply-<node>`` and ``spec.nodeName`` the node (both left out of the template)."""
    fence = [
        m.admission_policy_manifest(spec.namespace, spec.image, (m.script_sha256(script_text),)),
        m.admission_binding_manifest(spec.namespace),
    ]
    if spec.mode == "keeper":
        ns, cm, ds = keeper_objects(spec, script_text, rules_text)
        return [ns, *fence, cm, ds]
    pod = oneshot_pod(spec, script_text, "apply", "NODE")
    meta = {k: v for k, v in pod["metadata"].items() if k not in ("name", "namespace")}
    meta["annotations"] = {k: v for k, v in meta["annotations"].items() if k != "aksaudit.io/node"}
    pod_spec = {k: v for k, v in pod["spec"].items() if k != "nodeName"}
    template: Obj = {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {
            "name": ONESHOT_TEMPLATE_NAME,
            "namespace": spec.namespace,
            "labels": dict(pod["metadata"]["labels"]),
        },
        "template": {"metadata": meta, "spec": pod_spec},
    }
    return [
        m.namespace_manifest(spec.namespace, spec.plan_sha),
        *fence,
        oneshot_configmap(spec, script_text, rules_text),
        template,
    ]


def summarize(results: Iterable[NodeResult]) -> dict[str, int]:
    """Counts per phase, e.g. {"compliant": 5, "skipped": 2}."""
    out: dict[str, int] = {}
    for r in results:
        out[r.phase] = out.get(r.phase, 0) + 1
    return out


__all__ = [
    "DeliveryMode",
    "DeliverySpec",
    "DeliveryStats",
    "NodePhase",
    "NodeResult",
    "check_nodes",
    "delivery_objects",
    "keeper_objects",
    "oneshot_configmap",
    "oneshot_pod",
    "remove_nodes",
    "result_from_status",
    "rollout",
    "summarize",
]

"""Verify: one arrival query per workspace per poll for every Linux node, polled until all
arrived or the deadline; then, per missing node, the most likely reason from the probes.

Verify relies on the audit heartbeat alone for a record to wait for. A quiet node (no
login, watch-only presets, or rules that never see container processes) sends nothing but its
audit heartbeat: the node script touches the watched heartbeat file at the end of every apply
that went well and of every compliant check. So

- after an apply, a node the run configured (or checked, one-shot) touched it during the run; a
  keeper node the run left alone (nothing to change) would touch it only at the keeper's next
  check, up to one keeper interval later: ``heartbeat_now`` runs a check pod on it first, so
  apply's verify waits only the ingestion allowance, counting only records since the run
  started;
- ``aksaudit verify --probe-nodes`` runs its check pods first, on every Ready node: each
  compliant node touches its heartbeat then, and only records since the probe started count
  (whatever ``--since`` says: an older record is no proof the pipeline holds now), so a quiet
  node proves its pipeline now. A node its check found not compliant is missing with the
  check's reason, whatever it sent; a cluster whose check pods failed is named at once (an
  error of the report) and gets no second round of pods.
- without ``--probe-nodes`` (and in the wizard) verify reads each keeper's status first,
  starting nothing: a node whose keeper reported it not compliant, or has reported no check
  for it yet, is missing with that reason, whatever it sent within the look-back.

What counts as arrived is one rule per cluster, named in the verify step's log (``Rule``):
the heartbeat key (``aksaudit-heartbeat``) since the run started (after apply) or since the
check pods ran (``--probe-nodes``); on a keeper cluster otherwise, the heartbeat within two
keeper intervals (a node that broke after its keeper's last check does not pass on older
records); on a one-shot cluster, which has no scheduled heartbeat, any audit record within
``--since``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aksaudit_tui.engine.azure import arrivals
from aksaudit_tui.engine.config import EngineConfig, Timing
from aksaudit_tui.engine.coverage import NodeVerdict, VerifyReport
from aksaudit_tui.engine.events import Event, NodeArrival, StepLog, VerifyWaiting
from aksaudit_tui.engine.plan import Plan, WorkspaceRef
from aksaudit_tui.engine.rsyslog import rsyslog_gap
from aksaudit_tui.engine.runner import describe_exc
from aksaudit_tui.engine.steps import kubeops
from aksaudit_tui.engine.steps.base import StepContext
from aksaudit_tui.engine.steps.delivery import check_results
from aksaudit_tui.engine.steps.logpath import adapter, cloud_cluster, workspace_model

NOT_EXPECTED = ("Windows", "virtual", "immutable")


@dataclass(frozen=True)
class Rule:
    """What counts as a node's proof on one cluster: records (of the heartbeat key only when
    ``heartbeat``) not older than ``anchor``, looked for over ``lookback``."""

    text: str
    heartbeat: bool
    anchor: datetime | None
    lookback: Callable[[], timedelta]  # asked at every poll: a window since a moment grows

    def counts(self, arr: Any) -> bool:
        if self.heartbeat:
            n, last = getattr(arr, "heartbeats", 0), getattr(arr, "last_heartbeat", None)
        else:
            n, last = getattr(arr, "records", 0), getattr(arr, "last_seen", None)
        return n > 0 and _since_start_at(last, self.anchor)


def rule_for(
    plan: Plan,
    timing: Timing,
    since: timedelta,
    *,
    started_at: datetime | None,
    probed_at: datetime | None,
) -> Rule:
    """The rule of one verify for the plan's clusters (see the module docstring)."""
    if started_at is not None:
        return Rule("heartbeat since the run started", True, started_at, lambda: _since(started_at))
    if probed_at is not None:
        # the seconds are rounded up; a record from just before must not count (anchor)
        return Rule(
            "heartbeat since the check pods ran", True, probed_at, lambda: _covering(probed_at)
        )
    if plan.delivery == "keeper":
        window = timedelta(seconds=2 * max(1, timing.keeper_interval_s))
        return Rule(
            f"heartbeat within 2 keeper intervals ({int(window.total_seconds())} s) and the "
            "keeper's last check compliant",
            True,
            datetime.now(UTC) - window,
            lambda: window + timedelta(seconds=1),
        )
    return Rule(
        f"any audit record within --since ({int(since.total_seconds())} s; one-shot delivery "
        "sends no scheduled heartbeat)",
        False,
        None,
        lambda: since,
    )


def expected(node: Any) -> bool:
    """A Linux node that should send audit lines (NotReady ones too: they are a finding)."""
    return not (node.skip_reason or "").startswith(NOT_EXPECTED)


def _iso(v: Any) -> str | None:
    if v is None:
        return None
    iso = getattr(v, "isoformat", None)
    return str(iso()) if callable(iso) else str(v)


async def _nodes(ctx: StepContext) -> list[Any]:
    if not ctx.shared.nodes:
        k = await kubeops.kube(ctx)
        ctx.shared.nodes = list(await k.check_identity(ctx.cluster.node_resource_group))
    return ctx.shared.nodes


def _since(started_at: datetime) -> timedelta:
    """The look-back that reaches back to ``started_at`` and not before it (whole seconds,
    rounded down: a line from just before the run must not count)."""
    return timedelta(seconds=max(1, math.floor((datetime.now(UTC) - started_at).total_seconds())))


def _covering(anchor: datetime) -> timedelta:
    """The look-back that reaches back to ``anchor`` with a second to spare (rounded up)."""
    return timedelta(seconds=math.ceil((datetime.now(UTC) - anchor).total_seconds()) + 1)


def after_apply_deadline_s(timing: Timing) -> float:
    """How long apply's verify polls: the ingestion allowance (``verify_deadline_s``). A keeper
    the run rolled heartbeats when its apply ends; one the run left alone (nothing to change)
    is not waited for either: ``heartbeat_now`` has a check run on its nodes at once."""
    return timing.verify_deadline_s


def keeper_wait_line(timing: Timing) -> str:
    """What the user reads while verify has the nodes of a keeper the run left alone checked."""
    return (
        "nothing changed on the nodes, so their keeper ran nothing for this run (its next check "
        f"is up to {timing.keeper_interval_s} s away): a check pod on each node checks it now "
        "and touches its heartbeat, which verify waits for"
    )


async def heartbeat_now(ctx: StepContext, emit: Callable[[Event], None], run_id: str) -> None:
    """The heartbeat of a keeper cluster the run left alone, now rather than at its keeper's
    next check (up to one keeper interval, 300 s, away): a one-shot ``check`` pod per Ready
    node, as ``verify --probe-nodes`` runs, which changes nothing but touches the heartbeat of
    a compliant node. Why not a signal to the keeper pods: they have no API access (no service
    account token), a ConfigMap change reaches a mounted volume only at the kubelet's next
    sync (about a minute), and a template change rolls every pod; the check pods use the
    image the keeper already pulled and the fence already admits. A node the check finds
    wrong sends no heartbeat, so verify names it with the usual reasons."""
    try:
        nodes = [n for n in await _nodes(ctx) if n.ready and getattr(n, "eligible", True)]
        if nodes:
            await check_results(ctx, nodes, live=True)
    except Exception as exc:
        emit(
            StepLog(
                run_id,
                ctx.cluster.name,
                "verify",
                f"check pods to heartbeat now failed: {describe_exc(exc)}",
                level="warning",
            )
        )


def _since_start_at(last: datetime | None, anchor: datetime | None) -> bool:
    """A record counts only if its newest line is not older than ``anchor``: the look-back is
    whole seconds (at least one), so a short run's window can reach before it."""
    return anchor is None or last is None or last >= anchor


async def verify_contexts(
    config: EngineConfig,
    plan: Plan,
    ctxs: Sequence[StepContext],
    emit: Callable[[Event], None],
    cancel: asyncio.Event,
    *,
    since: timedelta,
    deadline_s: float,
    run_id: str,
    probe_first: bool = False,
    started_at: datetime | None = None,
    probe_nodes: bool = True,
) -> VerifyReport:
    """Poll until every expected node of ``ctxs`` arrived or ``deadline_s``; then, per missing
    node, the likely reason. Emits NodeArrival / VerifyWaiting; stops early on cancel.
    ``started_at``: count only records since then (apply's verify: since the run started, so a
    node that sent lines before the run does not pass for one configured by it).
    ``probe_first`` with ``probe_nodes``: check pods on every Ready node before the first poll
    (each compliant one touches its heartbeat), and the look-back reaches back to them."""
    errors: list[str] = []
    cluster_errors: dict[str, str] = {}  # cluster -> why its nodes could not be verified
    want: dict[str, tuple[StepContext, Any]] = {}  # computer -> (ctx, node)
    skipped: list[NodeVerdict] = []
    for ctx in ctxs:
        try:
            nodes = await _nodes(ctx)
        except Exception as exc:
            errors.append(f"{ctx.cluster.name}: {describe_exc(exc)}")
            cluster_errors[ctx.cluster.name] = errors[-1]
            continue
        for n in nodes:
            if expected(n):
                want[n.name] = (ctx, n)
            else:
                skipped.append(
                    NodeVerdict(ctx.cluster.name, n.name, False, reason=n.skip_reason or "")
                )
    # cluster (id of its context) -> node -> check result, from the check before the polls
    pre_checked: dict[int, dict[str, Any]] = {}
    probed_at: datetime | None = None
    # node -> why it is missing, settled before any poll: its check found the node not
    # compliant (whatever arrives: records from before it broke are no proof), or its cluster's
    # probe failed (named at once; no second round of check pods for it)
    settled: dict[str, str] = {}
    if probe_first and want and not cancel.is_set():
        if probe_nodes:
            probed_at = datetime.now(UTC)
        pre_checked, probe_failed = await _pre_check(list(want.values()), live=probe_nodes)
        for ctx, msg in probe_failed:
            errors.append(f"{ctx.cluster.name}: {msg}")
            cluster_errors.setdefault(ctx.cluster.name, errors[-1])
            emit(StepLog(run_id, ctx.cluster.name, "verify", msg, level="error"))
            for comp, (owner, _n) in want.items():
                if owner is ctx:
                    settled[comp] = msg
        for comp, (ctx, n) in want.items():
            if comp not in settled and n.ready and id(ctx) in pre_checked:
                reason = _checked_reason(ctx, pre_checked[id(ctx)].get(comp), live=probe_nodes)
                if reason is not None:
                    settled[comp] = reason
    rule = rule_for(plan, config.timing, since, started_at=started_at, probed_at=probed_at)
    for ctx in ctxs:
        emit(StepLog(run_id, ctx.cluster.name, "verify", f"verify rule: {rule.text}"))
    t0 = time.monotonic()
    end = t0 + max(0.0, deadline_s)
    seen: dict[str, Any] = {}
    last_state: dict[str, bool] = {}
    queries = 0
    computers = sorted(want)
    # each cluster's nodes are looked for in its own workspace: one query per workspace per poll
    by_ws: dict[str, tuple[WorkspaceRef, list[str]]] = {}
    for comp in [c for c in computers if c not in settled]:
        ws = plan.workspace_for(want[comp][0].cluster)
        by_ws.setdefault(ws.customer_id.lower(), (ws, []))[1].append(comp)
    # a workspace whose query failed: its nodes get its error and leave the wait; the other
    # workspaces' nodes are still polled (one unreadable workspace must not stop them)
    ws_failed: dict[str, str] = {}  # computer -> the workspace's error
    while computers and not cancel.is_set():
        for key, (ws, comps) in list(by_ws.items()):
            if all(c in seen for c in comps):
                continue  # this workspace's nodes have all arrived
            try:
                got = await arrivals(
                    config.settings, ws.customer_id, comps, plan.facility, rule.lookback()
                )
                queries += 1
            except Exception as exc:
                # one line: the reason column and the step message hold one line each
                msg = " ".join(f"arrival query on workspace {ws.name}: {describe_exc(exc)}".split())
                errors.append(msg)
                del by_ws[key]
                for comp in comps:
                    ws_failed[comp] = msg
                    cluster_errors.setdefault(want[comp][0].cluster.name, msg)
                continue
            for comp, arr in got.items():
                if comp in comps and rule.counts(arr):
                    seen[comp] = arr
        waiting = [c for c in computers if c not in ws_failed and c not in settled]
        for comp in waiting:
            arrived = comp in seen
            if last_state.get(comp) != arrived and arrived:
                ctx, _n = want[comp]
                a = seen[comp]
                emit(
                    NodeArrival(
                        run_id, ctx.cluster.name, comp, True, int(a.records), _iso(a.last_seen)
                    )
                )
            last_state[comp] = arrived
        left = end - time.monotonic()
        emit(VerifyWaiting(run_id, len(seen), len(waiting), max(0.0, left)))
        if len(seen) == len(waiting) or left <= 0:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(cancel.wait(), min(config.timing.verify_poll_s, max(0.05, left)))
    # reasons for the missing ones, probing each affected cluster once (not the nodes of a
    # workspace that could not be read: its error is their reason)
    missing = [c for c in computers if c not in seen and c not in ws_failed and c not in settled]
    reasons: dict[str, str] = {**ws_failed, **settled}
    if missing and not cancel.is_set():
        by_ctx: dict[int, list[str]] = {}
        for comp in missing:
            by_ctx.setdefault(id(want[comp][0]), []).append(comp)
        for comps in by_ctx.values():
            ctx = want[comps[0]][0]
            nodes = [want[c][1] for c in comps]
            checked = pre_checked.get(id(ctx))
            try:
                reasons.update(await diagnose(ctx, nodes, live=probe_nodes, checked=checked))
            except Exception as exc:
                for c in comps:
                    reasons[c] = f"could not probe: {describe_exc(exc)}"
    verdicts: list[NodeVerdict] = []
    for comp in computers:
        ctx, _n = want[comp]
        if comp in seen and comp not in settled:
            a = seen[comp]
            verdicts.append(
                NodeVerdict(ctx.cluster.name, comp, True, int(a.records), _iso(a.last_seen))
            )
        else:
            reason = reasons.get(comp, "cancelled" if cancel.is_set() else "no audit lines yet")
            v = NodeVerdict(ctx.cluster.name, comp, False, 0, None, reason)
            verdicts.append(v)
            emit(NodeArrival(run_id, ctx.cluster.name, comp, False, 0, None, reason))
    verdicts.sort(key=lambda v: (v.cluster, v.node))
    return VerifyReport(
        rule=rule.text,
        nodes=tuple(verdicts),
        skipped=tuple(skipped),
        waited_s=time.monotonic() - t0,
        queries=queries,
        errors=tuple(errors),
        cluster_errors=cluster_errors,
    )


async def _pre_check(
    wanted: list[tuple[StepContext, Any]], *, live: bool
) -> tuple[dict[int, dict[str, Any]], list[tuple[StepContext, str]]]:
    """Check results of every Ready node before the polls, one round per cluster, all at once:
    ``live``, check pods; otherwise the keeper's own status (read-only; one-shot clusters have
    none and are left out). Returns (context id -> node -> result, [(context, error)] of the
    clusters whose check pods failed): such a cluster is named at once, not probed again."""
    by_ctx: dict[int, tuple[StepContext, list[Any]]] = {}
    for ctx, node in wanted:
        if node.ready and (live or ctx.plan.delivery == "keeper"):
            by_ctx.setdefault(id(ctx), (ctx, []))[1].append(node)
    got = await asyncio.gather(
        *(check_results(ctx, nodes, live=live) for ctx, nodes in by_ctx.values()),
        return_exceptions=True,
    )
    results: dict[int, dict[str, Any]] = {}
    failed: list[tuple[StepContext, str]] = []
    for (key, (ctx, _nodes)), r in zip(by_ctx.items(), got, strict=True):
        if isinstance(r, asyncio.CancelledError):
            raise r
        if isinstance(r, BaseException):
            if live:
                failed.append((ctx, " ".join(f"check pods failed: {describe_exc(r)}".split())))
            # read-only: nothing was asked of the nodes; if one goes missing, ``diagnose``
            # reads the keeper's status again and names that error as its reason
        else:
            results[key] = r
    return results, failed


def _checked_reason(ctx: StepContext, r: Any, *, live: bool) -> str | None:
    """Why a node its check found not compliant sends no proof (None: compliant, or nothing
    to go on). ``live``: a Ready node without a status had no check pod run, so it touched no
    heartbeat either. Read-only (a keeper cluster): the keeper's last status of the node must be
    there and compliant."""
    if not live:
        # the keeper rule: its last check of the node must be there and compliant
        st = getattr(r, "status", None)
        if st is None:
            return "the keeper has reported no check of this node yet (its pod is not running)"
        return node_reason(ctx, st) or _drift_reason(st)
    if r is not None and r.phase == "unknown":  # the check pod did not start in time
        return f"unknown: {r.message}"
    st = r.status if r is not None else None
    return node_reason(ctx, st) or _drift_reason(st)


def _drift_reason(st: Any) -> str | None:
    """A check that found something apply would change is no proof the node holds now."""
    if st is None or st.compliant or st.mode == "apply":
        return None
    return "its last check found drift (would change: " + (", ".join(st.changed) or "?") + ")"


async def diagnose(
    ctx: StepContext,
    nodes: list[Any],
    live: bool = True,
    checked: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Most likely reason per missing node: node, then the node's audit state (``live``: a
    check pod, or ``checked``, the results of the check pods verify ran first; otherwise what
    the keeper reports, read-only), then the log path for its scale set / cluster."""
    # the kubernetes client (~1 s of imports): loaded when a run first talks to a cluster
    from aksaudit_tui.nodes.kube import parse_provider_id

    out: dict[str, str] = {}
    for n in nodes:
        if not n.ready:
            out[n.name] = "node NotReady"
    # log path state (one probe for the cluster)
    lp_state: Any = None
    lp_error: str | None = None
    try:
        ctx.shared.cloud_cluster = None
        cluster = await cloud_cluster(ctx)
        lp_state = await adapter(ctx).probe(
            cluster, workspace_model(ctx), ctx.plan.facility, ctx.plan.severity
        )
        ctx.shared.log_path_probe = lp_state
    except Exception as exc:
        lp_error = f"log path could not be checked: {describe_exc(exc)}"
    # node audit state: a live check (one-shot check pods) for the missing nodes
    ready = [n for n in nodes if n.ready]
    # read-only: the keeper's own status (pod logs); one-shot nodes have none to read
    read_keeper = not live and ctx.plan.delivery == "keeper"
    if checked is None:
        checked = {}
        if ready and (live or read_keeper):
            checked = await check_results(ctx, ready, live=live)
    for n in ready:
        r = checked.get(n.name)
        if r is not None and r.phase == "unknown":  # the check pod did not start in time
            reason: str | None = f"unknown: {r.message}"
        elif not live and not read_keeper:
            reason = None  # not probed: the log path may still say why
        else:
            reason = node_reason(ctx, r.status if r is not None else None)
        if reason is None:
            ref = parse_provider_id(n.provider_id)
            reason = lp_error or log_path_gap(lp_state, ref.vm_set if ref else "")
        out[n.name] = reason or (
            "no audit lines yet (ingestion can take minutes; try again)"
            if live or read_keeper
            else "no audit lines yet; the node was not probed (`aksaudit verify --probe-nodes` "
            "runs a check pod on it, which changes nothing but aksaudit's own heartbeat file)"
        )
    return out


def node_reason(ctx: StepContext, st: Any) -> str | None:
    """The node-side reason a node sends nothing, or None when the node looks right."""
    if st is None:
        return "no status from the node (check pod did not run: pending, image pull or failed)"
    if st.skip_reason:
        return f"skipped on the node: {st.skip_reason}"
    if not st.installed:
        err = f" ({st.errors[0]})" if st.errors else ""
        return f"auditd not installed{err}"
    if not st.running:
        return "auditd not running"
    if not st.plugin_active:
        return "syslog plugin off (audisp-syslog not active)"
    if st.facility and st.facility != ctx.plan.facility:
        return f"syslog plugin uses facility {st.facility}, plan says {ctx.plan.facility}"
    # "changed" is what check would change, but what apply did change (the keeper's first
    # pass is an apply: its rules were written and loaded, not missing)
    differs = st.mode != "apply" and ("rules" in st.changed or "load" in st.changed)
    if not st.rules_sha256 or differs or st.rules_loaded == 0:
        return "rules not loaded (or differ from the plan)"
    if (gap := rsyslog_gap(st, ctx.plan.log_path)) is not None:
        return gap
    if st.errors:
        return f"node script error: {st.errors[0]}"
    return None


def log_path_gap(state: Any, vm_set: str) -> str | None:
    """Why the log path does not carry this scale set's lines (None: it does).

    A change naming the scale set concerns its nodes only; a change naming no scale set (the
    DCR, the add-on, the workspace's data source) concerns every node."""
    if state is None or state.ok:
        return None
    if state.blocking:
        return f"log path blocked: {state.blocking}"
    names = [k for k in state.details if "vmss" in k.lower()]
    mine = [c for c in state.changes if vm_set and vm_set.lower() in c.lower()]
    general = [c for c in state.changes if not any(n.lower() in c.lower() for n in names)]
    hit = mine or general
    if not hit:
        return None
    return "log path not in place: " + str(hit[0])

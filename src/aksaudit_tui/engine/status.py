"""Live status: per node of each known cluster, what is true now (node check, Azure log path,
one arrival query per workspace), as a coverage report. The journal only says which clusters
and which plan; every value shown is read live."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.engine import rules
from aksaudit_tui.engine.azure import arrivals
from aksaudit_tui.engine.config import EngineConfig
from aksaudit_tui.engine.coverage import ClusterCoverage, NodeRow, StatusReport
from aksaudit_tui.engine.journal import Journal
from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.engine.runner import describe_exc
from aksaudit_tui.engine.steps import kubeops
from aksaudit_tui.engine.steps.base import StepContext
from aksaudit_tui.engine.steps.delivery import spec
from aksaudit_tui.engine.steps.logpath import adapter, cloud_cluster, workspace_model
from aksaudit_tui.engine.verify import log_path_gap
from aksaudit_tui.errors import UsageError

LAST_SEEN_WINDOW = timedelta(hours=24)


def known_plans(journal: Journal) -> dict[str, Plan]:
    """Cluster name -> the newest applied plan that names it."""
    out: dict[str, Plan] = {}
    for r in journal.list_runs():  # newest first
        if r.kind != "apply":
            continue
        try:
            plan = journal.load(r.run_id).plan
        except Exception:
            continue  # an unreadable old journal: the newer ones still say what is known
        for c in plan.clusters:
            out.setdefault(c.name, replace(plan, clusters=(c,)))
    return out


def unfinished_notes(journal: Journal) -> dict[str, tuple[str, ...]]:
    """Cluster name -> "a run of yours is unfinished here" (the journal's only say in status)."""
    out: dict[str, tuple[str, ...]] = {}
    decided: set[str] = set()
    for r in journal.list_runs():  # newest first: the newest run on a cluster decides
        try:
            names = [c.name for c in journal.load(r.run_id).plan.clusters]
        except Exception:  # an unreadable journal says nothing about the cluster
            continue
        for name in names:
            if name in decided:
                continue
            decided.add(name)
            if r.state not in ("ok", "running"):
                out[name] = (
                    f"a {r.kind} run of yours is unfinished here ({r.run_id}, {r.state}): "
                    f"`aksaudit resume {r.run_id}`",
                )
    return out


async def status(config: EngineConfig, cluster_name: str | None) -> StatusReport:
    """Status with live check pods (``--probe-nodes``): the clusters this machine applied."""
    plans = known_plans(config.journal)
    warnings: list[str] = []
    if cluster_name is not None:
        if cluster_name not in plans:
            raise UsageError(
                f'no plan applied to cluster "{cluster_name}" yet; known: '
                f"{', '.join(sorted(plans)) or 'none'} (run `aksaudit apply plan.yaml` first)"
            )
        plans = {cluster_name: plans[cluster_name]}
    if not plans:
        raise UsageError("no cluster known yet: run `aksaudit apply plan.yaml` first")
    async with AsyncClients(config.settings) as clients:
        ctxs: list[StepContext] = []
        for name in sorted(plans):
            plan = plans[name]
            try:
                rules_text, script = rules.prepare(plan)
            except UsageError as exc:
                warnings.append(f"{name}: {exc}")
                continue
            (ctx,) = StepContext.for_plan(
                config,
                plan,
                run_id="status",
                clients=clients,
                rules_text=rules_text,
                script_text=script,
                mode="status",
            )
            # status only runs check pods: the short read-only deadline, not the apply one
            ctx.pod_deadline_s = config.timing.review_deadline_s
            ctxs.append(ctx)
        try:
            parts = await asyncio.gather(*(_cluster_rows(ctx) for ctx in ctxs))
            # one arrival query per workspace for every node of the clusters sending there
            by_ws: dict[str, list[tuple[int, str]]] = {}
            for i, (rows, _err, _lp) in enumerate(parts):
                for r in rows:
                    if r.skipped_reason is None or r.skipped_reason == "node NotReady":
                        ws = ctxs[i].plan.workspace_for(ctxs[i].cluster).customer_id
                        by_ws.setdefault(ws, []).append((i, r.node))
            seen: dict[tuple[int, str], Any] = {}
            for ws, items in by_ws.items():
                ctx0 = ctxs[items[0][0]]
                try:
                    got = await arrivals(
                        config.settings,
                        ws,
                        sorted({n for _, n in items}),
                        ctx0.plan.facility,
                        LAST_SEEN_WINDOW,
                        clients,
                    )
                except Exception as exc:
                    warnings.append(f"arrival query failed: {describe_exc(exc)}")
                    continue
                for i, n in items:
                    a = got.get(n)
                    if a is not None and a.records:
                        seen[(i, n)] = a
            warnings.extend(c.shared.warning for c in ctxs if c.shared.warning is not None)
            warnings.extend(w for w in await asyncio.gather(*map(_fence, ctxs)) if w)
            for c in ctxs:
                warnings.extend(c.shared.unknown)
            clusters: list[ClusterCoverage] = []
            for i, (rows, err, lp) in enumerate(parts):
                final: list[NodeRow] = []
                for r in rows:
                    a = seen.get((i, r.node))
                    if a is not None:
                        ls = (
                            a.last_seen.isoformat()
                            if hasattr(a.last_seen, "isoformat")
                            else a.last_seen
                        )
                        r = replace(r, last_seen=ls, records=int(a.records))
                    final.append(r)
                clusters.append(
                    ClusterCoverage(
                        ctxs[i].cluster.name,
                        tuple(final),
                        err,
                        ctxs[i].plan.log_path if lp else None,
                    )
                )
        finally:
            for ctx in ctxs:
                kubeops.close_kube(ctx)
    return StatusReport(
        clusters=tuple(clusters),
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
        warnings=tuple(warnings),
    )


async def _fence(ctx: StepContext) -> str | None:
    """A keeper's namespace must stay fenced (one-shot deletes its namespace and fence)."""
    if ctx.plan.delivery != "keeper":
        return None
    try:
        problem = await (await kubeops.kube(ctx)).fence_problem(ctx.plan.namespace, ctx.plan.image)
    except Exception as exc:  # the cluster's other errors are reported with its rows
        return f"{ctx.cluster.name}: cannot check the admission fence: {describe_exc(exc)}"
    return f"{ctx.cluster.name}: {problem}" if problem else None


async def _cluster_rows(ctx: StepContext) -> tuple[list[NodeRow], str | None, bool]:
    """(rows without last_seen, error, log path fully in place)."""
    # the kubernetes client (~1 s of imports): loaded when status first talks to a cluster
    from aksaudit_tui.nodes.delivery import check_nodes
    from aksaudit_tui.nodes.kube import parse_provider_id

    try:
        k = await kubeops.kube(ctx)
        nodes = list(await k.check_identity(ctx.cluster.node_resource_group))
    except Exception as exc:
        return [], describe_exc(exc), False
    try:  # before our own check pods exist: any one-shot pod now is a leftover
        stray = [
            f for f in await kubeops.find_leftovers(ctx) if f.kind == "Pod" and f.role == "oneshot"
        ]
        if stray:
            ctx.shared.warning = (
                f"{ctx.cluster.name}: {len(stray)} one-shot pod(s) left by an earlier run "
                f"({', '.join(p.name for p in stray[:3])}); `aksaudit cleanup` deletes them"
            )
    except Exception:
        pass

    async def lp() -> Any:
        try:
            cluster = await cloud_cluster(ctx)
            return await adapter(ctx).probe(
                cluster, workspace_model(ctx), ctx.plan.facility, ctx.plan.severity
            )
        except Exception as exc:
            return exc

    async def checks() -> dict[str, Any]:
        eligible = [n for n in nodes if n.eligible]
        if not eligible:
            return {}
        results = await check_nodes(
            k,
            spec(ctx, run_id="status"),
            eligible,
            ctx.script_text,
            ctx.rules_text,
            deadline_s=None,  # per pod only (spec.pod_deadline_s), whatever the node count
        )
        return {r.node: r for r in results}

    lp_state, results = await asyncio.gather(lp(), checks())
    lp_err = isinstance(lp_state, Exception)
    unknown = [r for r in results.values() if r.phase == "unknown"]
    if unknown:  # the check pod did not start in time: nothing is known about that node
        ctx.shared.unknown = [
            f"{ctx.cluster.name}: {r.node}: unknown: {r.message}" for r in unknown
        ]
    rows: list[NodeRow] = []
    for n in nodes:
        r = results.get(n.name)
        if r is not None and r.phase == "unknown":
            rows.append(NodeRow(node=n.name, pool=n.pool, os=n.os_sku or n.os))
            continue
        st = r.status if r is not None else None
        ref = parse_provider_id(n.provider_id)
        path_ok: bool | None = None
        if not lp_err:
            path_ok = log_path_gap(lp_state, ref.vm_set if ref else "") is None
        rows.append(
            NodeRow(
                node=n.name,
                pool=n.pool,
                os=n.os_sku or n.os,
                audit_version=st.audit_version if st else None,
                auditd_running=st.running if st else (None if n.skip_reason else False),
                plugin_facility=(st.facility if st and st.plugin_active else None),
                rules_match=_rules_match(r)
                if r is not None
                else (None if n.skip_reason else False),
                log_path_ok=None
                if n.skip_reason and not n.skip_reason.endswith("NotReady")
                else path_ok,
                skipped_reason=n.skip_reason,
                delivery_ready=(r.phase == "compliant") if r is not None else None,
            )
        )
    return (
        rows,
        (f"log path: {describe_exc(lp_state)}" if lp_err else None),
        not lp_err and bool(getattr(lp_state, "ok", False)),
    )


def _rules_match(r: Any) -> bool:
    st = r.status
    if st is None or not st.rules_sha256:
        return False
    if "different script" in (r.message or ""):
        return False  # the keeper runs another plan's script: drift
    if st.mode == "check":
        return "rules" not in st.changed and "load" not in st.changed and st.rules_loaded > 0
    return bool(st.ok) and st.rules_loaded > 0

"""Delivery step: namespace, ConfigMap, keeper DaemonSet or one-shot pods, through
``nodes.delivery``. The probe asks the nodes (keeper status or one-shot ``check`` pods) so a
second apply, or a resume, touches only the nodes that are not compliant."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aksaudit_tui.engine.events import RunWarning
from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.engine.rules import node_script
from aksaudit_tui.engine.steps import kubeops
from aksaudit_tui.engine.steps.base import Probe, StepContext, StepFailed
from aksaudit_tui.engine.steps.record import (
    delete_records,
    plan_hash,
    record_change,
    write_record,
)
from aksaudit_tui.nodes import manifests as m
from aksaudit_tui.nodes import older_keepers


def plan_spec(
    plan: Plan,
    run_id: str,
    *,
    keeper_interval_s: float,
    pod_deadline_s: float,
    mode: str | None = None,
) -> Any:
    """The delivery parameters of ``plan`` (one source for the steps and `aksaudit manifests`)."""
    # kubernetes client (~1 s of imports): loaded when a step first needs it
    from aksaudit_tui.nodes.delivery import DeliverySpec

    return DeliverySpec(
        namespace=plan.namespace,
        image=plan.image,
        mode=mode or plan.delivery,  # type: ignore[arg-type]
        concurrency=plan.concurrency,
        keeper_interval_s=int(keeper_interval_s),
        pod_deadline_s=int(pod_deadline_s),
        run_id=run_id,
        plan_sha=plan_hash(plan),
    )


def image_note(plan: Plan) -> str:
    """What the review says about the pods' image: the digest they will run, or, for a plan
    still naming a tag (the wizard pins when apply starts), that the digest comes then."""
    if "@sha256:" in plan.image:
        return f"image {plan.image}"
    return (
        f"image {plan.image} (a tag: its digest is resolved when apply starts, and the "
        "fence then admits only that digest)"
    )


def spec(ctx: StepContext, mode: str | None = None, run_id: str | None = None) -> Any:
    return plan_spec(
        ctx.plan,
        run_id or ctx.run_id,
        keeper_interval_s=ctx.keeper_interval_s,
        pod_deadline_s=ctx.pod_deadline_s,
        mode=mode,
    )


def _on_node(ctx: StepContext) -> Any:
    """Delivery results as NodeUpdate events (with the pool from the node list)."""
    pools = {n.name: n.pool for n in ctx.shared.nodes}

    def on_node(r: Any) -> None:
        if r.status is not None:
            ctx.shared.node_status[r.node] = r.status
        ctx.node_update(
            r.node, pools.get(r.node, ""), r.os, r.phase, r.audit_version, r.message or r.phase
        )
        if r.phase == "failed":
            ctx.log("delivery", r.message or "failed", level="error", node=r.node)

    return on_node


async def _nodes(ctx: StepContext) -> list[Any]:
    if not ctx.shared.nodes:
        k = await kubeops.kube(ctx)
        ctx.shared.nodes = list(await k.check_identity(ctx.cluster.node_resource_group))
    return ctx.shared.nodes


async def check_nodes(ctx: StepContext, nodes: list[Any], live: bool = True) -> dict[str, Any]:
    """node -> NodeStatus (None when no status). ``live``: one-shot ``check`` pods whatever the
    delivery mode (the keeper's own status can be minutes old)."""
    return {n: r.status for n, r in (await check_results(ctx, nodes, live)).items()}


async def check_results(ctx: StepContext, nodes: list[Any], live: bool = True) -> dict[str, Any]:
    """node -> NodeResult of a check; phase ``unknown`` when the check pod did not start within
    the read-only probe deadline (``ctx.probe_deadline_s``, ``Timing.review_deadline_s``)."""
    # kubernetes client (~1 s of imports): loaded when a step first needs it
    from aksaudit_tui.nodes.delivery import check_nodes as _check

    k = await kubeops.kube(ctx)
    mode = "one-shot" if live else ctx.plan.delivery
    probe_s = ctx.probe_deadline_s
    results = await _check(
        k,
        replace(spec(ctx, mode, run_id=f"{ctx.run_id}-check"), pod_deadline_s=int(probe_s)),
        nodes,
        ctx.script_text,
        ctx.rules_text,
        cancel=ctx.cancel,
        deadline_s=None,  # per pod only (spec.pod_deadline_s): see DeliveryStep.apply
    )
    return {r.node: r for r in results}


class DeliveryStep:
    id = "delivery"

    @property
    def title(self) -> str:
        return "node delivery: namespace, ConfigMap, keeper DaemonSet / one-shot pods"

    async def probe(self, ctx: StepContext) -> Probe:
        # kubernetes client (~1 s of imports): loaded when a step first needs it
        from aksaudit_tui.nodes.delivery import check_nodes as _check

        nodes = await _nodes(ctx)
        eligible = [n for n in nodes if n.eligible]
        # NotReady nodes must be configured too: they go to the rollout, which reports them
        # failed ("run again when it is Ready"), so the run is not ok until they are done
        not_ready = [n for n in nodes if n.skip_reason == "node NotReady"]
        k = await kubeops.kube(ctx)
        older = await older_keepers.find(k, ctx.plan.namespace)
        changes: list[str] = older.changes()  # retired once this apply is in place (apply)
        warnings: list[str] = list(older.refused)
        if not_ready:
            changes.append(
                f"{len(not_ready)} node(s) NotReady, to configure once Ready: "
                + ", ".join(n.name for n in not_ready[:5])
            )
        ns = ctx.plan.namespace
        version = await k.server_version()
        if not m.fence_supported(version):
            warnings.append(m.fence_warning(ns, version))
        if ctx.plan.delivery == "keeper":
            ds = await k.get_daemonset(ns)
            want = m.keeper_daemonset_manifest(
                namespace=ns,
                image=ctx.plan.image,
                script_text=ctx.script_text,
                run_id=ctx.run_id,
                interval_s=spec(ctx).keeper_interval_s,
                max_unavailable=ctx.plan.concurrency,
            )
            want_sha = want["metadata"]["annotations"][m.ANNOTATION_SPEC_SHA]
            if ds is None:
                changes.append(
                    f"create namespace {ns} (privileged, fenced by admission policy "
                    f"{m.fence_name(ns)}), ConfigMap with the node script, keeper "
                    f"DaemonSet for {len(eligible)} Linux node(s), {image_note(ctx.plan)}"
                )
            elif (ds.get("metadata", {}).get("annotations") or {}).get(
                m.ANNOTATION_SPEC_SHA
            ) != want_sha:
                changes.append(
                    "update the node script and roll the keeper DaemonSet "
                    f"({len(eligible)} node(s)), {image_note(ctx.plan)}"
                )
            else:
                results = await _check(k, spec(ctx), eligible, ctx.script_text, ctx.rules_text)
                bad = [r for r in results if r.phase != "compliant"]
                for r in results:
                    if r.status is not None:
                        ctx.shared.node_status[r.node] = r.status
                if bad:
                    changes.append(
                        f"wait for {len(bad)} keeper pod(s) to make their node compliant: "
                        + ", ".join(f"{r.node} ({r.message})" for r in bad[:3])
                    )
                else:
                    for r in results:
                        ctx.node_update(
                            r.node,
                            _pool(ctx, r.node),
                            r.os,
                            "compliant",
                            r.audit_version,
                            "already compliant",
                        )
            ctx.shared.todo = eligible + not_ready
        else:
            ds = await k.get_daemonset(ns)
            if ds is not None and _ours(ds):
                # one-shot means nothing stays: a keeper from an earlier plan would keep
                # re-applying its own script
                changes.append(f"delete the keeper DaemonSet left in {ns} by an earlier plan")
                ctx.shared.delete_keeper = True
            if not eligible:
                ctx.shared.todo = not_ready
                return Probe(changes=changes + await _record_changes(ctx), warnings=warnings)
            if not ctx.probe_nodes:  # review starts no pod: every node is a candidate
                ctx.shared.todo = eligible + not_ready
                changes.append(
                    f"run the node script (apply) in one-shot pods on the {len(eligible)} Linux "
                    "node(s) that need it (not probed: review starts no pod; the apply probes "
                    f"each node first and changes only what differs), {image_note(ctx.plan)}"
                )
                changes += await _record_changes(ctx)
                return Probe(changes=changes, data={"skipped": _skip_notes(nodes)})
            checked = await check_results(ctx, eligible)
            unknown = [r for r in checked.values() if r.phase == "unknown"]
            todo = []
            for n in eligible:
                st = checked[n.name].status if n.name in checked else None
                if st is None or not st.ok or not st.compliant or not st.running:
                    todo.append(n)
                else:
                    ctx.node_update(
                        n.name,
                        n.pool,
                        n.os_sku or n.os,
                        "compliant",
                        st.audit_version,
                        "already compliant",
                    )
            ctx.shared.todo = todo + not_ready
            if todo:
                changes.append(
                    f"run the node script (apply) in one-shot pods on {len(todo)} of "
                    f"{len(eligible)} Linux node(s): "
                    + ", ".join(n.name for n in todo[:5])
                    + (" ..." if len(todo) > 5 else "")
                    + f", {image_note(ctx.plan)}"
                )
            # no check result (the pod did not start): say so; the node stays in the todo
            warnings += [f"{r.node}: unknown: {r.message}" for r in unknown]
        changes += await _record_changes(ctx)
        return Probe(changes=changes, warnings=warnings, data={"skipped": _skip_notes(nodes)})

    async def apply(self, ctx: StepContext, probe: Probe) -> None:
        # kubernetes client (~1 s of imports): loaded when a step first needs it
        from aksaudit_tui.nodes.delivery import DeliveryStats, rollout

        k = await kubeops.kube(ctx)
        delete_keeper, ctx.shared.delete_keeper = ctx.shared.delete_keeper, False
        if delete_keeper:
            await k.delete_owned("daemonset", ctx.plan.namespace, m.KEEPER_NAME)
            await k.delete_owned("configmap", ctx.plan.namespace, m.SCRIPT_CONFIGMAP)
            ctx.log("delivery", f"deleted the keeper DaemonSet in {ctx.plan.namespace}")
        nodes = ctx.shared.todo
        if nodes is None:
            nodes = [n for n in await _nodes(ctx) if n.eligible]
        if not nodes:
            await write_record(ctx)
            await _retire_older_keepers(ctx)
            return
        stats = DeliveryStats()
        results = await rollout(
            k,
            spec(ctx),
            nodes,
            ctx.script_text,
            ctx.rules_text,
            on_node=_on_node(ctx),
            cancel=ctx.cancel,
            # No whole-rollout deadline: pod_deadline_s bounds each pod (activeDeadlineSeconds
            # and the watch), and many nodes at a bounded concurrency need longer than one pod.
            deadline_s=None,
            stats=stats,
        )
        ctx.shared.delivery_stats = stats
        for warning in stats.warnings:  # e.g. the namespace could not be fenced (< 1.30)
            ctx.emit(RunWarning(ctx.run_id, warning, ctx.cluster.name))
        ctx.check_cancel()
        failed = [r for r in results if r.phase in ("failed", "unknown")]
        if failed:
            raise StepFailed(
                f"{len(failed)} of {len(results)} node(s) not configured: "
                + "; ".join(f"{r.node}: {r.message}" for r in failed[:3])
            )
        await write_record(ctx)  # after the nodes: the record never claims more than ran
        # after the record (it took over the older records' undo tokens): the keepers earlier
        # plans left in other namespaces go, or they re-apply their scripts as root for ever
        await _retire_older_keepers(ctx)

    async def verify(self, ctx: StepContext) -> None:
        return None


async def _retire_older_keepers(ctx: StepContext) -> None:
    """Delete the keepers of ours outside the plan's namespace (``nodes.older_keepers``); a
    line for each retired, a warning for each left (not in a namespace of ours)."""
    k = await kubeops.kube(ctx)
    found = await older_keepers.find(k, ctx.plan.namespace)
    for line in await older_keepers.retire(k, found):
        ctx.log("delivery", line)
    for line in found.refused:
        ctx.emit(RunWarning(ctx.run_id, line, ctx.cluster.name))


async def _record_changes(ctx: StepContext) -> list[str]:
    change = await record_change(ctx)
    return [change] if change else []


def _skip_notes(nodes: list[Any]) -> list[str]:
    return [f"{n.name}: skipped ({n.skip_reason})" for n in nodes if not n.eligible]


def _ours(obj: dict[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(m.LABEL_MANAGED_BY) == m.MANAGED_BY_VALUE)


def _pool(ctx: StepContext, node: str) -> str:
    for n in ctx.shared.nodes:
        if n.name == node:
            return str(n.pool)
    return ""


class RemoveDeliveryStep:
    id = "delivery"
    title = "node delivery: restore every node, delete the keeper, ConfigMap and namespace"

    async def probe(self, ctx: StepContext) -> Probe:
        nodes = await _nodes(ctx)
        eligible = [n for n in nodes if n.eligible]
        older = await older_keepers.find(await kubeops.kube(ctx), ctx.plan.namespace)
        return Probe(
            changes=[
                *older.changes(),
                f"run the node script (remove) on {len(eligible)} Linux node(s); delete the "
                f"keeper DaemonSet, ConfigMap and namespace {ctx.plan.namespace}",
            ],
            warnings=list(older.refused),
        )

    async def apply(self, ctx: StepContext, probe: Probe) -> None:
        # kubernetes client (~1 s of imports): loaded when a step first needs it
        from aksaudit_tui.nodes.delivery import remove_nodes

        k = await kubeops.kube(ctx)
        # first: a keeper an earlier plan left in another namespace would re-apply its script
        # on the nodes this remove restores
        await _retire_older_keepers(ctx)
        nodes = await _nodes(ctx)
        script = node_script(ctx.plan, ctx.rules_text, mode="remove")
        results = await remove_nodes(
            k,
            spec(ctx),
            nodes,
            script,
            ctx.rules_text,
            on_node=_on_node(ctx),
            cancel=ctx.cancel,
            deadline_s=None,  # per pod only, as in DeliveryStep.apply
        )
        ctx.check_cancel()
        failed = [r for r in results if r.phase in ("failed", "unknown")]
        if not failed:  # the cluster no longer has what the record says (wherever it lives)
            await delete_records(ctx)
        if failed:
            # The keeper and our objects are gone and the other nodes restored: partly done
            # (exit 3); a failed node keeps its backups, so `aksaudit remove` again finishes it.
            raise StepFailed(
                f"{len(failed)} of {len(results)} node(s) not restored (backups kept on them; "
                "run remove again): " + "; ".join(f"{r.node}: {r.message}" for r in failed[:3]),
                partial=True,
            )

    async def verify(self, ctx: StepContext) -> None:
        return None

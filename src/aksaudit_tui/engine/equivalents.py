"""The az / kubectl commands equivalent to a plan, for users who want to see or script it.

Display only: the engine does the same through the SDKs. Shown by the wizard's review screen
(``y``) and printed by ``aksaudit plan --equivalents``. Secrets are never included (the
workspace key appears as a shell lookup).
"""

from __future__ import annotations

import shlex

from aksaudit_tui.cloud import logpaths
from aksaudit_tui.cloud.models import Cluster, Workspace
from aksaudit_tui.engine.plan import ClusterTarget, Plan, WorkspaceRef


def _q(value: str) -> str:
    return shlex.quote(value)


def _cluster(c: ClusterTarget) -> Cluster:
    return Cluster(
        id=c.id,
        name=c.name,
        subscription_id=c.subscription_id,
        resource_group=c.resource_group,
        location=c.location,
        node_resource_group=c.node_resource_group,
    )


def _workspace(ws: WorkspaceRef) -> Workspace:
    return Workspace(
        id=ws.id,
        name=ws.name,
        customer_id=ws.customer_id,
        location=ws.location,
        resource_group=ws.resource_group,
        subscription_id=ws.subscription_id,
    )


def equivalent_commands(plan: Plan) -> str:
    """The commands for ``plan``, one per line, ``#`` comments where a step has no one-liner:
    the log path's own (from the registry), then the kubectl ones that deliver the script."""
    path = logpaths.describe(plan.log_path)
    out: list[str] = [
        "# Equivalent commands for this plan (aksaudit does the same through the Azure SDK).",
        f"aksaudit node-script --presets {_q(','.join(plan.presets))} "
        f"--facility {plan.facility} --severity {plan.severity} > node.sh",
        "",
    ]
    for c in plan.clusters:
        sub = _q(c.subscription_id)
        out.append(f"# --- cluster {c.name} ---")
        workspace = _workspace(plan.workspace_for(c))
        out.extend(path.az_commands(_cluster(c), workspace, plan.facility, plan.severity))
        out.append(
            f"az aks get-credentials --subscription {sub} -g {_q(c.resource_group)} -n {_q(c.name)}"
        )
        ctx = _q(c.context)
        out.append(f"kubectl --context {ctx} create namespace {_q(plan.namespace)}")
        out.append(
            f"kubectl --context {ctx} label namespace {_q(plan.namespace)} "
            "pod-security.kubernetes.io/enforce=privileged --overwrite"
        )
        out.append(
            f"kubectl --context {ctx} -n {_q(plan.namespace)} create configmap "
            "aksaudit-node-script --from-file=node.sh"
        )
        if plan.delivery == "keeper":
            out.append(
                f"# then a privileged DaemonSet (image {plan.image}) running node.sh on every "
                "Linux node"
            )
        else:
            out.append(
                "# then one privileged pod per Linux node (nodeName pinned) running node.sh, "
                f"{plan.concurrency} at a time, deleted when done"
            )
        out.append("")
    for ws in plan.workspaces:
        out.extend(path.az_workspace_commands(_workspace(ws), plan.facility, plan.severity))
    return "\n".join(out) + "\n"

"""The az / kubectl commands equivalent to a plan, for users who want to see or script it.

Display only: the engine does the same through the SDKs. Shown by the wizard's review screen
(``y``) and printed by ``aksaudit plan --equivalents``. Secrets are never included (the
workspace key appears as a shell lookup).
"""

from __future__ import annotations

import shlex

from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.syslog import severities_from


def _q(value: str) -> str:
    return shlex.quote(value)


def equivalent_commands(plan: Plan) -> str:
    """The commands for ``plan``, one per line, ``#`` comments where a step has no one-liner."""
    ws = plan.workspace
    levels = " ".join(severities_from(plan.severity))
    out: list[str] = [
        "# Equivalent commands for this plan (aksaudit does the same through the Azure SDK).",
        f"aksaudit node-script --presets {_q(','.join(plan.presets))} "
        f"--facility {plan.facility} --severity {plan.severity} > node.sh",
        "",
    ]
    for c in plan.clusters:
        sub = _q(c.subscription_id)
        out.append(f"# --- cluster {c.name} ---")
        if plan.log_path == "container-insights":
            out.append(
                f"az aks enable-addons -a monitoring --enable-msi-auth-for-monitoring "
                f"--enable-syslog --subscription {sub} -g {_q(c.resource_group)} "
                f"-n {_q(c.name)} --workspace-resource-id {_q(ws.id)}"
            )
            out.append(
                f"# then make sure the MSCI-{c.location}-{c.name} data collection rule lists "
                f"{plan.facility} at {levels}"
            )
        elif plan.log_path == "legacy-oms":
            out.append(
                f"for vmss in $(az vmss list --subscription {sub} -g {_q(c.node_resource_group)} "
                "--query '[].name' -o tsv); do"
            )
            out.append(
                "  az vmss extension set --publisher Microsoft.EnterpriseCloud.Monitoring "
                f"--name OmsAgentForLinux --subscription {sub} -g {_q(c.node_resource_group)} "
                '--vmss-name "$vmss" '
                f'--settings \'{{"workspaceId":"{ws.customer_id}",'
                '"skipDockerProviderInstall":true}\' '
                '--protected-settings "{\\"workspaceKey\\":\\"$WORKSPACE_KEY\\"}"'
            )
            out.append(
                f"  az vmss update-instances --subscription {sub} -g "
                f"{_q(c.node_resource_group)} -n \"$vmss\" --instance-ids '*'"
            )
            out.append("done")
        else:
            out.append(
                f"for vmss in $(az vmss list --subscription {sub} -g {_q(c.node_resource_group)} "
                "--query '[].name' -o tsv); do"
            )
            out.append(
                "  az vmss extension set --publisher Microsoft.Azure.Monitor "
                f"--name AzureMonitorLinuxAgent --subscription {sub} "
                f'-g {_q(c.node_resource_group)} --vmss-name "$vmss"'
            )
            out.append(
                "  az monitor data-collection rule association create --name aksaudit "
                '--rule-id "$DCR_ID" --resource "$(az vmss show --subscription '
                f'{sub} -g {_q(c.node_resource_group)} -n "$vmss" --query id -o tsv)"'
            )
            out.append("done")
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
    if plan.log_path == "legacy-oms":
        out.append(f"# workspace {ws.name}: LinuxSyslog data source for {plan.facility} ({levels})")
        out.append(
            "az rest --method put --url "
            f"'{ws.id}/dataSources/aksaudit-{plan.facility}?api-version=2020-08-01' "
            '--body \'{"kind":"LinuxSyslog","properties":{"syslogName":"'
            + plan.facility
            + '","syslogSeverities":['
            + ",".join(f'{{"severity":"{s}"}}' for s in severities_from(plan.severity))
            + "]}}'"
        )
    return "\n".join(out) + "\n"

"""Turn a checked scenario into an EmulatorState: ARM resources, simulated nodes and their roots."""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path
from typing import Any

from aksaudit_emulator.arm import bodies
from aksaudit_emulator.errors import ScenarioError
from aksaudit_emulator.scenario import node_ip
from aksaudit_emulator.state import EmulatorState, SimCluster, SimNode, new_token

log = logging.getLogger(__name__)

B36 = "0123456789abcdefghijklmnopqrstuvwxyz"

EXTENSION_DEFAULTS: dict[str, dict[str, Any]] = {
    "OmsAgentForLinux": {
        "publisher": "Microsoft.EnterpriseCloud.Monitoring",
        "type": "OmsAgentForLinux",
        "typeHandlerVersion": "1.19",
        "autoUpgradeMinorVersion": True,
    },
    "AzureMonitorLinuxAgent": {
        "publisher": "Microsoft.Azure.Monitor",
        "type": "AzureMonitorLinuxAgent",
        "typeHandlerVersion": "1.33",
        "autoUpgradeMinorVersion": True,
        "enableAutomaticUpgrade": True,
    },
}


def base36(n: int, width: int = 6) -> str:
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = B36[r] + out
    return out.rjust(width, "0")


def pool_digits(cluster: str, pool: str) -> str:
    """The 8-digit number AKS puts in scale-set names, stable per cluster and pool."""
    return str(int(hashlib.sha256(f"{cluster}/{pool}".encode()).hexdigest(), 16) % 10**8).rjust(
        8, "0"
    )


def _parse_taint(text: str) -> dict[str, str]:
    key_value, _, effect = text.partition(":")
    key, _, value = key_value.partition("=")
    taint = {"key": key, "effect": effect or "NoSchedule"}
    if value:
        taint["value"] = value
    return taint


def _node_root_builder() -> Any:
    try:
        from aksaudit_emulator.noderoot import build_node_root
    except ImportError:  # the node-root module is built in parallel; empty dirs until then
        return None
    return build_node_root


def build_state(scenario: dict[str, Any], state_dir: Path) -> EmulatorState:
    """Build the whole emulated estate from a scenario made by ``load_scenario``."""
    state = EmulatorState(state_dir=state_dir)
    state.scenario = scenario
    state.token = str(scenario.get("token") or new_token())  # random unless the scenario pins one
    state.tenant_id = str(scenario.get("tenant_id") or state.tenant_id)
    state.page_size = int(scenario["page_size"])
    state.latency_ms = dict(scenario["latency_ms"])
    state.lro_polls = int(scenario["lro"]["polls"])
    state.lro_seconds = float(scenario["lro"]["seconds"])
    state.ingestion_delay_s = float(scenario["ingestion"]["delay_s"])
    state.ingestion_interval_s = float(scenario["ingestion"]["interval_s"])
    state.faults = [dict(f) for f in scenario["faults"]]
    state.cache_responses = bool(scenario.get("response_cache", True))
    # node_roots: false leaves each node's root an empty directory (a fleet of thousands of
    # nodes for ARM-side work: discovery, Resource Graph), 9 ms a node saved
    builder = _node_root_builder() if scenario.get("node_roots", True) else None
    # Node roots are rebuilt on every start: ARM state is in memory and starts fresh too.
    nodes_dir = state_dir / "nodes"
    if nodes_dir.exists():
        shutil.rmtree(nodes_dir)

    ws_ids: dict[str, str] = {}  # workspace name -> id
    for sub in scenario["subscriptions"]:
        for rg in sub["resource_groups"]:
            for ws in rg["workspaces"]:
                ws_ids[ws["name"]] = (
                    f"/subscriptions/{sub['id']}/resourceGroups/{rg['name']}"
                    f"/providers/Microsoft.OperationalInsights/workspaces/{ws['name']}"
                )

    def resolve_ws(ref: str | None) -> str | None:
        if not ref:
            return None
        if ref.startswith("/"):
            return ref
        if ref not in ws_ids:
            raise ScenarioError(f"scenario names workspace '{ref}', which no resource group holds")
        return ws_ids[ref]

    def customer_id_of(ws_id: str) -> str:
        body = state.get(ws_id)
        return str(body["properties"]["customerId"]) if body else ""

    vmss_ids: dict[str, str] = {}  # "cluster/pool" -> vmss id
    cluster_ids: dict[str, str] = {}
    cluster_index = 0
    for sub in scenario["subscriptions"]:
        sid = sub["id"]
        state.put(f"/subscriptions/{sid}", bodies.subscription(sid, sub["name"], state.tenant_id))
        for rg in sub["resource_groups"]:
            state.put(
                f"/subscriptions/{sid}/resourceGroups/{rg['name']}",
                bodies.resource_group(sid, rg["name"], rg["location"]),
            )
            for ws in rg["workspaces"]:
                wid = ws_ids[ws["name"]]
                state.put(
                    wid,
                    bodies.workspace(
                        sub_id=sid,
                        rg=rg["name"],
                        name=ws["name"],
                        location=ws["location"],
                        customer_id=ws["customer_id"],
                    ),
                )
                state.shared_keys[wid.lower()] = {
                    "primarySharedKey": ws["primary_key"],
                    "secondarySharedKey": ws["secondary_key"],
                }
                state.syslog.setdefault(ws["customer_id"].lower(), [])
                for src in ws["linux_syslog"]:
                    fac = str(src["facility"])
                    name = str(src.get("name") or f"DataSource_LinuxSyslog_{fac}")
                    sevs = [str(s) for s in src.get("severities", bodies.SEVERITIES[:7])]
                    state.put(
                        f"{wid}/dataSources/{name}",
                        bodies.linux_syslog_source(wid, name, fac, sevs),
                    )
        for rg in sub["resource_groups"]:
            for cl in rg["clusters"]:
                _build_cluster(
                    state, sid, rg, cl, cluster_index, builder, resolve_ws, customer_id_of, vmss_ids
                )
                cluster_ids[cl["name"]] = state.clusters[cl["name"]].arm_id
                cluster_index += 1
        for rg in sub["resource_groups"]:
            for d in rg["dcrs"]:
                name = str(d["name"])
                body = bodies.dcr(
                    sub_id=sid,
                    rg=rg["name"],
                    name=name,
                    location=str(d.get("location", rg["location"])),
                    workspace_id=resolve_ws(d.get("workspace")),
                    facilities=[str(f) for f in d.get("facilities", ["authpriv"])],
                    levels=[str(x) for x in d["levels"]] if d.get("levels") else None,
                )
                state.put(body["id"], body)
                for target in d.get("associate", []) or []:
                    uri = vmss_ids.get(str(target)) or cluster_ids.get(str(target))
                    if uri is None:
                        raise ScenarioError(
                            f"dcr {name}: cannot associate unknown '{target}' "
                            "(give a cluster or cluster/pool)"
                        )
                    assoc = bodies.dcr_association(uri, f"{name}-association", body["id"])
                    state.put(assoc["id"], assoc)
    _apply_node_faults(state)
    return state


def _build_cluster(
    state: EmulatorState,
    sid: str,
    rg: dict[str, Any],
    cl: dict[str, Any],
    cluster_index: int,
    builder: Any,
    resolve_ws: Any,
    customer_id_of: Any,
    vmss_ids: dict[str, str],
) -> None:
    name = cl["name"]
    node_rg = cl["node_resource_group"]
    location = cl["location"]
    mon = cl.get("monitoring") or None
    mon_ws = resolve_ws(mon.get("workspace")) if mon else None
    if cl.get("enabled_elsewhere"):
        resolve_ws(cl["enabled_elsewhere"]["workspace"])  # a clear error for an unknown name
    profiles = [bodies.agent_pool_profile(p, cl["kubernetes_version"]) for p in cl["pools"]]
    body = bodies.managed_cluster(
        sub_id=sid,
        rg=rg["name"],
        name=name,
        location=location,
        kubernetes_version=cl["kubernetes_version"],
        node_rg=node_rg,
        restriction_level=cl["restriction_level"],
        pools=profiles,
        monitoring_workspace_id=mon_ws,
        tenant_id=state.tenant_id,
    )
    state.put(body["id"], body)
    cluster = SimCluster(
        name=name,
        subscription_id=sid,
        resource_group=rg["name"],
        location=location,
        node_resource_group=node_rg,
        kubernetes_version=cl["kubernetes_version"],
        restriction_level=cl["restriction_level"],
    )
    state.clusters[name] = cluster
    state.put(
        f"/subscriptions/{sid}/resourceGroups/{node_rg}",
        bodies.resource_group(
            sid,
            node_rg,
            location,
            managed_by=body["id"],
            tags={"aks-managed-cluster-name": name, "aks-managed-cluster-rg": rg["name"]},
        ),
    )
    if mon and mon_ws:
        dcr_name = f"MSCI-{location}-{name}"
        syslog_on = bool(mon.get("syslog"))
        dcr = bodies.dcr(
            sub_id=sid,
            rg=rg["name"],
            name=dcr_name,
            location=location,
            workspace_id=mon_ws,
            facilities=[str(f) for f in mon.get("syslog_facilities", _ALL_FACILITIES)]
            if syslog_on
            else None,
            levels=[str(x) for x in mon["syslog_levels"]] if mon.get("syslog_levels") else None,
            container_insights=True,
        )
        state.put(dcr["id"], dcr)
        assoc = bodies.dcr_association(
            body["id"],
            "ContainerInsightsExtension",
            dcr["id"],
            "Association of data collection rule. Deleting this association will break the data "
            "collection for this AKS Cluster.",
        )
        state.put(assoc["id"], assoc)

    node_index = 0
    for pool in cl["pools"]:
        digits = pool_digits(name, pool["name"])
        vmss_name = f"aks-{pool['name']}-{digits}-vmss"
        windows = pool["os_sku"].startswith("Windows")
        # Windows computer names are limited to 15 chars: AKS uses the pool name + '000000' style
        prefix = f"aks{pool['name'][:6]}" if windows else vmss_name
        pool_with_ver = dict(pool, kubernetes_version=cl["kubernetes_version"])
        vbody = bodies.vmss(
            sub_id=sid,
            node_rg=node_rg,
            name=vmss_name,
            location=location,
            pool=pool_with_ver,
            cluster_name=name,
            cluster_rg=rg["name"],
            extensions=[],
            computer_name_prefix=prefix,
        )
        state.put(vbody["id"], vbody)
        vmss_ids[f"{name}/{pool['name']}"] = vbody["id"]
        state.model_gen[vbody["id"].lower()] = 1
        for ext in _default_extensions(windows) + list(pool["extensions"]):
            ename, props = _extension_props(ext, resolve_ws, customer_id_of)
            secret = props.pop("protectedSettings", None)
            ebody = bodies.vmss_extension(vbody["id"], ename, props)
            state.put(ebody["id"], ebody)
            if secret is None and ext.get("workspace") and props.get("type") == "OmsAgentForLinux":
                # an existing legacy install was made with the workspace's key
                ws_key = state.shared_keys.get(str(resolve_ws(ext["workspace"])).lower(), {})
                secret = {"workspaceKey": ws_key.get("primarySharedKey", "")}
            if secret is not None:
                state.secrets[ebody["id"].lower()] = {"protectedSettings": secret}
        for i in range(pool["count"]):
            instance_id = str(i)
            computer = f"{prefix}{base36(i)}"
            vm = bodies.vmss_vm(
                vmss_body=vbody,
                instance_id=instance_id,
                computer_name=computer,
                latest_model_applied=True,
            )
            state.put(vm["id"], vm)
            state.model_gen[vm["id"].lower()] = 1
            provider_id = (
                f"azure:///subscriptions/{sid}/resourceGroups/{node_rg.lower()}/providers/"
                f"Microsoft.Compute/virtualMachineScaleSets/{vmss_name}/virtualMachines/{instance_id}"
            )
            os_image, kernel, image_version = bodies.OS_IMAGES[pool["os_sku"]]
            labels = _labels(name, node_rg, location, pool, computer, image_version, i)
            root: Path | None = None
            if not windows:
                root = state.state_dir / "nodes" / name / computer
                root.mkdir(parents=True, exist_ok=True)
                if builder is not None:
                    builder(root, pool["os_sku"], computer, rsyslog=pool.get("rsyslog"))
            node = SimNode(
                name=computer,
                cluster=name,
                pool=pool["name"],
                os_sku=pool["os_sku"],
                arch=pool["arch"],
                vmss_name=vmss_name,
                instance_id=instance_id,
                provider_id=provider_id,
                root=root,
                labels=labels,
                taints=[_parse_taint(t) for t in pool["taints"]],
                ip=node_ip(cluster_index, node_index),
                mode=pool["mode"],
                vm_size=pool["vm_size"],
                kernel_version=kernel,
                os_image=os_image,
            )
            cluster.nodes[computer] = node
            node_index += 1


_ALL_FACILITIES = [
    "auth",
    "authpriv",
    "cron",
    "daemon",
    "mark",
    "kern",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
    "lpr",
    "mail",
    "news",
    "syslog",
    "user",
    "uucp",
]


def _default_extensions(windows: bool) -> list[dict[str, Any]]:
    """The extensions AKS itself puts on every node-pool scale set."""
    if windows:
        return [
            {
                "name": "vmssCSE",
                "properties": {
                    "publisher": "Microsoft.Compute",
                    "type": "CustomScriptExtension",
                    "typeHandlerVersion": "1.10",
                    "autoUpgradeMinorVersion": True,
                    "settings": {},
                },
            },
            {
                "name": "AKSWindowsBilling",
                "properties": {
                    "publisher": "Microsoft.AKS",
                    "type": "Compute.AKS.Windows.Billing",
                    "typeHandlerVersion": "1.0",
                    "autoUpgradeMinorVersion": True,
                    "settings": {},
                },
            },
        ]
    return [
        {
            "name": "vmssCSE",
            "properties": {
                "publisher": "Microsoft.Azure.Extensions",
                "type": "CustomScript",
                "typeHandlerVersion": "2.0",
                "autoUpgradeMinorVersion": True,
                "settings": {},
            },
        },
        {
            "name": "AKSLinuxBilling",
            "properties": {
                "publisher": "Microsoft.AKS",
                "type": "Compute.AKS.Linux.Billing",
                "typeHandlerVersion": "1.0",
                "autoUpgradeMinorVersion": True,
                "settings": {},
            },
        },
    ]


def _extension_props(
    ext: dict[str, Any], resolve_ws: Any, customer_id_of: Any
) -> tuple[str, dict[str, Any]]:
    name = str(ext["name"])
    if "properties" in ext:
        return name, dict(ext["properties"])
    props = dict(EXTENSION_DEFAULTS.get(str(ext.get("type", name)), {}))
    if not props:
        raise ScenarioError(
            f"extension {name}: give 'properties' or a known type "
            "(OmsAgentForLinux, AzureMonitorLinuxAgent)"
        )
    settings: dict[str, Any] = {}
    if ext.get("workspace") and props["type"] == "OmsAgentForLinux":
        settings = {
            "workspaceId": customer_id_of(resolve_ws(ext["workspace"])),
            "skipDockerProviderInstall": True,
        }
    props["settings"] = settings
    return name, props


def _labels(
    cluster: str,
    node_rg: str,
    location: str,
    pool: dict[str, Any],
    computer: str,
    image_version: str,
    index: int,
) -> dict[str, str]:
    windows = pool["os_sku"].startswith("Windows")
    os_name = "windows" if windows else "linux"
    labels = {
        "agentpool": pool["name"],
        "beta.kubernetes.io/arch": pool["arch"],
        "beta.kubernetes.io/instance-type": pool["vm_size"],
        "beta.kubernetes.io/os": os_name,
        "failure-domain.beta.kubernetes.io/region": location,
        "failure-domain.beta.kubernetes.io/zone": "0",
        "kubernetes.azure.com/agentpool": pool["name"],
        "kubernetes.azure.com/cluster": node_rg,
        "kubernetes.azure.com/consolidated-additional-properties": "",
        "kubernetes.azure.com/kubelet-identity-client-id": bodies.stable_guid(cluster, "kubelet"),
        "kubernetes.azure.com/mode": pool["mode"].lower(),
        "kubernetes.azure.com/node-image-version": image_version,
        "kubernetes.azure.com/nodepool-type": "VirtualMachineScaleSets",
        "kubernetes.azure.com/os-sku": bodies._sku_family(pool["os_sku"]),
        "kubernetes.azure.com/os-sku-effective": pool["os_sku"],
        "kubernetes.azure.com/os-sku-requested": bodies._sku_family(pool["os_sku"]),
        "kubernetes.azure.com/role": "agent",
        "kubernetes.azure.com/storageprofile": "managed",
        "kubernetes.azure.com/storagetier": "Premium_LRS",
        "kubernetes.io/arch": pool["arch"],
        "kubernetes.io/hostname": computer,
        "kubernetes.io/os": os_name,
        "kubernetes.io/role": "agent",
        "node-role.kubernetes.io/agent": "",
        "node.kubernetes.io/instance-type": pool["vm_size"],
        "storageprofile": "managed",
        "storagetier": "Premium_LRS",
        "topology.disk.csi.azure.com/zone": "",
        "topology.kubernetes.io/region": location,
        "topology.kubernetes.io/zone": "0",
    }
    if windows:
        labels["node.kubernetes.io/windows-build"] = "10.0.20348"
    return labels


def _apply_node_faults(state: EmulatorState) -> None:
    for fault in state.faults:
        if fault.get("kind") not in ("node_not_ready", "node-not-ready"):
            continue
        for node in state.all_nodes():
            if fault.get("node") and fault["node"] != node.name:
                continue
            if fault.get("cluster") and fault["cluster"] != node.cluster:
                continue
            if fault.get("pool") and fault["pool"] != node.pool:
                continue
            if "index" in fault and str(fault["index"]) != node.instance_id:
                continue
            node.ready = False

"""Parsing of ARM bodies: REST-shaped dicts in (as ``arm.rest`` gives them), models out.

Tolerant of missing fields (a field Azure leaves out never crashes discovery or a log path);
no I/O. Also the ARM names AKS and the az CLI give to what discovery and the log paths look for
(pool tags, the Container Insights association and rule names, the syslog stream).
Discovery (``discovery.py``) and the log paths (``logpaths/``) both read through these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aksaudit_tui.cloud.arm import ArmId, iget, props
from aksaudit_tui.cloud.models import (
    Cluster,
    Extension,
    Instance,
    Monitoring,
    ScaleSet,
    SyslogCollection,
    Workspace,
)

POOL_TAG = "aks-managed-poolName"
CI_ASSOCIATION = "ContainerInsightsExtension"
SYSLOG_STREAM = "Microsoft-Syslog"
_POOL_NAME_RE = re.compile(r"^aks-(?P<pool>[a-z0-9]+)-\d+-vmss$", re.IGNORECASE)


def node_resource_group_default(resource_group: str, cluster: str, location: str) -> str:
    """AKS's default node resource group name (used only when the cluster does not say)."""
    return f"MC_{resource_group}_{cluster}_{location}"


def parse_monitoring(cluster_body: Mapping[str, Any]) -> Monitoring:
    p = props(cluster_body)
    addon = iget(p.get("addonProfiles") or {}, "omsagent") or {}
    config = addon.get("config") or {}
    ci = (p.get("azureMonitorProfile") or {}).get("containerInsights") or {}
    port = ci.get("syslogPort")
    workspace = iget(config, "logAnalyticsWorkspaceResourceID") or ci.get(
        "logAnalyticsWorkspaceResourceId"
    )
    return Monitoring(
        addon_enabled=bool(addon.get("enabled")),
        workspace_id=str(workspace).strip() if workspace else None,
        msi_auth=str(iget(config, "useAADAuth", "")).lower() == "true",
        syslog_port=int(port) if isinstance(port, int | str) and str(port).isdigit() else None,
    )


def parse_dcr_syslog(dcr_body: Mapping[str, Any]) -> tuple[tuple[SyslogCollection, ...], bool]:
    """The DCR's syslog data sources, and whether Microsoft-Syslog actually flows somewhere."""
    p = props(dcr_body)
    sources = []
    for src in (p.get("dataSources") or {}).get("syslog") or []:
        streams = src.get("streams") or [SYSLOG_STREAM]
        if SYSLOG_STREAM not in streams:
            continue
        sources.append(
            SyslogCollection(
                name=str(src.get("name") or ""),
                facilities=tuple(str(f).lower() for f in src.get("facilityNames") or ()),
                levels=tuple(str(lv) for lv in src.get("logLevels") or ()),
            )
        )
    flows = any(SYSLOG_STREAM in (f.get("streams") or []) for f in p.get("dataFlows") or [])
    return tuple(sources), bool(sources) and flows


def with_rule(
    base: Monitoring, rule: Mapping[str, Any], rule_id: str | None, associated: bool
) -> Monitoring:
    """``base`` (from the cluster's body) with what its data collection rule collects: the
    one place both discovery paths (ARM walk, Resource Graph) build it."""
    syslog, flows = parse_dcr_syslog(rule)
    return Monitoring(
        addon_enabled=base.addon_enabled,
        workspace_id=base.workspace_id,
        msi_auth=base.msi_auth,
        syslog_enabled=flows,
        syslog_port=base.syslog_port,
        dcr_id=str(rule.get("id") or rule_id or ""),
        syslog=syslog,
        dcr_associated=associated,
        dcr_workspace_ids=dcr_workspaces(rule),
    )


def dcr_workspaces(dcr_body: Mapping[str, Any]) -> tuple[str, ...]:
    dest = (props(dcr_body).get("destinations") or {}).get("logAnalytics") or []
    return tuple(str(d.get("workspaceResourceId")) for d in dest if d.get("workspaceResourceId"))


def parse_extension(body: Mapping[str, Any]) -> Extension:
    p = props(body)
    settings = p.get("settings")
    return Extension(
        name=str(body.get("name") or ""),
        publisher=str(p.get("publisher") or ""),
        # The extension's own type sits in properties.type (the top-level type is the ARM type).
        type=str(p.get("type") or ""),
        provisioning_state=p.get("provisioningState"),
        settings=dict(settings) if isinstance(settings, dict) else {},
    )


def computer_name_default(vmss_name: str, instance_id: str) -> str:
    """AKS node names: the scale set name minus "-vmss"... plus 6 base-36 digits of the id."""
    n = int(instance_id) if instance_id.isdigit() else 0
    digits = ""
    while True:
        n, r = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
        if n == 0:
            break
    return f"{vmss_name}{digits.zfill(6)}"


def parse_instance(body: Mapping[str, Any], vmss_name: str) -> Instance:
    p = props(body)
    iid = str(body.get("instanceId") or str(body.get("id") or "").rsplit("/", 1)[-1])
    name = (p.get("osProfile") or {}).get("computerName") or computer_name_default(vmss_name, iid)
    return Instance(
        id=str(body.get("id") or ""),
        instance_id=iid,
        computer_name=str(name),
        latest_model_applied=bool(p.get("latestModelApplied", True)),
    )


def pool_of(vmss_body: Mapping[str, Any]) -> str | None:
    pool = iget(vmss_body.get("tags") or {}, POOL_TAG)
    if pool:
        return str(pool)
    m = _POOL_NAME_RE.match(str(vmss_body.get("name") or ""))
    return m.group("pool") if m else None


def parse_scale_set(
    vmss_body: Mapping[str, Any],
    pool_profile: Mapping[str, Any] | None,
    node_resource_group: str,
    instances: tuple[Instance, ...] = (),
    extensions: tuple[Extension, ...] = (),
) -> ScaleSet:
    p = props(vmss_body)
    vmp = p.get("virtualMachineProfile") or {}
    prof = pool_profile or {}
    os_type = prof.get("osType") or ((vmp.get("storageProfile") or {}).get("osDisk") or {}).get(
        "osType"
    )
    if not os_type:
        os_type = "Windows" if (vmp.get("osProfile") or {}).get("windowsConfiguration") else "Linux"
    return ScaleSet(
        id=str(vmss_body.get("id") or ""),
        name=str(vmss_body.get("name") or ""),
        pool=pool_of(vmss_body) or str(vmss_body.get("name") or ""),
        os=str(os_type),
        os_sku=prof.get("osSKU"),
        upgrade_mode=str((p.get("upgradePolicy") or {}).get("mode") or "Manual"),
        instances=instances,
        extensions=extensions,
        taints=tuple(str(t) for t in prof.get("nodeTaints") or ()),
        mode=prof.get("mode"),
        resource_group=node_resource_group,
    )


def parse_workspace(
    body: Mapping[str, Any], syslog_sources: tuple[SyslogCollection, ...] = ()
) -> Workspace:
    rid = ArmId.parse(str(body.get("id") or ""))
    return Workspace(
        id=str(body.get("id") or ""),
        name=str(body.get("name") or ""),
        customer_id=str(props(body).get("customerId") or ""),
        location=str(body.get("location") or ""),
        resource_group=rid.resource_group,
        subscription_id=rid.subscription,
        syslog_sources=syslog_sources,
    )


def parse_linux_syslog(body: Mapping[str, Any]) -> SyslogCollection | None:
    if str(body.get("kind") or "").lower() != "linuxsyslog":
        return None
    p = props(body)
    return SyslogCollection(
        name=str(body.get("name") or ""),
        facilities=(str(p.get("syslogName") or "").lower(),),
        levels=tuple(str(s.get("severity") or "").lower() for s in p.get("syslogSeverities") or ()),
    )


def parse_listed_cluster(sid: str, body: Mapping[str, Any]) -> Cluster:
    """A cluster as the managed-clusters listing describes it (``complete=False``): everything
    but its scale sets and what its data collection rule says."""
    cid = str(body.get("id") or "")
    rid = ArmId.parse(cid)
    p = props(body)
    return Cluster(
        id=cid,
        name=str(body.get("name") or rid.name),
        subscription_id=sid,
        resource_group=rid.resource_group,
        location=str(body.get("location") or ""),
        node_resource_group=str(p.get("nodeResourceGroup") or ""),
        fqdn=p.get("fqdn"),
        kubernetes_version=p.get("currentKubernetesVersion") or p.get("kubernetesVersion"),
        lockdown=(p.get("nodeResourceGroupProfile") or {}).get("restrictionLevel"),
        monitoring=parse_monitoring(body),
    )


def msci_name(location: str, cluster: str) -> str:
    """The az CLI's Container Insights DCR name (max 64 chars)."""
    return f"MSCI-{location}-{cluster}"[:64]


def is_msci_name(dcr_name: str, cluster: str) -> bool:
    low = dcr_name.lower()
    if not low.startswith("msci-"):
        return False
    return low.endswith("-" + cluster.lower()) or (
        len(low) == 64 and cluster.lower().startswith(low.rsplit("-", 1)[-1])
    )

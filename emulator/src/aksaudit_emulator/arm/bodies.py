"""ARM resource bodies shaped like the Azure REST API specs (field names and nesting as in the
spec examples; values plausible for AKS). Builders only: no state, no I/O."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

CREATED = "2026-01-12T09:30:00.0000000+00:00"
COMPUTE = "Microsoft.Compute/virtualMachineScaleSets"

OS_IMAGES: dict[str, tuple[str, str, str]] = {
    # os_sku -> (osImage, kernelVersion, node image version)
    "Ubuntu2204": (
        "Ubuntu 22.04.5 LTS",
        "5.15.0-1089-azure",
        "AKSUbuntu-2204gen2containerd-202511.03.0",
    ),
    "Ubuntu2404": (
        "Ubuntu 24.04.3 LTS",
        "6.8.0-1041-azure",
        "AKSUbuntu-2404gen2containerd-202511.03.0",
    ),
    "AzureLinux3": ("CBL-Mariner/Linux", "6.6.104.2-4.azl3", "AKSAzureLinux-V3gen2-202511.03.0"),
    "Ubuntu1804": (
        "Ubuntu 18.04.6 LTS",
        "5.4.0-1109-azure",
        "AKSUbuntu-1804gen2containerd-2023.05.10",
    ),
    "Flatcar": (
        "Flatcar Container Linux by Kinvolk 4230.2.3",
        "6.6.95-flatcar",
        "AKSFlatcar-gen2-202511.03.0",
    ),
    "Windows2022": (
        "Windows Server 2022 Datacenter",
        "10.0.20348.4294",
        "AKSWindows-2022-containerd-20348.4294.251030",
    ),
}


def rg_id(sub_id: str, rg: str) -> str:
    return f"/subscriptions/{sub_id}/resourceGroups/{rg}"


def stable_guid(*parts: str) -> str:
    """A deterministic GUID so the same scenario gives the same ids run after run."""
    return str(uuid.UUID(hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]))


def etag(*parts: str) -> str:
    return '"' + hashlib.sha256("/".join(parts).encode()).hexdigest()[:16] + '"'


def subscription(sub_id: str, name: str, tenant_id: str) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{sub_id}",
        "subscriptionId": sub_id,
        "tenantId": tenant_id,
        "displayName": name,
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "EnterpriseAgreement_2014-09-01",
            "spendingLimit": "Off",
        },
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "tags": {},
    }


def resource_group(
    sub_id: str,
    name: str,
    location: str,
    managed_by: str | None = None,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"/subscriptions/{sub_id}/resourceGroups/{name}",
        "name": name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": location,
        "properties": {"provisioningState": "Succeeded"},
    }
    if managed_by:
        body["managedBy"] = managed_by
    if tags:
        body["tags"] = tags
    return body


def managed_cluster(
    *,
    sub_id: str,
    rg: str,
    name: str,
    location: str,
    kubernetes_version: str,
    node_rg: str,
    restriction_level: str,
    pools: list[dict[str, Any]],
    monitoring_workspace_id: str | None,
    tenant_id: str,
) -> dict[str, Any]:
    cid = f"{rg_id(sub_id, rg)}/providers/Microsoft.ContainerService/managedClusters/{name}"
    prefix = f"{name[:10]}-{rg[:9]}-{sub_id[:6]}".replace("_", "-")
    addons: dict[str, Any] = {}
    if monitoring_workspace_id is not None:
        addons["omsagent"] = {
            "enabled": True,
            "config": {
                "logAnalyticsWorkspaceResourceID": monitoring_workspace_id,
                "useAADAuth": "true",
            },
            "identity": {
                "resourceId": f"/subscriptions/{sub_id}/resourcegroups/{node_rg}/providers/"
                f"Microsoft.ManagedIdentity/userAssignedIdentities/omsagent-{name}",
                "clientId": stable_guid(cid, "oms-client"),
                "objectId": stable_guid(cid, "oms-object"),
            },
        }
    return {
        "id": cid,
        "location": location,
        "name": name,
        "type": "Microsoft.ContainerService/ManagedClusters",
        "tags": {},
        "eTag": etag(cid),
        "sku": {"name": "Base", "tier": "Standard"},
        "identity": {
            "type": "SystemAssigned",
            "principalId": stable_guid(cid, "principal"),
            "tenantId": tenant_id,
        },
        "properties": {
            "provisioningState": "Succeeded",
            "powerState": {"code": "Running"},
            "kubernetesVersion": kubernetes_version,
            "currentKubernetesVersion": kubernetes_version,
            "dnsPrefix": prefix,
            "fqdn": f"{prefix}-{stable_guid(cid)[:8]}.hcp.{location}.azmk8s.io",
            "azurePortalFQDN": f"{prefix}-{stable_guid(cid)[:8]}.portal.hcp.{location}.azmk8s.io",
            "agentPoolProfiles": pools,
            "linuxProfile": {
                "adminUsername": "azureuser",
                "ssh": {
                    "publicKeys": [{"keyData": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ emulator"}]
                },
            },
            "servicePrincipalProfile": {"clientId": "msi"},
            "addonProfiles": addons,
            "nodeResourceGroup": node_rg,
            "nodeResourceGroupProfile": {"restrictionLevel": restriction_level},
            "enableRBAC": True,
            "supportPlan": "KubernetesOfficial",
            "networkProfile": {
                "networkPlugin": "azure",
                "networkPluginMode": "overlay",
                "networkPolicy": "none",
                "loadBalancerSku": "standard",
                "podCidr": "10.244.0.0/16",
                "serviceCidr": "10.0.0.0/16",
                "dnsServiceIP": "10.0.0.10",
                "outboundType": "loadBalancer",
            },
            "maxAgentPools": 100,
            "autoUpgradeProfile": {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage"},
            "azureMonitorProfile": {"metrics": {"enabled": False}},
            "disableLocalAccounts": False,
        },
    }


def agent_pool_profile(pool: dict[str, Any], kubernetes_version: str) -> dict[str, Any]:
    os_sku = pool["os_sku"]
    windows = os_sku.startswith("Windows")
    profile: dict[str, Any] = {
        "name": pool["name"],
        "count": pool["count"],
        "vmSize": pool["vm_size"],
        "osDiskSizeGB": 128,
        "osDiskType": "Ephemeral",
        "kubeletDiskType": "OS",
        "maxPods": 110,
        "type": "VirtualMachineScaleSets",
        "enableAutoScaling": False,
        "provisioningState": "Succeeded",
        "powerState": {"code": "Running"},
        "orchestratorVersion": kubernetes_version,
        "currentOrchestratorVersion": kubernetes_version,
        "mode": pool["mode"],
        "osType": "Windows" if windows else "Linux",
        "osSKU": "Windows2022" if windows else _sku_family(os_sku),
        "nodeImageVersion": OS_IMAGES.get(os_sku, OS_IMAGES["Ubuntu2204"])[2],
        "enableFIPS": False,
        "upgradeSettings": {"maxSurge": "10%"},
    }
    if pool.get("taints"):
        profile["nodeTaints"] = list(pool["taints"])
    return profile


def _sku_family(os_sku: str) -> str:
    # agentPoolProfiles.osSKU names the family ("Ubuntu"/"AzureLinux"), or the pinned version.
    if os_sku.startswith("Ubuntu2404"):
        return "Ubuntu2404"
    if os_sku.startswith("Ubuntu"):
        return "Ubuntu"
    if os_sku.startswith("AzureLinux"):
        return "AzureLinux"
    return os_sku


def vmss(
    *,
    sub_id: str,
    node_rg: str,
    name: str,
    location: str,
    pool: dict[str, Any],
    cluster_name: str,
    cluster_rg: str,
    extensions: list[dict[str, Any]],
    computer_name_prefix: str,
) -> dict[str, Any]:
    vid = f"/subscriptions/{sub_id}/resourceGroups/{node_rg}/providers/{COMPUTE}/{name}"
    windows = pool["os_sku"].startswith("Windows")
    return {
        "id": vid,
        "name": name,
        "type": COMPUTE,
        "location": location,
        "tags": {
            "aks-managed-createOperationID": stable_guid(vid, "op"),
            "aks-managed-creationSource": f"vmssclient-{name}",
            "aks-managed-kubeletIdentityClientID": stable_guid(vid, "kubelet"),
            "aks-managed-orchestrator": f"Kubernetes:{pool.get('kubernetes_version', '1.32.6')}",
            "aks-managed-poolName": pool["name"],
            "aks-managed-resourceNameSuffix": name.split("-")[2] if name.count("-") >= 3 else "0",
            "aks-managed-cluster-name": cluster_name,
            "aks-managed-cluster-rg": cluster_rg,
        },
        "sku": {"name": pool["vm_size"], "tier": "Standard", "capacity": pool["count"]},
        "properties": {
            "singlePlacementGroup": False,
            "orchestrationMode": "Uniform",
            "upgradePolicy": {"mode": pool.get("upgrade_policy", "Manual")},
            "virtualMachineProfile": {
                "osProfile": {
                    "computerNamePrefix": computer_name_prefix,
                    "adminUsername": "azureuser",
                    "linuxConfiguration": None
                    if windows
                    else {"disablePasswordAuthentication": True, "provisionVMAgent": True},
                },
                "storageProfile": {
                    "imageReference": {
                        "id": f"/subscriptions/{stable_guid('gallery')}/resourceGroups/AKS-"
                        f"{'Windows' if windows else 'Ubuntu'}/providers/Microsoft.Compute/"
                        "galleries/"
                        f"AKS{_sku_family(pool['os_sku'])}/images/{pool['os_sku']}gen2/versions/202511.03.0"
                    },
                    "osDisk": {
                        "osType": "Windows" if windows else "Linux",
                        "createOption": "FromImage",
                        "caching": "ReadOnly",
                        "diskSizeGB": 128,
                        "managedDisk": {"storageAccountType": "Standard_LRS"},
                    },
                },
                "networkProfile": {
                    "networkInterfaceConfigurations": [
                        {
                            "name": name,
                            "properties": {
                                "primary": True,
                                "enableAcceleratedNetworking": True,
                                "enableIPForwarding": True,
                                "ipConfigurations": [
                                    {"name": "ipconfig1", "properties": {"primary": True}}
                                ],
                            },
                        }
                    ]
                },
                "extensionProfile": {"extensions": extensions},
            },
            "overprovision": False,
            "doNotRunExtensionsOnOverprovisionedVMs": False,
            "provisioningState": "Succeeded",
            "uniqueId": stable_guid(vid),
            "timeCreated": CREATED,
        },
    }


def vmss_vm(
    *,
    vmss_body: dict[str, Any],
    instance_id: str,
    computer_name: str,
    latest_model_applied: bool,
) -> dict[str, Any]:
    vmss_id = vmss_body["id"]
    vid = f"{vmss_id}/virtualMachines/{instance_id}"
    vmss_name = vmss_body["name"]
    props = vmss_body["properties"]["virtualMachineProfile"]
    return {
        "id": vid,
        "name": f"{vmss_name}_{instance_id}",
        "type": f"{COMPUTE}/virtualMachines",
        "location": vmss_body["location"],
        "tags": dict(vmss_body.get("tags", {})),
        "instanceId": instance_id,
        "sku": {"name": vmss_body["sku"]["name"], "tier": "Standard"},
        "properties": {
            "latestModelApplied": latest_model_applied,
            "vmId": stable_guid(vid),
            "hardwareProfile": {"vmSize": vmss_body["sku"]["name"]},
            "storageProfile": {
                "imageReference": props["storageProfile"]["imageReference"],
                "osDisk": {
                    "osType": props["storageProfile"]["osDisk"]["osType"],
                    "name": f"{vmss_name}_{instance_id}_OsDisk_1_{stable_guid(vid)[:8]}",
                    "createOption": "FromImage",
                    "caching": "ReadOnly",
                    "diskSizeGB": 128,
                },
            },
            "osProfile": {
                "computerName": computer_name,
                "adminUsername": "azureuser",
                "allowExtensionOperations": True,
                "requireGuestProvisionSignal": True,
            },
            "networkProfile": {
                "networkInterfaces": [
                    {
                        "id": f"{vid}/networkInterfaces/{vmss_name}",
                        "properties": {"primary": True},
                    }
                ]
            },
            "provisioningState": "Succeeded",
            "timeCreated": CREATED,
        },
    }


def vmss_extension(vmss_id: str, name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A scale-set extension; ``protectedSettings`` must already be stripped by the caller."""
    props = {
        k: v
        for k, v in properties.items()
        if k not in ("protectedSettings", "protectedSettingsFromKeyVault")
    }
    props.setdefault("provisioningState", "Succeeded")
    return {
        "id": f"{vmss_id}/extensions/{name}",
        "name": name,
        "type": f"{COMPUTE}/extensions",
        "properties": props,
    }


def workspace(
    *, sub_id: str, rg: str, name: str, location: str, customer_id: str
) -> dict[str, Any]:
    wid = f"{rg_id(sub_id, rg)}/providers/Microsoft.OperationalInsights/workspaces/{name}"
    return {
        "id": wid,
        "name": name,
        "type": "Microsoft.OperationalInsights/workspaces",
        "location": location,
        "tags": {},
        "etag": etag(wid),
        "properties": {
            "provisioningState": "Succeeded",
            "customerId": customer_id,
            "sku": {"name": "PerGB2018", "lastSkuUpdate": "2026-01-12T09:30:00.0000000Z"},
            "retentionInDays": 30,
            "features": {
                "legacy": 0,
                "searchVersion": 1,
                "enableLogAccessUsingOnlyResourcePermissions": True,
            },
            "workspaceCapping": {
                "dailyQuotaGb": -1.0,
                "quotaNextResetTime": "2026-01-13T00:00:00Z",
                "dataIngestionStatus": "RespectQuota",
            },
            "publicNetworkAccessForIngestion": "Enabled",
            "publicNetworkAccessForQuery": "Enabled",
            "createdDate": "2026-01-12T09:30:00.0000000Z",
            "modifiedDate": "2026-01-12T09:30:00.0000000Z",
        },
    }


SEVERITIES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]
DCR_LEVELS = ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Info", "Debug"]


def linux_syslog_source(
    ws_id: str, name: str, facility: str, severities: list[str]
) -> dict[str, Any]:
    return {
        "id": f"{ws_id}/dataSources/{name}",
        "name": name,
        "type": "Microsoft.OperationalInsights/workspaces/dataSources",
        "kind": "LinuxSyslog",
        "etag": etag(ws_id, name),
        "properties": {
            "syslogName": facility,
            "syslogSeverities": [{"severity": s} for s in severities],
        },
    }


def dcr(
    *,
    sub_id: str,
    rg: str,
    name: str,
    location: str,
    workspace_id: str | None,
    facilities: list[str] | None,
    levels: list[str] | None,
    container_insights: bool = False,
    kind: str = "Linux",
) -> dict[str, Any]:
    rid = f"{rg_id(sub_id, rg)}/providers/Microsoft.Insights/dataCollectionRules/{name}"
    data_sources: dict[str, Any] = {}
    flows: list[dict[str, Any]] = []
    dest = "ciworkspace" if container_insights else "la-workspace"
    if container_insights:
        data_sources["extensions"] = [
            {
                "name": "ContainerInsightsExtension",
                "streams": ["Microsoft-ContainerInsights-Group-Default"],
                "extensionName": "ContainerInsights",
                "extensionSettings": {
                    "dataCollectionSettings": {
                        "interval": "1m",
                        "namespaceFilteringMode": "Off",
                        "enableContainerLogV2": True,
                    }
                },
            }
        ]
        flows.append(
            {"streams": ["Microsoft-ContainerInsights-Group-Default"], "destinations": [dest]}
        )
    if facilities is not None:
        data_sources["syslog"] = [
            {
                "name": "sysLogsDataSource",
                "streams": ["Microsoft-Syslog"],
                "facilityNames": list(facilities),
                "logLevels": list(levels or DCR_LEVELS),
            }
        ]
        flows.append({"streams": ["Microsoft-Syslog"], "destinations": [dest]})
    destinations: dict[str, Any] = {}
    if workspace_id:
        destinations["logAnalytics"] = [
            {
                "workspaceResourceId": workspace_id,
                "workspaceId": stable_guid(workspace_id.lower()),
                "name": dest,
            }
        ]
    body: dict[str, Any] = {
        "id": rid,
        "name": name,
        "type": "Microsoft.Insights/dataCollectionRules",
        "location": location,
        "kind": kind,
        "tags": {},
        "etag": etag(rid),
        "properties": {
            "immutableId": "dcr-" + stable_guid(rid).replace("-", ""),
            "description": "Data collection rule for Container Insights"
            if container_insights
            else "",
            "dataSources": data_sources,
            "destinations": destinations,
            "dataFlows": flows,
            "provisioningState": "Succeeded",
        },
    }
    return body


def dcr_association(
    resource_uri: str, name: str, rule_id: str | None, description: str = ""
) -> dict[str, Any]:
    props: dict[str, Any] = {"provisioningState": "Succeeded"}
    if description:
        props["description"] = description
    if rule_id:
        props["dataCollectionRuleId"] = rule_id
    return {
        "id": f"{resource_uri}/providers/Microsoft.Insights/dataCollectionRuleAssociations/{name}",
        "name": name,
        "type": "Microsoft.Insights/dataCollectionRuleAssociations",
        "etag": etag(resource_uri, name),
        "properties": props,
    }


def arm_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}

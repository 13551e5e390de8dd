"""Payload fidelity: the emulator's bodies against the Azure REST API spec examples.

For each route, every key path the emulator returns must appear in the spec example for that
operation (free-form maps such as ``tags`` or extension ``settings`` compare as ``*``), except
for the few listed in ``EXPLAINED`` with the reason. Each example response is also fed through
the SDK model deserializer, so a maximal real payload cannot crash the clients we use.

The examples live outside the repository (``../shared/azure-rest-examples``, or the directory in
``AKSAUDIT_REST_EXAMPLES``); the tests skip with the reason when they are absent.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(
    os.environ.get(
        "AKSAUDIT_REST_EXAMPLES",
        Path(__file__).resolve().parents[3] / "shared" / "azure-rest-examples",
    )
)
SUB = "9a9e4724-4de8-4e90-8d73-d2768294f7e8"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-aks-prod"
NODE_RG = f"/subscriptions/{SUB}/resourceGroups/MC_rg-aks-prod_aks-prod-weu_westeurope"
CLUSTER = f"{RG}/providers/Microsoft.ContainerService/managedClusters/aks-prod-weu"
WS = f"{RG}/providers/Microsoft.OperationalInsights/workspaces/law-prod-weu"
DCR = f"{RG}/providers/Microsoft.Insights/dataCollectionRules/MSCI-westeurope-aks-prod-weu"

# Maps whose keys are data, not schema: compared as "<key>/*", never descended into.
FREE_FORM = {
    "tags",
    "settings",
    "config",
    "userAssignedIdentities",
    "extensionSettings",
    "protectedSettings",
}

# Examples per resource type: our item for that type must fit the union of their key paths.
GROUPS: dict[str, list[tuple[str, str]]] = {
    "subscription": [("resources/GetSubscriptions.json", "200")],
    "resource-group": [("resources/ResourceGroups_Get.json", "200")],
    "managed-cluster": [
        ("containerservice/ManagedClustersList.json", "200"),
        ("containerservice/ManagedClustersGet.json", "200"),
        ("containerservice/ManagedClustersCreate_Update.json", "200"),
        ("containerservice/ManagedClustersCreate_AzureKeyvaultSecretsProvider.json", "200"),
    ],
    "vmss": [
        ("compute/VirtualMachineScaleSet_List_MaximumSet_Gen.json", "200"),
        ("compute/VirtualMachineScaleSet_Get_WithUserData.json", "200"),
    ],
    "vmss-vm": [("compute/VirtualMachineScaleSetVM_List_MaximumSet_Gen.json", "200")],
    "extension": [
        ("compute/VirtualMachineScaleSetExtension_List_MaximumSet_Gen.json", "200"),
        ("compute/VirtualMachineScaleSetExtension_Get_MaximumSet_Gen.json", "200"),
        ("compute/VirtualMachineScaleSetExtension_CreateOrUpdate_MaximumSet_Gen.json", "200"),
    ],
    "workspace": [
        ("operationalinsights/WorkspacesSubscriptionList.json", "200"),
        ("operationalinsights/WorkspacesListByResourceGroup.json", "200"),
        ("operationalinsights/WorkspacesGet.json", "200"),
    ],
    "shared-keys": [("operationalinsights/WorkspacesGetSharedKeys.json", "200")],
    "data-source": [
        ("operationalinsights/DataSourcesCreate.json", "200"),
        ("operationalinsights/DataSourcesGet.json", "200"),
        ("operationalinsights/DataSourcesListByWorkspace.json", "200"),
    ],
    "dcr": [
        ("monitor/DataCollectionRulesCreate.json", "200"),
        ("monitor/DataCollectionRulesGet.json", "200"),
        ("monitor/DataCollectionRulesListBySubscription.json", "200"),
    ],
    "dcra": [
        ("monitor/DataCollectionRuleAssociationsCreate.json", "200"),
        ("monitor/DataCollectionRuleAssociationsListByResource.json", "200"),
    ],
}

_EXT = "/properties/virtualMachineProfile/extensionProfile/extensions[]"

# Key paths we return that no example of the type shows, and why they are right (all are
# fields of the type's schema in the REST spec; the examples just leave them out).
EXPLAINED: dict[str, dict[str, str]] = {
    "managed-cluster": {
        "/sku": "ManagedClusterSKU (Base/Standard tier)",
        "/sku/name": "ManagedClusterSKU",
        "/sku/tier": "ManagedClusterSKU",
        "/properties/autoUpgradeProfile": "ManagedClusterAutoUpgradeProfile",
        "/properties/autoUpgradeProfile/upgradeChannel": "spec field",
        "/properties/agentPoolProfiles[]/enableAutoScaling": "spec field",
        "/properties/agentPoolProfiles[]/osDiskSizeGB": "spec field",
        "/properties/addonProfiles": "ManagedClusterProperties.addonProfiles; no example has "
        "omsagent (INDEX.md)",
        "/properties/addonProfiles/omsagent": "the monitoring add-on",
        "/properties/addonProfiles/omsagent/enabled": "ManagedClusterAddonProfile.enabled",
        "/properties/addonProfiles/omsagent/config": "ManagedClusterAddonProfile.config",
        "/properties/addonProfiles/omsagent/config/*": "free-form",
        "/properties/addonProfiles/omsagent/identity": "ManagedClusterAddonProfile.identity",
        "/properties/addonProfiles/omsagent/identity/resourceId": "UserAssignedIdentity",
        "/properties/addonProfiles/omsagent/identity/clientId": "UserAssignedIdentity",
        "/properties/addonProfiles/omsagent/identity/objectId": "UserAssignedIdentity",
        "/properties/azureMonitorProfile": "ManagedClusterAzureMonitorProfile",
        "/properties/azureMonitorProfile/metrics": "ManagedClusterAzureMonitorProfileMetrics",
        "/properties/azureMonitorProfile/metrics/enabled": "spec field",
        "/properties/nodeResourceGroupProfile": "ManagedClusterNodeResourceGroupProfile",
        "/properties/nodeResourceGroupProfile/restrictionLevel": "node resource group lockdown",
        "/properties/agentPoolProfiles[]/nodeTaints": "spec field; example pools are untainted",
        "/properties/agentPoolProfiles[]/osSKU": "spec field; discovery reads it",
        "/properties/agentPoolProfiles[]/nodeImageVersion": "read-only spec field",
        "/properties/agentPoolProfiles[]/currentOrchestratorVersion": "read-only spec field",
        "/properties/agentPoolProfiles[]/kubeletDiskType": "spec field",
        "/properties/agentPoolProfiles[]/osDiskType": "spec field",
        "/properties/agentPoolProfiles[]/enableFIPS": "spec field",
        "/properties/agentPoolProfiles[]/powerState": "PowerState",
        "/properties/agentPoolProfiles[]/powerState/code": "spec field",
        "/properties/agentPoolProfiles[]/provisioningState": "read-only spec field",
        "/properties/powerState": "read-only spec field",
        "/properties/powerState/code": "read-only spec field",
        "/properties/currentKubernetesVersion": "read-only spec field",
        "/properties/azurePortalFQDN": "read-only spec field",
        "/properties/autoUpgradeProfile/nodeOSUpgradeChannel": "spec field",
        "/properties/supportPlan": "spec field",
        "/properties/disableLocalAccounts": "spec field",
        "/properties/networkProfile/networkPluginMode": "spec field (overlay)",
        "/properties/networkProfile/podCidr": "spec field (overlay needs it)",
        "/properties/networkProfile/networkPolicy": "spec field",
        "/properties/maxAgentPools": "read-only spec field",
        "/identity/principalId": "ManagedClusterIdentity (system-assigned)",
        "/identity/tenantId": "ManagedClusterIdentity (system-assigned)",
    },
    "vmss": {
        "/properties/virtualMachineProfile/extensionProfile": "the model's extensions (spec); "
        "the maximal examples leave it out",
        "/properties/virtualMachineProfile/extensionProfile/extensions": "spec field",
        "/properties/virtualMachineProfile/extensionProfile/extensions[]/id": "SubResource.id",
        "/properties/virtualMachineProfile/extensionProfile/extensions[]/name": "spec field",
        "/properties/virtualMachineProfile/extensionProfile/extensions[]/properties": "spec",
        **{
            f"{_EXT}/properties/{field}": "VirtualMachineScaleSetExtensionProperties"
            for field in (
                "publisher",
                "type",
                "typeHandlerVersion",
                "autoUpgradeMinorVersion",
                "provisioningState",
                "settings",
                "enableAutomaticUpgrade",
            )
        },
        "/properties/timeCreated": "read-only spec field",
        "/properties/virtualMachineProfile/storageProfile/imageReference/id": "gallery image id",
    },
    "vmss-vm": {
        "/tags/*": "Resource.tags; AKS instances carry the scale set's aks-managed-* tags",
        "/properties/osProfile/requireGuestProvisionSignal": "OSProfile (spec)",
    },
    "workspace": {
        "/etag": "Workspace.etag (spec)",
        "/properties/features": "WorkspaceFeatures (spec)",
        "/properties/features/legacy": "WorkspaceFeatures (spec)",
        "/properties/features/searchVersion": "WorkspaceFeatures (spec)",
        "/properties/features/enableLogAccessUsingOnlyResourcePermissions": "WorkspaceFeatures",
        "/properties/workspaceCapping": "WorkspaceCapping (spec)",
        "/properties/workspaceCapping/dailyQuotaGb": "WorkspaceCapping",
        "/properties/workspaceCapping/quotaNextResetTime": "WorkspaceCapping",
        "/properties/workspaceCapping/dataIngestionStatus": "WorkspaceCapping",
        "/properties/createdDate": "read-only spec field",
        "/properties/modifiedDate": "read-only spec field",
        "/properties/sku/lastSkuUpdate": "read-only spec field",
    },
    "data-source": {
        # properties depend on the kind: the examples show WindowsEvent / AzureActivityLog,
        # we serve LinuxSyslog (LinuxSyslogDataSource in the spec)
        "/properties/syslogName": "LinuxSyslog data source",
        "/properties/syslogSeverities": "LinuxSyslog data source",
        "/properties/syslogSeverities[]/severity": "LinuxSyslog data source",
    },
    "dcr": {
        "/properties/description": "DataCollectionRule.description (the MSCI rule has one)",
        "/kind": "DataCollectionRuleResource.kind (Linux)",
        "/properties/dataSources/extensions": "ExtensionDataSource: the Container Insights "
        "rule (MSCI-*) has one",
        "/properties/dataSources/extensions[]/name": "ExtensionDataSource",
        "/properties/dataSources/extensions[]/streams": "ExtensionDataSource",
        "/properties/dataSources/extensions[]/extensionName": "ExtensionDataSource",
        "/properties/dataSources/extensions[]/extensionSettings": "ExtensionDataSource",
        "/properties/dataSources/extensions[]/extensionSettings/*": "free-form",
    },
    "dcra": {
        "/properties/description": "DataCollectionRuleAssociation.description",
        "/properties/provisioningState": "read-only spec field",
    },
}


def key_paths(obj: Any, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            path = f"{prefix}/{k}"
            out.add(path)
            if k in FREE_FORM:
                if v:
                    out.add(f"{path}/*")
                continue
            out |= key_paths(v, path)
    elif isinstance(obj, list):
        for v in obj:
            out |= key_paths(v, prefix + "[]")
    return out


def item_paths(body: Any) -> set[str]:
    """Key paths of one resource: list answers contribute their items'."""
    if isinstance(body, dict) and isinstance(body.get("value"), list):
        out: set[str] = set()
        for item in body["value"]:
            out |= key_paths(item)
        return out
    return key_paths(body)


def example(rel: str) -> dict[str, Any]:
    path = EXAMPLES / rel
    if not path.is_file():
        pytest.skip(
            f"spec example {path} is absent (clone without ../shared); fidelity not checked"
        )
    return dict(json.loads(path.read_text()))


def call(info: Any, method: str, path: str, body: Any = None, api: str = "2024-01-01") -> Any:
    base = info.arm_endpoint.rstrip("/")
    sep = "&" if "?" in path else "?"
    req = urllib.request.Request(
        f"{base}{path}{sep}api-version={api}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {info.token}", "Content-Type": "application/json"},
        method=method,
    )
    ctx = ssl.create_default_context(cafile=info.ca_bundle)
    with urllib.request.urlopen(req, context=ctx) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def _compute(name: str) -> Callable[[Any], Any]:
    def load(body: Any) -> Any:
        from azure.mgmt.compute import models

        return getattr(models, name)(body)

    return load


def _hybrid(module: str, name: str) -> Callable[[Any], Any]:
    def load(body: Any) -> Any:
        import importlib

        cls = getattr(importlib.import_module(module), name)
        return cls.deserialize(body) if hasattr(cls, "deserialize") else cls(body)

    return load


def _list_of(loader: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda body: [loader(item) for item in body.get("value", [])]


EXT_BODY = {
    "properties": {
        "publisher": "Microsoft.Azure.Monitor",
        "type": "AzureMonitorLinuxAgent",
        "typeHandlerVersion": "1.33",
        "autoUpgradeMinorVersion": True,
        "settings": {},
        "protectedSettings": {"secret": "never returned"},
    }
}
DS_BODY = {
    "kind": "LinuxSyslog",
    "properties": {"syslogName": "authpriv", "syslogSeverities": [{"severity": "info"}]},
}


def _vmss(info: Any) -> str:
    body = call(info, "GET", f"{NODE_RG}/providers/Microsoft.Compute/virtualMachineScaleSets")
    return str(body["value"][0]["id"])


# (test id, how to get our body, resource type, model loader for one item)
CASES: list[tuple[str, Callable[[Any], Any], str, Callable[[Any], Any]]] = [
    (
        "subscriptions-list",
        lambda i: call(i, "GET", "/subscriptions"),
        "subscription",
        _hybrid("azure.mgmt.resource.subscriptions.models", "Subscription"),
    ),
    (
        "resource-group-get",
        lambda i: call(i, "GET", RG),
        "resource-group",
        _hybrid("azure.mgmt.resource.resources.models", "ResourceGroup"),
    ),
    (
        "managed-clusters-list",
        lambda i: call(
            i, "GET", f"/subscriptions/{SUB}/providers/Microsoft.ContainerService/managedClusters"
        ),
        "managed-cluster",
        _hybrid("azure.mgmt.containerservice.models", "ManagedCluster"),
    ),
    (
        "managed-cluster-get",
        lambda i: call(i, "GET", CLUSTER),
        "managed-cluster",
        _hybrid("azure.mgmt.containerservice.models", "ManagedCluster"),
    ),
    (
        "vmss-list",
        lambda i: call(i, "GET", f"{NODE_RG}/providers/Microsoft.Compute/virtualMachineScaleSets"),
        "vmss",
        _compute("VirtualMachineScaleSet"),
    ),
    ("vmss-get", lambda i: call(i, "GET", _vmss(i)), "vmss", _compute("VirtualMachineScaleSet")),
    (
        "vmss-vms-list",
        lambda i: call(i, "GET", _vmss(i) + "/virtualMachines"),
        "vmss-vm",
        _compute("VirtualMachineScaleSetVM"),
    ),
    (
        "extension-list",
        lambda i: call(i, "GET", _vmss(i) + "/extensions"),
        "extension",
        _compute("VirtualMachineScaleSetExtension"),
    ),
    (
        "extension-get",
        lambda i: call(i, "GET", _vmss(i) + "/extensions/vmssCSE"),
        "extension",
        _compute("VirtualMachineScaleSetExtension"),
    ),
    (
        "extension-put",
        lambda i: call(i, "PUT", _vmss(i) + "/extensions/AzureMonitorLinuxAgent", EXT_BODY),
        "extension",
        _compute("VirtualMachineScaleSetExtension"),
    ),
    (
        "workspaces-list",
        lambda i: call(
            i, "GET", f"/subscriptions/{SUB}/providers/Microsoft.OperationalInsights/workspaces"
        ),
        "workspace",
        _hybrid("azure.mgmt.loganalytics.models", "Workspace"),
    ),
    (
        "workspaces-list-rg",
        lambda i: call(i, "GET", f"{RG}/providers/Microsoft.OperationalInsights/workspaces"),
        "workspace",
        _hybrid("azure.mgmt.loganalytics.models", "Workspace"),
    ),
    (
        "workspace-get",
        lambda i: call(i, "GET", WS),
        "workspace",
        _hybrid("azure.mgmt.loganalytics.models", "Workspace"),
    ),
    (
        "shared-keys",
        lambda i: call(i, "POST", WS + "/sharedKeys"),
        "shared-keys",
        _hybrid("azure.mgmt.loganalytics.models", "SharedKeys"),
    ),
    (
        "data-source-put",
        lambda i: call(i, "PUT", WS + "/dataSources/ds1", DS_BODY),
        "data-source",
        _hybrid("azure.mgmt.loganalytics.models", "DataSource"),
    ),
    (
        "data-source-get",
        lambda i: (
            call(i, "PUT", WS + "/dataSources/ds1", DS_BODY),
            call(i, "GET", WS + "/dataSources/ds1"),
        )[1],
        "data-source",
        _hybrid("azure.mgmt.loganalytics.models", "DataSource"),
    ),
    (
        "data-sources-list",
        lambda i: (
            call(i, "PUT", WS + "/dataSources/ds1", DS_BODY),
            call(i, "GET", WS + "/dataSources?$filter=kind%3D%27LinuxSyslog%27"),
        )[1],
        "data-source",
        _hybrid("azure.mgmt.loganalytics.models", "DataSource"),
    ),
    (
        "dcr-get",
        lambda i: call(i, "GET", DCR),
        "dcr",
        _hybrid("azure.mgmt.monitor.models", "DataCollectionRuleResource"),
    ),
    (
        "dcr-put",
        lambda i: call(
            i,
            "PUT",
            DCR.replace("MSCI-westeurope-aks-prod-weu", "copy"),
            {
                k: v
                for k, v in call(i, "GET", DCR).items()
                if k in ("location", "kind", "properties")
            },
        ),
        "dcr",
        _hybrid("azure.mgmt.monitor.models", "DataCollectionRuleResource"),
    ),
    (
        "dcr-list-sub",
        lambda i: call(
            i, "GET", f"/subscriptions/{SUB}/providers/Microsoft.Insights/dataCollectionRules"
        ),
        "dcr",
        _hybrid("azure.mgmt.monitor.models", "DataCollectionRuleResource"),
    ),
    (
        "dcra-put",
        lambda i: call(
            i,
            "PUT",
            _vmss(i) + "/providers/Microsoft.Insights/dataCollectionRuleAssociations/a1",
            {"properties": {"dataCollectionRuleId": DCR}},
        ),
        "dcra",
        _hybrid("azure.mgmt.monitor.models", "DataCollectionRuleAssociationProxyOnlyResource"),
    ),
    (
        "dcra-list",
        lambda i: call(
            i, "GET", CLUSTER + "/providers/Microsoft.Insights/dataCollectionRuleAssociations"
        ),
        "dcra",
        _hybrid("azure.mgmt.monitor.models", "DataCollectionRuleAssociationProxyOnlyResource"),
    ),
]


def _example_bodies(group: str) -> list[Any]:
    return [example(rel)["responses"][status]["body"] for rel, status in GROUPS[group]]


def _items(body: Any) -> list[Any]:
    if isinstance(body, dict) and isinstance(body.get("value"), list):
        return list(body["value"])
    return [body]


@pytest.mark.parametrize(("case", "fetch", "group", "loader"), CASES, ids=[c[0] for c in CASES])
def test_payload_matches_spec_examples(
    emulator: Any,
    case: str,
    fetch: Callable[[Any], Any],
    group: str,
    loader: Callable[[Any], Any],
) -> None:
    spec: set[str] = set()
    for body in _example_bodies(group):
        spec |= item_paths(body)
    ours = fetch(emulator.info)
    assert _items(ours), f"{case}: empty answer, nothing compared"
    extra = sorted(item_paths(ours) - spec - set(EXPLAINED.get(group, {})))
    assert not extra, f"{case}: keys no {group} example shows: {extra}"
    for item in _items(ours):
        touch(loader(item))


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_sdk_parses_maximal_examples(group: str) -> None:
    """Every example response, however full, goes through the SDK model without error."""
    loader = next(c[3] for c in CASES if c[2] == group)
    for body in _example_bodies(group):
        for item in _items(body):
            touch(loader(item))


def touch(obj: Any, depth: int = 0) -> None:
    """Read every field of a model (hybrid models deserialize lazily, on attribute access)."""
    if depth > 20:
        return
    fields = getattr(type(obj), "_attr_to_rest_field", None) or getattr(obj, "_attribute_map", None)
    if fields:
        for attr in fields:
            touch(getattr(obj, attr, None), depth + 1)
    elif isinstance(obj, list):
        for x in obj:
            touch(x, depth + 1)
    elif isinstance(obj, dict):
        for v in obj.values():
            touch(v, depth + 1)


def test_lro_status_matches_operation_status_example(emulator: Any) -> None:
    ex = example("operationalinsights/OperationStatusesGet.json")["responses"]["200"]["body"]
    import http.client

    info = emulator.info
    vmss = _vmss(info)
    # start an LRO and read its status URL
    base = info.arm_endpoint.rstrip("/")
    req = urllib.request.Request(
        f"{base}{vmss}/manualupgrade?api-version=2024-07-01",
        data=json.dumps({"instanceIds": ["0"]}).encode(),
        headers={"Authorization": f"Bearer {info.token}", "Content-Type": "application/json"},
        method="POST",
    )
    ctx = ssl.create_default_context(cafile=info.ca_bundle)
    with urllib.request.urlopen(req, context=ctx) as resp:
        status_url = resp.headers["Azure-AsyncOperation"]
    del http
    req2 = urllib.request.Request(status_url, headers={"Authorization": f"Bearer {info.token}"})
    with urllib.request.urlopen(req2, context=ctx) as resp:
        ours = json.loads(resp.read())
    assert ours["status"] in ("InProgress", "Succeeded")
    assert set(ours) <= set(ex) | {"error"}


def test_query_envelope_matches_example(emulator: Any) -> None:
    ex = example("operationalinsights-dataplane/oms-post-example.json")
    ex_body = ex["responses"]["200"]["body"]
    info = emulator.info
    req = urllib.request.Request(
        f"{info.logs_endpoint}/workspaces/{info.workspaces[0]['customer_id']}/query",
        data=json.dumps({"query": "Syslog | take 10", "timespan": "PT12H"}).encode(),
        headers={"Authorization": f"Bearer {info.token}", "Content-Type": "application/json"},
        method="POST",
    )
    ctx = ssl.create_default_context(cafile=info.ca_bundle)
    with urllib.request.urlopen(req, context=ctx) as resp:
        ours = json.loads(resp.read())
    assert key_paths(ours) <= key_paths(ex_body)
    assert ours["tables"][0]["name"] == ex_body["tables"][0]["name"] == "PrimaryResult"
    from azure.monitor.query import LogsTable

    LogsTable._from_generated(ex_body["tables"][0])  # the SDK parses the example's table

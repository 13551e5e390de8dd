"""Our parsing over real, maximal Azure payloads: each REST spec example response goes through the
SDK model (as the clients deserialize it) and then through the parsers (``cloud/parse.py``), so a
field we do not expect cannot crash discovery. The examples live outside the repo (../shared);
without them the test skips with the reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aksaudit_tui.cloud.arm import rest
from aksaudit_tui.cloud.logs import table_rows
from aksaudit_tui.cloud.parse import (
    dcr_workspaces,
    parse_dcr_syslog,
    parse_extension,
    parse_instance,
    parse_linux_syslog,
    parse_monitoring,
    parse_scale_set,
    parse_workspace,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "azure-rest-examples"
if not EXAMPLES.is_dir():  # a user's clone: the examples are not shipped
    pytestmark = pytest.mark.skip(reason=f"REST examples not found at {EXAMPLES}")


def body(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text())["responses"]["200"]["body"]


def items(name: str) -> list[Any]:
    return list(body(name)["value"])


def test_scale_sets_instances_extensions() -> None:
    from azure.mgmt.compute.models import (
        VirtualMachineScaleSet,
        VirtualMachineScaleSetExtension,
        VirtualMachineScaleSetVM,
    )

    for name in (
        "compute/VirtualMachineScaleSet_List_MaximumSet_Gen.json",
        "compute/VirtualMachineScaleSet_List_MinimumSet_Gen.json",
    ):
        for raw in items(name):
            s = parse_scale_set(rest(VirtualMachineScaleSet(raw)), None, "rg")
            assert s.id == raw["id"] and s.os in ("Linux", "Windows")
    got = rest(VirtualMachineScaleSet(body("compute/VirtualMachineScaleSet_Get_WithUserData.json")))
    assert parse_scale_set(got, {"osSKU": "Ubuntu"}, "rg").os_sku == "Ubuntu"
    for name in (
        "compute/VirtualMachineScaleSetVM_List_MaximumSet_Gen.json",
        "compute/VirtualMachineScaleSetVM_List_MinimumSet_Gen.json",
    ):
        for raw in items(name):
            inst = parse_instance(rest(VirtualMachineScaleSetVM(raw)), "aks-pool-1-vmss")
            assert inst.id == raw["id"] and inst.computer_name
    # The minimum VM has no osProfile: the AKS node name is derived from the scale set name
    (vm,) = items("compute/VirtualMachineScaleSetVM_List_MinimumSet_Gen.json")
    assert parse_instance(vm, "aks-pool-1-vmss").computer_name == "aks-pool-1-vmss000000"
    exts = [
        *items("compute/VirtualMachineScaleSetExtension_List_MaximumSet_Gen.json"),
        body("compute/VirtualMachineScaleSetExtension_Get_MaximumSet_Gen.json"),
        body("compute/VirtualMachineScaleSetExtension_CreateOrUpdate_MaximumSet_Gen.json"),
    ]
    for raw in exts:
        ext = parse_extension(rest(VirtualMachineScaleSetExtension(raw)))
        assert ext.name == raw.get("name", "")
        assert isinstance(ext.settings, dict)


def test_managed_clusters() -> None:
    from azure.mgmt.containerservice.models import ManagedCluster

    raws = [
        *items("containerservice/ManagedClustersList.json"),
        body("containerservice/ManagedClustersGet.json"),
        body("containerservice/ManagedClustersCreate_Update.json"),
        body("containerservice/ManagedClustersCreate_AzureKeyvaultSecretsProvider.json"),
    ]
    for raw in raws:
        mc = rest(ManagedCluster(raw))
        mon = parse_monitoring(mc)
        assert mon.addon_enabled is False  # none of the examples has omsagent
        assert mc["properties"].get("nodeResourceGroup") in (
            None,
            raw["properties"].get("nodeResourceGroup"),
        )
    # the add-on shape (azureKeyvaultSecretsProvider) read as omsagent would be
    raw = body("containerservice/ManagedClustersCreate_AzureKeyvaultSecretsProvider.json")
    addons = raw["properties"]["addonProfiles"]
    addons["omsagent"] = {
        "enabled": True,
        "config": {"logAnalyticsWorkspaceResourceID": "/x/ws", "useAADAuth": "true"},
    }
    mon = parse_monitoring(rest(ManagedCluster(raw)))
    assert mon.addon_enabled and mon.msi_auth and mon.workspace_id == "/x/ws"


def test_data_collection_rules_and_associations() -> None:
    from azure.mgmt.monitor.models import (
        DataCollectionRuleAssociationProxyOnlyResource,
        DataCollectionRuleResource,
    )

    raws = [
        *items("monitor/DataCollectionRulesListBySubscription.json"),
        body("monitor/DataCollectionRulesGet.json"),
        body("monitor/DataCollectionRulesCreate.json"),
    ]
    for raw in raws:
        dcr = rest(DataCollectionRuleResource.deserialize(raw))
        sources, _flows = parse_dcr_syslog(dcr)
        assert all(isinstance(s.levels, tuple) for s in sources)
        assert isinstance(dcr_workspaces(dcr), tuple)
    sources, _ = parse_dcr_syslog(rest(DataCollectionRuleResource.deserialize(raws[-2])))
    assert sources and all(s.facilities for s in sources)
    for raw in [
        *items("monitor/DataCollectionRuleAssociationsListByResource.json"),
        body("monitor/DataCollectionRuleAssociationsCreate.json"),
    ]:
        assoc = rest(DataCollectionRuleAssociationProxyOnlyResource.deserialize(raw))
        assert "properties" in assoc


def test_workspaces_and_data_sources() -> None:
    from azure.mgmt.loganalytics.models import DataSource, Workspace

    for name in (
        "operationalinsights/WorkspacesSubscriptionList.json",
        "operationalinsights/WorkspacesListByResourceGroup.json",
    ):
        for raw in items(name):
            ws = parse_workspace(rest(Workspace(raw)))
            assert ws.customer_id == raw["properties"]["customerId"]
            assert ws.resource_group and ws.subscription_id
    ws = parse_workspace(rest(Workspace(body("operationalinsights/WorkspacesGet.json"))))
    assert ws.name and ws.location
    raws = [
        *items("operationalinsights/DataSourcesListByWorkspace.json"),
        body("operationalinsights/DataSourcesGet.json"),
        body("operationalinsights/DataSourcesCreate.json"),
    ]
    kinds = set()
    for raw in raws:
        kinds.add(raw.get("kind"))
        parsed = parse_linux_syslog(rest(DataSource(raw)))
        assert parsed is None or parsed.facilities  # other kinds are ignored, not misread
    assert len(kinds) > 1


def test_query_response_rows() -> None:
    from azure.monitor.query import LogsTable

    raw = json.loads((EXAMPLES / "operationalinsights-dataplane/oms-post-example.json").read_text())
    tables = [LogsTable._from_generated(t) for t in raw["responses"]["200"]["body"]["tables"]]
    rows = table_rows(tables)
    assert rows and all(isinstance(r, dict) for r in rows)

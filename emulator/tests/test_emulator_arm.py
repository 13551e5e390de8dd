"""The emulator's ARM surface, driven by the real Azure SDK clients over HTTPS."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)

from fixtures.emulator import StaticTokenCredential, mgmt_kwargs

PROD = "9a9e4724-4de8-4e90-8d73-d2768294f7e8"
DEV = "5867eaf0-661f-4f11-8501-e53889351ad8"
PROD_RG = "rg-aks-prod"
PROD_NODE_RG = "MC_rg-aks-prod_aks-prod-weu_westeurope"
LOCKED_NODE_RG = "MC_rg-aks-prod_aks-payments-weu_westeurope"
WS_PROD = "law-prod-weu"


def sdk(info: Any, sub: str = PROD, token: str | None = None) -> SimpleNamespace:
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.containerservice import ContainerServiceClient
    from azure.mgmt.loganalytics import LogAnalyticsManagementClient
    from azure.mgmt.monitor import MonitorManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    cred = StaticTokenCredential(token or info.token)
    kw = mgmt_kwargs(info)
    return SimpleNamespace(
        subs=SubscriptionClient(cred, **kw),
        res=ResourceManagementClient(cred, sub, **kw),
        aks=ContainerServiceClient(cred, sub, **kw),
        compute=ComputeManagementClient(cred, sub, **kw),
        la=LogAnalyticsManagementClient(cred, sub, **kw),
        mon=MonitorManagementClient(cred, sub, **kw),
    )


@pytest.fixture
def az(emulator: Any) -> SimpleNamespace:
    return sdk(emulator.info)


def _prod_vmss(az: SimpleNamespace, pool: str = "system") -> Any:
    for v in az.compute.virtual_machine_scale_sets.list(PROD_NODE_RG):
        if v.tags["aks-managed-poolName"] == pool:
            return v
    raise AssertionError(pool)


# ---- subscriptions, resource groups ----------------------------------------------------------


def test_subscriptions_and_resource_groups(az: SimpleNamespace) -> None:
    subs = {s.subscription_id: s for s in az.subs.subscriptions.list()}
    assert set(subs) == {PROD, DEV}
    assert subs[PROD].display_name == "Contoso Production"
    assert az.subs.subscriptions.get(DEV).display_name == "Contoso Development"
    rgs = {g.name: g for g in az.res.resource_groups.list()}
    assert PROD_NODE_RG in rgs and PROD_RG in rgs
    node_rg = az.res.resource_groups.get(PROD_NODE_RG.lower())  # case-insensitive ids
    assert node_rg.managed_by and node_rg.managed_by.endswith("/managedClusters/aks-prod-weu")
    assert node_rg.tags["aks-managed-cluster-name"] == "aks-prod-weu"
    with pytest.raises(ResourceNotFoundError) as err:
        az.res.resource_groups.get("rg-missing")
    assert err.value.error.code == "ResourceGroupNotFound"


# ---- managed clusters ------------------------------------------------------------------------


def test_managed_clusters_list_get(az: SimpleNamespace) -> None:
    names = sorted(c.name for c in az.aks.managed_clusters.list())
    assert names == ["aks-payments-weu", "aks-prod-weu"]
    assert [c.name for c in az.aks.managed_clusters.list_by_resource_group(PROD_RG)] == names[::-1]
    c = az.aks.managed_clusters.get(PROD_RG, "aks-prod-weu")
    assert c.node_resource_group == PROD_NODE_RG
    assert c.fqdn.endswith(".hcp.westeurope.azmk8s.io")
    oms = c.addon_profiles["omsagent"]
    assert oms.enabled and oms.config["logAnalyticsWorkspaceResourceID"].endswith(WS_PROD)
    assert {p.name for p in c.agent_pool_profiles} == {"system", "apps", "win22"}
    system = next(p for p in c.agent_pool_profiles if p.name == "system")
    assert system.node_taints == ["CriticalAddonsOnly=true:NoSchedule"] and system.mode == "System"
    locked = az.aks.managed_clusters.get(PROD_RG, "aks-payments-weu")
    assert locked.node_resource_group_profile.restriction_level == "ReadOnly"
    assert not locked.addon_profiles
    with pytest.raises(ResourceNotFoundError) as err:
        az.aks.managed_clusters.get(PROD_RG, "nope")
    assert err.value.error.code == "ResourceNotFound"


def test_cluster_addon_update_lro(az: SimpleNamespace, emulator: Any) -> None:
    from azure.mgmt.containerservice.models import ManagedClusterAddonProfile

    c = az.aks.managed_clusters.get(PROD_RG, "aks-payments-weu")
    ws = az.la.workspaces.get(PROD_RG, WS_PROD)
    c.addon_profiles = {
        "omsagent": ManagedClusterAddonProfile(
            enabled=True, config={"logAnalyticsWorkspaceResourceID": ws.id, "useAADAuth": "true"}
        )
    }
    poller = az.aks.managed_clusters.begin_create_or_update(PROD_RG, "aks-payments-weu", c)
    done = poller.result()
    assert poller.status() == "Succeeded"
    assert done.provisioning_state == "Succeeded"
    assert done.addon_profiles["omsagent"].enabled
    assert emulator.state.requests["GET lro_status"] >= 2  # InProgress, then Succeeded


def test_cluster_update_lro_failure(make_emulator: Any) -> None:
    from azure.mgmt.containerservice.models import ManagedClusterAddonProfile

    emu = make_emulator(None, faults=[{"kind": "lro_fail", "path": "managedClusters", "count": 1}])
    az = sdk(emu.info)
    c = az.aks.managed_clusters.get(PROD_RG, "aks-payments-weu")
    c.addon_profiles = {"omsagent": ManagedClusterAddonProfile(enabled=True, config={})}
    with pytest.raises(HttpResponseError) as err:
        az.aks.managed_clusters.begin_create_or_update(PROD_RG, "aks-payments-weu", c).result()
    assert "OperationFailed" in str(err.value)
    after = az.aks.managed_clusters.get(PROD_RG, "aks-payments-weu")
    assert after.provisioning_state == "Failed"
    assert not after.addon_profiles  # a failed operation changed nothing


# ---- scale sets, VMs, extensions, manual upgrade ---------------------------------------------


def test_scale_sets_and_vms(az: SimpleNamespace, emulator: Any) -> None:
    sets = list(az.compute.virtual_machine_scale_sets.list(PROD_NODE_RG))
    pools = {v.tags["aks-managed-poolName"]: v for v in sets}
    assert set(pools) == {"system", "apps", "win22"}
    system = pools["system"]
    assert system.name.startswith("aks-system-") and system.name.endswith("-vmss")
    assert system.upgrade_policy.mode == "Manual"
    assert system.tags["aks-managed-orchestrator"].startswith("Kubernetes:")
    assert system.virtual_machine_profile.storage_profile.os_disk.os_type == "Linux"
    assert pools["win22"].virtual_machine_profile.storage_profile.os_disk.os_type == "Windows"
    ext_names = {e.name for e in system.virtual_machine_profile.extension_profile.extensions}
    assert ext_names == {"vmssCSE", "AKSLinuxBilling"}
    got = az.compute.virtual_machine_scale_sets.get(PROD_NODE_RG.lower(), system.name)
    assert got.id == system.id
    all_sets = list(az.compute.virtual_machine_scale_sets.list_all())
    assert len(all_sets) == 5  # 3 in aks-prod-weu, 2 in aks-payments-weu
    vms = list(az.compute.virtual_machine_scale_set_vms.list(PROD_NODE_RG, system.name))
    assert [v.instance_id for v in vms] == ["0", "1"]
    assert all(v.latest_model_applied for v in vms)
    names = {v.os_profile.computer_name for v in vms}
    assert names == set(emulator.state.clusters["aks-prod-weu"].nodes) & names
    assert all(n.startswith(system.name) for n in names)
    one = az.compute.virtual_machine_scale_set_vms.get(PROD_NODE_RG, system.name, "1")
    assert one.os_profile.computer_name.endswith("vmss000001")


def test_extension_lifecycle_and_manual_upgrade(az: SimpleNamespace, emulator: Any) -> None:
    vmss = _prod_vmss(az)
    ws = az.la.workspaces.get(PROD_RG, WS_PROD)
    key = az.la.shared_keys.get_shared_keys(PROD_RG, WS_PROD).primary_shared_key
    body = {
        "properties": {
            "publisher": "Microsoft.EnterpriseCloud.Monitoring",
            "type": "OmsAgentForLinux",
            "typeHandlerVersion": "1.19",
            "autoUpgradeMinorVersion": True,
            "settings": {"workspaceId": ws.customer_id, "skipDockerProviderInstall": True},
            "protectedSettings": {"workspaceKey": key},
        }
    }
    ext = az.compute.virtual_machine_scale_set_extensions.begin_create_or_update(
        PROD_NODE_RG, vmss.name, "OmsAgentForLinux", body
    ).result()
    assert ext.properties.provisioning_state == "Succeeded"
    assert ext.properties.type == "OmsAgentForLinux"
    got = az.compute.virtual_machine_scale_set_extensions.get(
        PROD_NODE_RG, vmss.name, "OmsAgentForLinux"
    )
    assert got.properties.protected_settings is None  # never returned
    assert key not in str(got.as_dict())
    listed = {
        e.name
        for e in az.compute.virtual_machine_scale_set_extensions.list(PROD_NODE_RG, vmss.name)
    }
    assert "OmsAgentForLinux" in listed
    vms = list(az.compute.virtual_machine_scale_set_vms.list(PROD_NODE_RG, vmss.name))
    assert not any(v.latest_model_applied for v in vms)
    model = az.compute.virtual_machine_scale_sets.get(PROD_NODE_RG, vmss.name)
    assert "OmsAgentForLinux" in {
        e.name for e in model.virtual_machine_profile.extension_profile.extensions
    }
    az.compute.virtual_machine_scale_sets.begin_update_instances(
        PROD_NODE_RG, vmss.name, {"instanceIds": ["0"]}
    ).result()
    vms = {
        v.instance_id: v
        for v in az.compute.virtual_machine_scale_set_vms.list(PROD_NODE_RG, vmss.name)
    }
    assert vms["0"].latest_model_applied and not vms["1"].latest_model_applied
    az.compute.virtual_machine_scale_set_extensions.begin_delete(
        PROD_NODE_RG, vmss.name, "OmsAgentForLinux"
    ).result()
    with pytest.raises(ResourceNotFoundError):
        az.compute.virtual_machine_scale_set_extensions.get(
            PROD_NODE_RG, vmss.name, "OmsAgentForLinux"
        )
    assert emulator.state.requests["POST manual_upgrade"] == 1


def test_manual_upgrade_answers_202_with_lro_headers(emulator: Any) -> None:
    import json
    import ssl
    import urllib.request

    info = emulator.info
    vmss = next(
        b for b in emulator.state.list_type(PROD, "Microsoft.Compute/virtualMachineScaleSets")
    )
    url = f"{info.arm_endpoint.rstrip('/')}{vmss['id']}/manualupgrade?api-version=2024-07-01"
    req = urllib.request.Request(
        url,
        data=json.dumps({"instanceIds": ["0"]}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {info.token}", "Content-Type": "application/json"},
    )
    ctx = ssl.create_default_context(cafile=info.ca_bundle)
    with urllib.request.urlopen(req, context=ctx) as resp:
        assert resp.status == 202
        assert "/operations/" in resp.headers["Azure-AsyncOperation"]
        assert "/operationresults/" in resp.headers["Location"]
        assert resp.headers["Retry-After"] == "0"
        assert resp.headers["x-ms-ratelimit-remaining-subscription-writes"].isdigit()
        assert resp.headers["x-ms-request-id"]


def test_extension_failure_lro(make_emulator: Any) -> None:
    emu = make_emulator(
        None, faults=[{"kind": "lro_fail", "path": "/extensions/", "method": "PUT"}]
    )
    az = sdk(emu.info)
    vmss = _prod_vmss(az)
    body = {
        "properties": {
            "publisher": "Microsoft.Azure.Monitor",
            "type": "AzureMonitorLinuxAgent",
            "typeHandlerVersion": "1.33",
        }
    }
    with pytest.raises(HttpResponseError):
        az.compute.virtual_machine_scale_set_extensions.begin_create_or_update(
            PROD_NODE_RG, vmss.name, "AzureMonitorLinuxAgent", body
        ).result()
    got = az.compute.virtual_machine_scale_set_extensions.get(
        PROD_NODE_RG, vmss.name, "AzureMonitorLinuxAgent"
    )
    assert got.properties.provisioning_state == "Failed"


def test_lockdown_denies_writes_in_node_resource_group(az: SimpleNamespace) -> None:
    vmss = next(iter(az.compute.virtual_machine_scale_sets.list(LOCKED_NODE_RG)))
    body = {
        "properties": {
            "publisher": "Microsoft.Azure.Monitor",
            "type": "AzureMonitorLinuxAgent",
            "typeHandlerVersion": "1.33",
        }
    }
    with pytest.raises(HttpResponseError) as err:
        az.compute.virtual_machine_scale_set_extensions.begin_create_or_update(
            LOCKED_NODE_RG, vmss.name, "AzureMonitorLinuxAgent", body
        ).result()
    assert err.value.status_code == 403
    assert err.value.error.code == "DenyAssignmentAuthorizationFailed"
    with pytest.raises(HttpResponseError) as err2:
        az.compute.virtual_machine_scale_sets.begin_update_instances(
            LOCKED_NODE_RG, vmss.name, {"instanceIds": ["0"]}
        ).result()
    assert err2.value.status_code == 403
    rule = az.mon.data_collection_rules.get(PROD_RG, "MSCI-westeurope-aks-prod-weu")
    with pytest.raises(HttpResponseError) as err3:
        az.mon.data_collection_rule_associations.create(
            vmss.id, "assoc", {"properties": {"dataCollectionRuleId": rule.id}}
        )
    assert err3.value.error.code == "DenyAssignmentAuthorizationFailed"
    # reads still work
    assert list(az.compute.virtual_machine_scale_set_vms.list(LOCKED_NODE_RG, vmss.name))


def test_conflicting_cluster_update_is_409(make_emulator: Any) -> None:
    import json
    import ssl
    import urllib.error
    import urllib.request

    emu = make_emulator(None, lro={"polls": 50, "seconds": 60})
    info = emu.info
    cluster = emu.state.clusters["aks-prod-weu"].arm_id
    body = json.dumps({"location": "westeurope", "properties": {}}).encode()
    ctx = ssl.create_default_context(cafile=info.ca_bundle)

    def put() -> int:
        req = urllib.request.Request(
            f"{info.arm_endpoint.rstrip('/')}{cluster}?api-version=2025-01-01",
            data=body,
            method="PUT",
            headers={"Authorization": f"Bearer {info.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, context=ctx) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            assert json.loads(exc.read())["error"]["code"] == "OperationNotAllowed"
            return int(exc.code)

    assert put() == 200
    assert put() == 409  # the first update is still in progress


def test_emulator_context_manager(tmp_path: Any) -> None:
    from aksaudit_emulator import Emulator, load_scenario

    with Emulator(load_scenario(None), state_dir=tmp_path) as emu:
        assert emu.info.arm_endpoint.startswith("https://127.0.0.1:")
        assert len(list(sdk(emu.info).subs.subscriptions.list())) == 2
    with pytest.raises(Exception):  # noqa: B017 - any connection error: it is stopped
        list(sdk(emu.info).subs.subscriptions.list(retry_total=0))


# ---- workspaces, keys, data sources ----------------------------------------------------------


def test_workspaces_keys_data_sources(az: SimpleNamespace, emulator: Any) -> None:
    wss = list(az.la.workspaces.list())
    assert [w.name for w in wss] == [WS_PROD]
    assert wss[0].customer_id == "419165b8-b495-4046-9181-12c58ee9bc9e"
    assert [w.name for w in az.la.workspaces.list_by_resource_group(PROD_RG)] == [WS_PROD]
    assert az.la.workspaces.get(PROD_RG, WS_PROD).retention_in_days == 30
    keys = az.la.shared_keys.get_shared_keys(PROD_RG, WS_PROD)
    assert keys.primary_shared_key and keys.secondary_shared_key
    assert (
        list(az.la.data_sources.list_by_workspace(PROD_RG, WS_PROD, filter="kind='LinuxSyslog'"))
        == []
    )
    sevs = [{"severity": s} for s in ("emerg", "alert", "crit", "err", "warning", "notice", "info")]
    created = az.la.data_sources.create_or_update(
        PROD_RG,
        WS_PROD,
        "DataSource_LinuxSyslog_authpriv",
        {"kind": "LinuxSyslog", "properties": {"syslogName": "authpriv", "syslogSeverities": sevs}},
    )
    assert created.kind == "LinuxSyslog"
    listed = list(
        az.la.data_sources.list_by_workspace(PROD_RG, WS_PROD, filter="kind='LinuxSyslog'")
    )
    assert [d.name for d in listed] == ["DataSource_LinuxSyslog_authpriv"]
    assert listed[0].properties["syslogName"] == "authpriv"
    got = az.la.data_sources.get(PROD_RG, WS_PROD, "DataSource_LinuxSyslog_authpriv")
    assert len(got.properties["syslogSeverities"]) == 7
    az.la.data_sources.delete(PROD_RG, WS_PROD, "DataSource_LinuxSyslog_authpriv")
    with pytest.raises(ResourceNotFoundError):
        az.la.data_sources.get(PROD_RG, WS_PROD, "DataSource_LinuxSyslog_authpriv")
    dev = sdk(emulator.info, DEV)
    legacy = list(
        dev.la.data_sources.list_by_workspace(
            "rg-aks-dev", "law-dev-neu", filter="kind='LinuxSyslog'"
        )
    )
    assert [d.properties["syslogName"] for d in legacy] == ["syslog"]


# ---- data collection rules and associations --------------------------------------------------


def _dcr_body(ws_id: str, facilities: list[str]) -> dict[str, Any]:
    return {
        "location": "westeurope",
        "kind": "Linux",
        "properties": {
            "dataSources": {
                "syslog": [
                    {
                        "name": "auditSyslog",
                        "streams": ["Microsoft-Syslog"],
                        "facilityNames": facilities,
                        "logLevels": [
                            "Info",
                            "Notice",
                            "Warning",
                            "Error",
                            "Critical",
                            "Alert",
                            "Emergency",
                        ],
                    }
                ]
            },
            "destinations": {"logAnalytics": [{"workspaceResourceId": ws_id, "name": "la"}]},
            "dataFlows": [{"streams": ["Microsoft-Syslog"], "destinations": ["la"]}],
        },
    }


def test_dcr_and_associations(az: SimpleNamespace) -> None:
    ws = az.la.workspaces.get(PROD_RG, WS_PROD)
    msci = az.mon.data_collection_rules.get(PROD_RG, "MSCI-westeurope-aks-prod-weu")
    facilities = msci.data_sources.syslog[0].facility_names
    assert "authpriv" not in facilities and "auth" in facilities
    assert msci.destinations.log_analytics[0].workspace_resource_id == ws.id
    rule = az.mon.data_collection_rules.create(
        PROD_RG, "dcr-aksaudit", _dcr_body(ws.id, ["authpriv"])
    )
    assert rule.immutable_id.startswith("dcr-")
    assert rule.data_sources.syslog[0].facility_names == ["authpriv"]
    by_rg = {r.name for r in az.mon.data_collection_rules.list_by_resource_group(PROD_RG)}
    assert by_rg == {"MSCI-westeurope-aks-prod-weu", "dcr-aksaudit"}
    by_sub = {r.name for r in az.mon.data_collection_rules.list_by_subscription()}
    assert by_rg <= by_sub
    vmss = _prod_vmss(az)
    assoc = az.mon.data_collection_rule_associations.create(
        vmss.id, "dcr-aksaudit-assoc", {"properties": {"dataCollectionRuleId": rule.id}}
    )
    assert assoc.data_collection_rule_id == rule.id
    got = az.mon.data_collection_rule_associations.get(vmss.id, "dcr-aksaudit-assoc")
    assert got.name == "dcr-aksaudit-assoc"
    on_vmss = [a.name for a in az.mon.data_collection_rule_associations.list_by_resource(vmss.id)]
    assert on_vmss == ["dcr-aksaudit-assoc"]
    by_rule = [
        a.name
        for a in az.mon.data_collection_rule_associations.list_by_rule(PROD_RG, "dcr-aksaudit")
    ]
    assert by_rule == ["dcr-aksaudit-assoc"]
    cluster = az.aks.managed_clusters.get(PROD_RG, "aks-prod-weu")
    on_cluster = [
        a.name for a in az.mon.data_collection_rule_associations.list_by_resource(cluster.id)
    ]
    assert on_cluster == ["ContainerInsightsExtension"]
    az.mon.data_collection_rule_associations.delete(vmss.id, "dcr-aksaudit-assoc")
    assert list(az.mon.data_collection_rule_associations.list_by_resource(vmss.id)) == []
    az.mon.data_collection_rules.delete(PROD_RG, "dcr-aksaudit")
    with pytest.raises(ResourceNotFoundError):
        az.mon.data_collection_rules.get(PROD_RG, "dcr-aksaudit")
    with pytest.raises(HttpResponseError) as err:
        bad = _dcr_body(ws.id, ["authpriv"])
        bad["properties"]["dataFlows"][0]["destinations"] = ["nowhere"]
        az.mon.data_collection_rules.create(PROD_RG, "dcr-bad", bad)
    assert err.value.status_code == 400


# ---- paging, throttling, errors --------------------------------------------------------------


def test_paging_with_next_link(make_emulator: Any) -> None:
    emu = make_emulator(None, page_size=2)
    az = sdk(emu.info)
    assert len(list(az.res.resource_groups.list())) == 3
    vmss = _prod_vmss(az, "apps")
    assert [
        v.instance_id
        for v in az.compute.virtual_machine_scale_set_vms.list(PROD_NODE_RG, vmss.name)
    ] == ["0", "1", "2"]
    assert len(list(az.compute.virtual_machine_scale_sets.list(PROD_NODE_RG))) == 3
    assert len(list(az.aks.managed_clusters.list())) == 2
    assert len(list(az.subs.subscriptions.list())) == 2
    assert (
        len(list(az.compute.virtual_machine_scale_set_extensions.list(PROD_NODE_RG, vmss.name)))
        == 2
    )
    # more than one page was served: the second request carried $skiptoken
    assert emu.state.requests["GET list_vms"] == 2


def test_throttling_is_retried(make_emulator: Any) -> None:
    emu = make_emulator(
        None,
        faults=[{"kind": "throttle", "path": "managedClusters$", "count": 2, "retry_after": 0}],
    )
    az = sdk(emu.info)
    assert len(list(az.aks.managed_clusters.list())) == 2
    assert emu.state.requests["GET list_clusters_sub"] == 3  # 429, 429, 200


def test_throttle_headers() -> None:
    from aksaudit_emulator import faults
    from aksaudit_emulator.state import EmulatorState

    st = EmulatorState(state_dir=__import__("pathlib").Path("."))
    st.faults = [{"kind": "throttle", "count": 1, "retry_after": 1}]
    status, body, headers = faults.request_fault(st, "GET", "/subscriptions") or (0, {}, {})
    assert status == 429 and body["error"]["code"] == "TooManyRequests"
    assert headers["Retry-After"] == "1"
    assert headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"
    assert faults.request_fault(st, "GET", "/subscriptions") is None  # spent


def test_server_error_is_retried(make_emulator: Any) -> None:
    emu = make_emulator(
        None, faults=[{"kind": "server_error", "status": 503, "path": "/workspaces$", "count": 1}]
    )
    az = sdk(emu.info)
    assert [w.name for w in az.la.workspaces.list()] == [WS_PROD]


def test_forbidden_subscription(make_emulator: Any) -> None:
    emu = make_emulator(None, faults=[{"kind": "forbidden_subscription", "subscription": DEV}])
    dev = sdk(emu.info, DEV)
    with pytest.raises(HttpResponseError) as err:
        list(dev.aks.managed_clusters.list())
    assert err.value.status_code == 403
    assert err.value.error.code == "AuthorizationFailed"
    assert "Microsoft.ContainerService/managedClusters/read" in err.value.error.message
    prod = sdk(emu.info, PROD)
    assert len(list(prod.aks.managed_clusters.list())) == 2  # other subscription unaffected


def _raw(info: Any, method: str, path: str) -> tuple[int, dict[str, Any], Any]:
    """One ARM call over HTTPS with the standard library: (status, headers, JSON body)."""
    import json
    import ssl
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        f"{info.arm_endpoint.rstrip('/')}{path}?api-version=2024-01-01",
        method=method,
        headers={"Authorization": f"Bearer {info.token}"},
    )
    ctx = ssl.create_default_context(cafile=info.ca_bundle)
    try:
        with urllib.request.urlopen(req, context=ctx) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def test_dispatch_by_path_then_method(emulator: Any) -> None:
    """A path some route serves but not with this method is 405, a path no route serves is
    404, and both stay so when asked again (routing is remembered per path, not per call)."""
    info = emulator.info
    clusters = f"/subscriptions/{PROD}/providers/Microsoft.ContainerService/managedClusters"
    for _ in range(2):
        status, headers, body = _raw(info, "DELETE", clusters)
        assert (status, body["error"]["code"]) == (405, "MethodNotAllowed")
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        status, _, body = _raw(info, "GET", clusters)
        assert status == 200 and {c["name"] for c in body["value"]} >= {"aks-prod-weu"}
        status, _, body = _raw(info, "GET", clusters.lower())  # paths match in any case
        assert status == 200 and {c["name"] for c in body["value"]} >= {"aks-prod-weu"}
        status, _, body = _raw(info, "GET", f"/subscriptions/{PROD}/providers/Microsoft.Nope/x")
        assert (status, body["error"]["code"]) == (404, "InvalidResourceType")
    assert emulator.state.requests["DELETE unmatched"] == 2


def test_subscription_list_follows_the_state(emulator: Any) -> None:
    """The list comes from the state's index: a subscription added or removed at run time is
    in or out of the next answer."""
    new = "11111111-2222-3333-4444-555555555555"
    body = {"id": f"/subscriptions/{new}", "subscriptionId": new, "displayName": "Added"}
    emulator.call(lambda: emulator.state.put(f"/subscriptions/{new}", body))
    status, _, listed = _raw(emulator.info, "GET", "/subscriptions")
    assert status == 200
    assert {s["subscriptionId"] for s in listed["value"]} == {PROD, DEV, new}
    emulator.call(lambda: emulator.state.delete(f"/subscriptions/{new}"))
    _, _, listed = _raw(emulator.info, "GET", "/subscriptions")
    assert {s["subscriptionId"] for s in listed["value"]} == {PROD, DEV}


def test_bad_token_is_401(emulator: Any) -> None:
    az = sdk(emulator.info, token="not-the-token")
    with pytest.raises(ClientAuthenticationError):
        list(az.subs.subscriptions.list())


def test_never_missing_subscription_registration(az: SimpleNamespace, emulator: Any) -> None:
    with pytest.raises(HttpResponseError) as err:
        az.res.resources.list_by_resource_group(PROD_RG).next()
    assert "MissingSubscriptionRegistration" not in str(err.value)


def test_arm_rate_limit_buckets(make_emulator: Any) -> None:
    """With the scenario's token buckets, bursts get 429 + Retry-After and the SDK waits it out."""
    emu = make_emulator(None, rate_limit={"reads_burst": 2, "reads_per_s": 2})
    az = sdk(emu.info)
    seen: list[str] = []

    def hook(response: Any) -> None:
        seen.append(
            response.http_response.headers.get("x-ms-ratelimit-remaining-subscription-reads", "")
        )

    for _ in range(3):
        assert az.aks.managed_clusters.get(PROD_RG, "aks-prod-weu", raw_response_hook=hook).name
    assert emu.state.requests["GET cluster"] == 4  # one 429 on the third call, then retried
    assert seen[:2] == ["1", "0"]

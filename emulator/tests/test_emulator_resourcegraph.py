"""The emulator's Resource Graph (``POST /providers/Microsoft.ResourceGraph/resources``), driven
by the real ``azure-mgmt-resourcegraph`` client over HTTPS: tables agree with the ARM routes,
scoping, paging ($top, $skip, $skipToken), the quota headers, the throttle and the refusal; and
the fleet generator behind ``aksaudit emulator --fleet``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from aksaudit_emulator.errors import ScenarioError
from aksaudit_emulator.fleet import fleet_scenario, parse_fleet, subscription_id
from fixtures.emulator import StaticTokenCredential, mgmt_kwargs

PROD = "9a9e4724-4de8-4e90-8d73-d2768294f7e8"
DEV = "5867eaf0-661f-4f11-8501-e53889351ad8"


def graph(info: Any) -> Any:
    from azure.mgmt.resourcegraph import ResourceGraphClient

    kw = mgmt_kwargs(info)
    kw["retry_total"] = 0  # the throttle tests look at the 429 itself
    return ResourceGraphClient(StaticTokenCredential(info.token), **kw)


def ask(client: Any, query: str, subs: list[str] | None = None, **options: Any) -> Any:
    """(response, headers) of one query."""
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

    req = QueryRequest(query=query, subscriptions=subs, options=QueryRequestOptions(**options))
    return client.resources(req, cls=lambda p, d, _h: (d, p.http_response.headers))


def test_tables_match_arm_state_and_scope(emulator: Any) -> None:
    client = graph(emulator.info)
    res, headers = ask(
        client,
        "Resources | where type =~ 'Microsoft.ContainerService/managedClusters' "
        "| project id, name, resourceGroup, subscriptionId, "
        "nodeRg = tostring(properties.nodeResourceGroup), pools = properties.agentPoolProfiles",
    )
    names = sorted(r["name"] for r in res.data)
    assert names == sorted(emulator.state.clusters)  # every subscription when none is named
    prod = next(r for r in res.data if r["name"] == "aks-prod-weu")
    assert prod["resourceGroup"] == "rg-aks-prod"  # lower case, as Resource Graph gives it
    assert prod["nodeRg"] == "MC_rg-aks-prod_aks-prod-weu_westeurope"
    assert isinstance(prod["pools"], list) and prod["pools"][0]["name"]  # dynamic stays JSON
    assert int(headers["x-ms-user-quota-remaining"]) >= 0
    assert headers["x-ms-user-quota-resets-after"].count(":") == 2
    # scale-set instances live in ComputeResources, with latestModelApplied
    vms, _ = ask(
        client,
        "ComputeResources | where type =~ 'microsoft.compute/virtualmachinescalesets/"
        "virtualmachines' | project id, latest = tobool(properties.latestModelApplied), "
        "computer = tostring(properties.osProfile.computerName)",
        top=1000,
    )
    assert vms.total_records == sum(len(c.nodes) for c in emulator.state.clusters.values())
    assert all(r["latest"] is True and r["computer"] for r in vms.data)
    # associations live in InsightsResources
    assoc, _ = ask(
        client,
        "insightsresources | where type =~ 'microsoft.insights/datacollectionruleassociations'"
        " | project id, rule = tostring(properties.dataCollectionRuleId)",
    )
    assert assoc.data and all("/dataCollectionRules/" in r["rule"] for r in assoc.data)
    # scoped to the request's subscriptions
    dev_only, _ = ask(client, "Resources | project subscriptionId", [DEV], top=1000)
    assert {r["subscriptionId"] for r in dev_only.data} <= {DEV}
    both, _ = ask(client, "Resources | project subscriptionId", [PROD, DEV], top=1000)
    assert both.total_records > dev_only.total_records


def test_paging_skip_token_top_and_skip(make_emulator: Callable[..., Any]) -> None:
    emu = make_emulator(fleet_scenario(3, 4, 100))  # 1,200 instances
    client = graph(emu.info)
    query = (
        "ComputeResources | where type =~ 'microsoft.compute/virtualmachinescalesets/"
        "virtualmachines' | project id | order by id asc"
    )
    seen: list[str] = []
    res, _ = ask(client, query, top=1000)
    assert (res.total_records, res.count) == (1200, 1000) and res.skip_token
    seen += [r["id"] for r in res.data]
    res, _ = ask(client, query, top=1000, skip_token=res.skip_token)
    assert res.count == 200 and res.skip_token is None
    seen += [r["id"] for r in res.data]
    assert len(set(seen)) == 1200 and seen == sorted(seen)
    default, _ = ask(client, query)  # no $top: 100 rows, as the service
    assert default.count == 100
    capped, _ = ask(client, query, top=5000)  # $top is capped at 1,000
    assert capped.count == 1000
    skipped, _ = ask(client, query, top=10, skip=1195)
    assert [r["id"] for r in skipped.data] == seen[1195:]
    with pytest.raises(HttpResponseError) as err:
        ask(client, "Resources | project id", top=10, skip_token="bm90LWEtdG9rZW4")
    assert err.value.status_code == 400


def test_result_without_id_is_truncated_not_paged(make_emulator: Callable[..., Any]) -> None:
    """As the service: a result without an ``id`` column cannot be paged, so past ``$top`` it
    says ``resultTruncated`` and sends no ``$skipToken`` (a client following tokens alone
    would stop short)."""
    emu = make_emulator(fleet_scenario(3, 4, 100))  # 1,200 instances, 12 scale sets
    client = graph(emu.info)
    vms = (
        "ComputeResources | where type =~ "
        "'microsoft.compute/virtualmachinescalesets/virtualmachines'"
    )
    res, _ = ask(client, f"{vms} | project name | order by name asc", top=1000)
    assert (res.total_records, res.count, res.result_truncated) == (1200, 1000, "true")
    assert res.skip_token is None
    skipped, _ = ask(client, f"{vms} | project name | order by name asc", top=1000, skip=1000)
    assert skipped.count == 1000 and skipped.result_truncated == "true"  # $skip cannot page it
    # a summarize without id: the same; with an id column it pages again
    folded = f"{vms} | summarize n = count() by scaleSet = tostring(split(id, '/')[8])"
    res, _ = ask(client, folded, top=5)
    assert (res.count, res.result_truncated, res.skip_token) == (5, "true", None)
    res, _ = ask(client, f"{folded} | project id = scaleSet, n | order by id asc", top=5)
    assert (res.count, res.result_truncated) == (5, "false") and res.skip_token
    small, _ = ask(client, f"{folded} | order by scaleSet asc", top=1000)  # all rows: not cut
    assert (small.count, small.result_truncated, small.skip_token) == (12, "false", None)


def test_throttle_then_quota_resets(make_emulator: Callable[..., Any]) -> None:
    emu = make_emulator(None, resource_graph={"throttle": {"calls": 2, "window_s": 1}})
    client = graph(emu.info)
    q = "Resources | project id"
    _, h1 = ask(client, q)
    _, h2 = ask(client, q)
    assert (h1["x-ms-user-quota-remaining"], h2["x-ms-user-quota-remaining"]) == ("1", "0")
    with pytest.raises(HttpResponseError) as err:
        ask(client, q)
    assert err.value.status_code == 429
    headers = err.value.response.headers
    assert headers["x-ms-user-quota-remaining"] == "0" and int(headers["Retry-After"]) >= 1
    assert emu.state.requests["POST resourcegraph throttled"] == 1
    import time

    time.sleep(1.05)
    _, h3 = ask(client, q)  # the window moved on
    assert h3["x-ms-user-quota-remaining"] == "1"


def test_forbidden_and_bad_query(make_emulator: Callable[..., Any]) -> None:
    emu = make_emulator(None, resource_graph={"forbidden": True})
    client = graph(emu.info)
    with pytest.raises(HttpResponseError) as err:
        ask(client, "Resources | project id")
    assert err.value.status_code == 403 and err.value.error.code == "AuthorizationFailed"
    emu.state.scenario["resource_graph"]["forbidden"] = False  # tests may flip it live
    with pytest.raises(HttpResponseError) as bad:
        ask(client, "Resources | frobnicate")
    assert bad.value.status_code == 400


def test_forbidden_subscription_is_left_out(make_emulator: Callable[..., Any]) -> None:
    emu = make_emulator(None, faults=[{"kind": "forbidden_subscription", "subscription": DEV}])
    res, _ = ask(graph(emu.info), "Resources | project subscriptionId", top=1000)
    assert res.data and {r["subscriptionId"] for r in res.data} == {PROD}


def test_fleet_generator() -> None:
    assert parse_fleet("200x5x10") == (200, 5, 10)
    for bad in ("200x5", "0x1x1", "ax1x1", "1000x100x100"):
        with pytest.raises(ScenarioError):
            parse_fleet(bad)
    from aksaudit_emulator import load_scenario

    scen = load_scenario(fleet_scenario(12, 3, 150, workspace_every=5))
    subs = scen["subscriptions"]
    assert len(subs) == 12 and subs[0]["id"] == subscription_id(0)
    clusters = [c for s in subs for rg in s["resource_groups"] for c in rg["clusters"]]
    assert len(clusters) == 36
    assert all(sum(p["count"] for p in c["pools"]) == 150 for c in clusters)
    assert [len(c["pools"]) for c in clusters[:1]] == [2]  # 100 + 50
    workspaces = [w for s in subs for rg in s["resource_groups"] for w in rg["workspaces"]]
    assert len(workspaces) == 3  # one per 5 subscriptions (0, 5, 10)

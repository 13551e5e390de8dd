"""Discovery end to end: real async SDK clients against the emulator; `aksaudit discover`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from aksaudit_emulator import load_scenario
from aksaudit_tui.cli.main import main
from aksaudit_tui.cloud.discovery import discover, discover_all
from aksaudit_tui.cloud.models import Cluster, DiscoveryError, Subscription, Workspace
from fixtures.cloud import (
    DEFAULT_SUB_DEV,
    DEFAULT_SUB_PROD,
    credential_for,
    requests,
    settings_for,
)


def by_name(items: list[Any]) -> dict[str, Any]:
    return {i.name: i for i in items}


def test_default_scenario_end_to_end(emulator: Any) -> None:
    inv = asyncio.run(discover_all(settings_for(emulator), credential=credential_for(emulator)))
    assert inv.errors == []
    assert [(s.id, s.name, s.error) for s in inv.subscriptions] == [
        (DEFAULT_SUB_DEV, "Contoso Development", None),
        (DEFAULT_SUB_PROD, "Contoso Production", None),
    ]
    clusters = by_name(inv.clusters)
    assert set(clusters) == {"aks-prod-weu", "aks-payments-weu", "aks-dev-neu"}

    prod = clusters["aks-prod-weu"]
    assert prod.subscription_id == DEFAULT_SUB_PROD
    assert prod.resource_group == "rg-aks-prod"
    assert prod.node_resource_group == "MC_rg-aks-prod_aks-prod-weu_westeurope"
    pools = {s.pool: s for s in prod.scale_sets}
    assert set(pools) == {"system", "apps", "win22"}
    assert [len(pools[p].instances) for p in ("system", "apps", "win22")] == [2, 3, 1]
    assert pools["win22"].os == "Windows"
    assert pools["system"].os == pools["apps"].os == "Linux"
    assert pools["system"].taints == ("CriticalAddonsOnly=true:NoSchedule",)
    assert pools["system"].mode == "System" and pools["apps"].taints == ()
    assert all(
        s.name.startswith(f"aks-{s.pool}-") and s.name.endswith("-vmss") for s in pools.values()
    )
    assert all(s.upgrade_mode == "Manual" for s in pools.values())
    sys_nodes = [i.computer_name for i in pools["system"].instances]
    assert sys_nodes == [f"{pools['system'].name}000000", f"{pools['system'].name}000001"]
    assert all(i.latest_model_applied for i in pools["apps"].instances)
    # Container Insights on with MSI, syslog on, the MSCI rule without authpriv, associated
    mon = prod.monitoring
    assert mon.addon_enabled and mon.msi_auth and mon.syslog_enabled and mon.dcr_associated
    assert mon.workspace_id and mon.workspace_id.endswith("/workspaces/law-prod-weu")
    assert mon.dcr_id and "/dataCollectionRules/MSCI-" in mon.dcr_id
    facilities = {f for s in mon.syslog for f in s.facilities}
    assert facilities == {"auth", "cron", "daemon", "kern", "syslog", "user"}
    assert "authpriv" not in facilities
    assert {lv for s in mon.syslog for lv in s.levels} >= {"Info", "Emergency"}

    pay = clusters["aks-payments-weu"]
    assert pay.lockdown == "ReadOnly"
    assert not pay.monitoring.addon_enabled and pay.monitoring.dcr_id is None
    assert {s.pool: len(s.instances) for s in pay.scale_sets} == {"system": 2, "armpool": 2}

    dev = clusters["aks-dev-neu"]
    dev_pools = {s.pool: s for s in dev.scale_sets}
    oms = [e for e in dev_pools["nodepool1"].extensions if e.type == "OmsAgentForLinux"]
    assert len(oms) == 1 and oms[0].publisher == "Microsoft.EnterpriseCloud.Monitoring"
    assert oms[0].settings["workspaceId"] == "129366d9-7b05-4aa5-9428-6b47a116aa39"
    assert "workspaceKey" not in json.dumps(inv.to_json())  # protected settings never read
    assert not any(e.type == "OmsAgentForLinux" for e in dev_pools["azl"].extensions)

    ws = by_name(inv.workspaces)
    assert set(ws) == {"law-prod-weu", "law-dev-neu"}
    assert ws["law-prod-weu"].customer_id == "419165b8-b495-4046-9181-12c58ee9bc9e"
    assert ws["law-prod-weu"].resource_group == "rg-aks-prod"
    assert ws["law-prod-weu"].location == "westeurope"
    assert ws["law-prod-weu"].syslog_sources == ()
    (legacy,) = ws["law-dev-neu"].syslog_sources
    assert legacy.facilities == ("syslog",)
    assert legacy.levels == ("emerg", "alert", "crit", "err", "warning")


def fault_scenario(*faults: dict[str, Any]) -> dict[str, Any]:
    data = load_scenario(None)
    data["faults"] = list(faults)
    return data


def test_403_on_one_subscription_is_reported_and_others_listed(
    make_emulator: Callable[..., Any],
) -> None:
    emu = make_emulator(
        fault_scenario({"kind": "forbidden_subscription", "subscription": DEFAULT_SUB_DEV})
    )
    inv = asyncio.run(discover_all(settings_for(emu), credential=credential_for(emu)))
    subs = {s.id: s for s in inv.subscriptions}
    assert subs[DEFAULT_SUB_PROD].error is None
    assert subs[DEFAULT_SUB_DEV].error and "AuthorizationFailed" in subs[DEFAULT_SUB_DEV].error
    assert {c.name for c in inv.clusters} == {"aks-prod-weu", "aks-payments-weu"}
    assert {w.name for w in inv.workspaces} == {"law-prod-weu"}
    assert inv.errors and all(e.scope == f"subscription/{DEFAULT_SUB_DEV}" for e in inv.errors)
    assert all(e.code == "AuthorizationFailed" for e in inv.errors)
    assert "you lack" in inv.errors[0].message


def test_workspace_listing_error_announces_the_subscription_again(
    make_emulator: Callable[..., Any],
) -> None:
    """The subscription is announced once its clusters are listed (its rows do not wait for the
    workspaces); a failed workspace listing announces it again with the error, and the
    inventory holds the later form."""
    emu = make_emulator(
        fault_scenario(
            {
                "kind": "server_error",
                "path": f"subscriptions/{DEFAULT_SUB_DEV}/providers/"
                "Microsoft.OperationalInsights/workspaces$",
                "status": 400,
                "count": 100,
            }
        )
    )
    walk = settings_for(emu, resource_graph=False)  # the ARM walk's workspace listing

    async def run() -> list[Any]:
        return [i async for i in discover(walk, credential=credential_for(emu))]

    items = asyncio.run(run())
    dev = [i for i in items if isinstance(i, Subscription) and i.id == DEFAULT_SUB_DEV]
    assert [d.error is None for d in dev] == [True, False]
    assert dev[1].error and "listing Log Analytics workspaces" in dev[1].error
    # its listed cluster follows it straight away, whatever the workspace listing does
    after = items[items.index(dev[0]) + 1]
    assert isinstance(after, Cluster) and after.name == "aks-dev-neu" and not after.complete
    assert items.index(dev[0]) < items.index(dev[1])

    inv = asyncio.run(discover_all(walk, credential=credential_for(emu)))
    subs = {s.id: s for s in inv.subscriptions}
    assert len(inv.subscriptions) == 2 and subs[DEFAULT_SUB_PROD].error is None
    assert subs[DEFAULT_SUB_DEV].error == dev[1].error
    assert {c.name for c in inv.clusters} == {"aks-prod-weu", "aks-payments-weu", "aks-dev-neu"}
    assert {w.name for w in inv.workspaces} == {"law-prod-weu"}
    assert [e.scope for e in inv.errors] == [f"subscription/{DEFAULT_SUB_DEV}"]


def test_429_with_retry_after_is_retried(make_emulator: Callable[..., Any]) -> None:
    emu = make_emulator(
        fault_scenario(
            {
                "kind": "throttle",
                "path": "virtualMachineScaleSets$",
                "method": "GET",
                "count": 2,
                "retry_after": 1,
            }
        )
    )
    walk = settings_for(emu, resource_graph=False)  # the walk lists scale sets per cluster
    inv = asyncio.run(discover_all(walk, credential=credential_for(emu)))
    assert inv.errors == []
    assert sum(len(c.scale_sets) for c in inv.clusters) == 7
    counted = requests(emu)
    # one list per cluster, plus the two throttled answers retried
    assert counted["GET list_vmss_rg"] == 3 + 2


def test_results_stream_before_discovery_finishes(emulator: Any) -> None:
    """The ARM walk: with requests serialised, each cluster arrives as listed first (before any
    detail call of any subscription: listings go first), then again complete; clusters complete
    in the order they were found, while later ones are still being read."""
    listings = {"GET list_subscriptions", "GET list_clusters_sub", "GET list_ws_sub"}

    async def run() -> tuple[list[Any], list[set[str]], int]:
        items: list[Any] = []
        seen: list[set[str]] = []  # request kinds made so far, at each item
        s = settings_for(emulator, concurrency=1, resource_graph=False)
        async for item in discover(s, credential=credential_for(emulator)):
            items.append(item)
            seen.append(set(requests(emulator)))
        return items, seen, sum(requests(emulator).values())

    items, seen, total = asyncio.run(run())
    kinds = [type(i).__name__ for i in items]
    clusters = [(i, c) for i, c in enumerate(items) if isinstance(c, Cluster)]
    listed = [(i, c) for i, c in clusters if not c.complete]
    done = [(i, c) for i, c in clusters if c.complete]
    assert len(listed) == len(done) == 3
    # every listed form comes before any detail call and before its own complete form
    last_listed = max(i for i, _ in listed)
    assert seen[last_listed] <= listings
    for i, c in listed:
        (j,) = [j for j, d in done if d.id == c.id]
        assert i < j
        d = items[j]
        # the listed form: what the listing says, no subtree yet
        assert c.scale_sets == () and d.scale_sets
        assert (c.name, c.resource_group, c.location, c.node_resource_group) == (
            d.name,
            d.resource_group,
            d.location,
            d.node_resource_group,
        )
        assert c.kubernetes_version == d.kubernetes_version and c.lockdown == d.lockdown
        assert c.monitoring.addon_enabled == d.monitoring.addon_enabled
    # clusters complete one after another in the order they were listed (not all at the end)
    assert [c.id for _, c in done] == [c.id for _, c in listed]
    first_done = done[0][0]
    assert sum(1 for k in seen[first_done] if k not in listings) > 0
    assert sum(requests(emulator).values()) == total
    # a subscription is announced before its clusters, which follow it straight away
    assert kinds.index("Subscription") < kinds.index("Cluster")
    for i, c in listed:
        before = items[i - 1]
        assert (isinstance(before, Subscription) and before.id == c.subscription_id) or (
            isinstance(before, Cluster)
            and not before.complete
            and before.subscription_id == c.subscription_id
        )


def test_inventory_keeps_only_complete_clusters(emulator: Any) -> None:
    """``discover_all`` folds the stream: one complete cluster per id, and the JSON shape of
    ``discover --json`` has no trace of the listed form (no ``complete`` key)."""
    inv = asyncio.run(discover_all(settings_for(emulator), credential=credential_for(emulator)))
    assert len(inv.clusters) == len({c.id for c in inv.clusters}) == 3
    assert all(c.complete and c.scale_sets for c in inv.clusters)
    doc = json.loads(json.dumps(inv.to_json(), default=str))
    check_shape(doc)
    assert all("complete" not in c for c in doc["clusters"])
    assert set(doc["clusters"][0]) == {
        "id",
        "name",
        "subscription_id",
        "resource_group",
        "location",
        "node_resource_group",
        "fqdn",
        "kubernetes_version",
        "lockdown",
        "monitoring",
        "scale_sets",
    }


def test_only_one_subscription(emulator: Any) -> None:
    inv = asyncio.run(
        discover_all(
            settings_for(emulator), "Contoso Development", credential=credential_for(emulator)
        )
    )
    assert [s.id for s in inv.subscriptions] == [DEFAULT_SUB_DEV]
    assert [c.name for c in inv.clusters] == ["aks-dev-neu"]


def test_discover_stream_yields_only_the_public_union(emulator: Any) -> None:
    async def run() -> set[type]:
        return {
            type(i)
            async for i in discover(settings_for(emulator), credential=credential_for(emulator))
        }

    assert asyncio.run(run()) <= {Subscription, Cluster, Workspace, DiscoveryError}


# --- the command ---------------------------------------------------------------------------


def cli_env(monkeypatch: pytest.MonkeyPatch, emu: Any) -> list[str]:
    monkeypatch.setenv("AKSAUDIT_ACCESS_TOKEN", emu.info.token)
    monkeypatch.setenv("AKSAUDIT_PROFILE", "fast")
    for var in ("AKSAUDIT_ARM_ENDPOINT", "AKSAUDIT_LOGS_ENDPOINT", "AKSAUDIT_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    return [
        "--arm-endpoint",
        emu.info.arm_endpoint,
        "--logs-endpoint",
        emu.info.logs_endpoint,
        "--ca-bundle",
        emu.info.ca_bundle,
    ]


def check_shape(doc: dict[str, Any]) -> None:
    """The `discover --json` contract from issue 3 (extra keys allowed, these required), and
    how discovery read the estate (issue 14)."""
    assert set(doc) == {"subscriptions", "clusters", "workspaces", "errors", "discovery"}
    assert doc["discovery"]["method"] in ("resource-graph", "arm")
    for s in doc["subscriptions"]:
        assert {"id", "name"} <= set(s) <= {"id", "name", "error"}
        assert all(isinstance(s[k], str) for k in s)
    for c in doc["clusters"]:
        for k in (
            "id",
            "name",
            "subscription_id",
            "resource_group",
            "location",
            "node_resource_group",
        ):
            assert isinstance(c[k], str) and c[k], k
        assert isinstance(c["monitoring"], dict)
        for s in c["scale_sets"]:
            for k in ("id", "name", "pool", "os", "upgrade_mode"):
                assert isinstance(s[k], str), k
            assert isinstance(s["extensions"], list)
            for i in s["instances"]:
                assert isinstance(i["id"], str) and isinstance(i["computer_name"], str)
                assert isinstance(i["latest_model_applied"], bool)
    for w in doc["workspaces"]:
        for k in ("id", "name", "customer_id", "location", "resource_group"):
            assert isinstance(w[k], str) and w[k], k
    for e in doc["errors"]:
        assert set(e) == {"scope", "code", "message"}


def test_discover_json_matches_the_contract(
    emulator: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["discover", "--json", *cli_env(monkeypatch, emulator)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    doc = json.loads(out)
    check_shape(doc)
    assert len(doc["clusters"]) == 3 and len(doc["workspaces"]) == 2
    assert emulator.info.token not in out + err
    # exactly Inventory.to_json()
    inv = asyncio.run(discover_all(settings_for(emulator), credential=credential_for(emulator)))
    assert doc == json.loads(json.dumps(inv.to_json(), default=str))


def test_discover_table_and_partial_exit_code(
    make_emulator: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emu = make_emulator(
        fault_scenario({"kind": "forbidden_subscription", "subscription": DEFAULT_SUB_PROD})
    )
    rc = main(["discover", *cli_env(monkeypatch, emu)])
    out, err = capsys.readouterr()
    assert rc == 3
    assert "aks-dev-neu" in out and "law-dev-neu" in out and "nodepool1" in out
    assert "aks-prod-weu" not in out
    assert f"subscription/{DEFAULT_SUB_PROD}" in err and "AuthorizationFailed" in err
    assert len(err.strip().splitlines()) >= 1


def test_discover_unknown_subscription_is_usage_error(
    emulator: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["discover", "--subscription", "nope", *cli_env(monkeypatch, emulator)])
    _, err = capsys.readouterr()
    assert rc == 2 and "--subscription nope" in err and "Traceback" not in err


def test_bad_token_is_one_line(
    emulator: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = cli_env(monkeypatch, emulator)
    monkeypatch.setenv("AKSAUDIT_ACCESS_TOKEN", "wrong-token")
    rc = main(["discover", *flags])
    _, err = capsys.readouterr()
    assert rc == 1
    assert "az login" in err and len(err.strip().splitlines()) == 1


def test_unreachable_endpoint_and_wrong_ca_are_one_line(
    emulator: Any,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    import trustme

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    flags = cli_env(monkeypatch, emulator)
    rc = main(["discover", *flags, "--arm-endpoint", f"https://127.0.0.1:{port}"])
    _, err = capsys.readouterr()
    assert rc == 1 and "cannot reach Azure" in err and len(err.strip().splitlines()) == 1

    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    rc = main(["discover", *flags, "--ca-bundle", str(other_ca)])
    _, err = capsys.readouterr()
    assert rc == 1 and "--ca-bundle" in err and len(err.strip().splitlines()) == 1


def test_paging_through_next_link(make_emulator: Callable[..., Any]) -> None:
    """One item per page: every list in discovery must follow nextLink."""
    emu = make_emulator(None, page_size=1)
    inv = asyncio.run(discover_all(settings_for(emu), credential=credential_for(emu)))
    assert inv.errors == []
    assert len(inv.subscriptions) == 2 and len(inv.clusters) == 3 and len(inv.workspaces) == 2
    assert sum(len(s.instances) for c in inv.clusters for s in c.scale_sets) == 13
    prod = next(c for c in inv.clusters if c.name == "aks-prod-weu")
    assert all(len(s.extensions) >= 2 for s in prod.scale_sets)


def test_stopping_early_closes_every_client(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from aksaudit_tui.cloud import clients as clients_mod

    closed: list[bool] = []
    original = clients_mod.AsyncClients.close

    async def close(self: Any) -> None:
        await original(self)
        closed.append(self._session is None and not self._clients)

    monkeypatch.setattr(clients_mod.AsyncClients, "close", close)

    async def first() -> Any:
        gen = discover(settings_for(emulator), credential=credential_for(emulator))
        try:
            return await gen.__anext__()
        finally:
            await gen.aclose()

    assert isinstance(asyncio.run(first()), Subscription | Workspace | Cluster | DiscoveryError)
    assert closed == [True]


def test_read_cluster_for_the_engine(make_emulator: Callable[..., Any]) -> None:
    from aksaudit_tui.cloud.clients import AsyncClients
    from aksaudit_tui.cloud.discovery import read_cluster
    from aksaudit_tui.errors import UserError

    emu = make_emulator(
        fault_scenario({"kind": "forbidden_subscription", "subscription": DEFAULT_SUB_DEV})
    )
    inv = asyncio.run(discover_all(settings_for(emu), credential=credential_for(emu)))
    prod = next(c for c in inv.clusters if c.name == "aks-prod-weu")
    dev_id = prod.id.replace(DEFAULT_SUB_PROD, DEFAULT_SUB_DEV).replace(
        "rg-aks-prod/providers/Microsoft.ContainerService/managedClusters/aks-prod-weu",
        "rg-aks-dev/providers/Microsoft.ContainerService/managedClusters/aks-dev-neu",
    )

    async def read(cid: str) -> Any:
        async with AsyncClients(settings_for(emu), credential_for(emu)) as clients:
            return await read_cluster(clients, cid)

    assert asyncio.run(read(prod.id)) == prod
    with pytest.raises(UserError, match="you lack"):
        asyncio.run(read(dev_id))


def test_priority_limit_serves_lower_priority_first_and_survives_cancellation() -> None:
    from aksaudit_tui.cloud.discovery import PriorityLimit

    async def run() -> list[str]:
        limit = PriorityLimit(1)
        order: list[str] = []
        gate = asyncio.Event()

        async def job(name: str, prio: tuple[int, int]) -> None:
            await limit.acquire(prio)
            try:
                order.append(name)
                if name == "first":
                    await gate.wait()
            finally:
                limit.release()

        first = asyncio.ensure_future(job("first", (2, 0)))
        await asyncio.sleep(0)
        waiting = [
            asyncio.ensure_future(job(n, p))
            for n, p in [("detail-a", (2, 0)), ("gone", (0, 0)), ("listing", (0, 0))]
        ]
        detail_b = asyncio.ensure_future(job("detail-b", (1, 5)))
        await asyncio.sleep(0)
        waiting[1].cancel()  # a cancelled waiter neither runs nor keeps the slot
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(first, detail_b, waiting[0], waiting[2], return_exceptions=True)
        # all done: the one slot is free again
        await asyncio.wait_for(limit.acquire((9, 9)), 1)
        return order

    assert asyncio.run(run()) == ["first", "listing", "detail-b", "detail-a"]

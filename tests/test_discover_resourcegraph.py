"""Discovery through Azure Resource Graph (issue 14): the real async SDK clients (resource graph,
subscriptions, log analytics, monitor) over HTTPS to the emulator, explicit credentials.

The same inventory as the per-subscription ARM walk on the same scenario; pages past 1,000
rows; the quota and 429s waited out; a refusal (403) or ``--no-resource-graph`` walking ARM and
saying so (the report, the log line, ``discover --json``, the engine's DiscoveryDone).
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from aksaudit_emulator import load_scenario
from aksaudit_emulator.fleet import fleet_scenario
from aksaudit_tui.cli.main import main
from aksaudit_tui.cloud import discovery, graphwalk, resourcegraph
from aksaudit_tui.cloud.discovery import discover, discover_all
from aksaudit_tui.cloud.models import Cluster, Inventory, Subscription
from fixtures.cloud import DEFAULT_SUB_DEV, DEFAULT_SUB_PROD, credential_for, requests, settings_for

GRAPH = "POST resourcegraph_query"  # the emulator's name for the Resource Graph route (a read)
# ARM calls the walk makes and Resource Graph replaces
WALK_ONLY = (
    "GET list_clusters_sub",
    "GET list_vmss_rg",
    "GET list_vms",
    "GET list_extensions",
    "GET list_ws_sub",
)


def run(emu: Any, **kw: Any) -> Inventory:
    return asyncio.run(discover_all(settings_for(emu, **kw), credential=credential_for(emu)))


def same(a: Inventory, b: Inventory) -> None:
    ja, jb = a.to_json(), b.to_json()
    for key in ("subscriptions", "clusters", "workspaces", "errors"):
        assert ja[key] == jb[key], key


def default_with_extras() -> dict[str, Any]:
    """The default scenario plus what the walk reads from other places: a legacy agent
    extension, a LinuxSyslog data source, a rule associated with a scale set."""
    data = load_scenario(None)
    rg = data["subscriptions"][0]["resource_groups"][0]
    rg["workspaces"][0]["linux_syslog"] = [{"facility": "authpriv"}]
    cluster = rg["clusters"][0]
    cluster["pools"][0]["extensions"] = [{"name": "OmsAgentForLinux", "workspace": "law-prod-weu"}]
    rg["dcrs"] = [
        {
            "name": "dcr-extra",
            "workspace": "law-prod-weu",
            "facilities": ["authpriv"],
            "associate": [f"{cluster['name']}/{cluster['pools'][0]['name']}"],
        }
    ]
    return data


@pytest.mark.parametrize("scenario", ["default", "fleet"])
def test_same_inventory_as_the_arm_walk(make_emulator: Callable[..., Any], scenario: str) -> None:
    data = default_with_extras() if scenario == "default" else fleet_scenario(6, 3, 7)
    emu = make_emulator(data)
    before = requests(emu)
    graph = run(emu)
    graph_calls = requests(emu) - before
    walk = run(emu, resource_graph=False)
    assert graph.discovery.method == "resource-graph" and graph.discovery.reason is None
    assert walk.discovery.method == "arm" and "--no-resource-graph" in str(walk.discovery.reason)
    same(graph, walk)
    assert graph.clusters and all(c.scale_sets for c in graph.clusters)
    assert sum(len(s.instances) for c in graph.clusters for s in c.scale_sets) == sum(
        len(c.nodes) for c in emu.state.clusters.values()
    )
    if scenario == "default":  # what the walk reads apart: extensions, data sources, rules
        prod = next(c for c in graph.clusters if c.scale_sets[0].extensions)
        assert any(e.type == "OmsAgentForLinux" for s in prod.scale_sets for e in s.extensions)
        assert any(w.syslog_sources for w in graph.workspaces)
        assert any(c.monitoring.dcr_id for c in graph.clusters)
    # Resource Graph replaced the walk's listings; ARM only filled the data sources
    assert graph_calls[GRAPH] == graph.discovery.graph_pages >= 6
    assert all(graph_calls[k] == 0 for k in WALK_ONLY), graph_calls
    assert graph_calls["GET list_data_sources"] == len(graph.workspaces)


def test_pages_past_a_thousand_rows(make_emulator: Callable[..., Any]) -> None:
    emu = make_emulator(fleet_scenario(3, 400, 1, workspace_every=3))  # 1,200 clusters
    inv = run(emu)
    assert inv.errors == [] and inv.discovery.method == "resource-graph"
    assert len(inv.clusters) == 1200
    assert all(len(c.scale_sets) == 1 and len(c.scale_sets[0].instances) == 1 for c in inv.clusters)
    # clusters, scale sets and instance lists: 1,200 rows each, two pages each
    assert inv.discovery.graph_pages == inv.discovery.graph_queries + 3
    assert requests(emu)[GRAPH] == inv.discovery.graph_pages


def test_quota_and_429_are_waited_out(make_emulator: Callable[..., Any]) -> None:
    """Three calls a second: the quota runs out mid-discovery and the queries wait for the
    window; two scripted 429s (Retry-After: 1) are sent again. Nothing fails."""
    emu = make_emulator(
        None,
        resource_graph={"throttle": {"calls": 3, "window_s": 1}},
        faults=[
            {
                "kind": "throttle",
                "path": "ResourceGraph",
                "method": "POST",
                "count": 2,
                "retry_after": 1,
            }
        ],
    )
    inv = run(emu)
    assert inv.errors == [] and inv.discovery.method == "resource-graph"
    # the two scripted 429s, plus any the emulator's quota gave the first burst (six queries
    # start at once, before any answer has told the quota); each waited out and sent again
    own = requests(emu)["POST resourcegraph throttled"]
    assert inv.discovery.throttled == 2 + own and inv.discovery.waited_s >= 2
    assert requests(emu)[GRAPH] == inv.discovery.graph_pages + inv.discovery.throttled
    same(inv, run(emu, resource_graph=False))


def test_refused_resource_graph_walks_arm_and_says_so(
    make_emulator: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    emu = make_emulator(None, resource_graph={"forbidden": True})
    with caplog.at_level(logging.INFO, logger="aksaudit_tui.cloud.discovery"):
        inv = run(emu)
    assert inv.discovery.method == "arm"
    assert "AuthorizationFailed" in str(inv.discovery.reason)
    assert "Resource Graph unavailable" in str(inv.discovery.reason)
    assert any("walking ARM per subscription" in r.getMessage() for r in caplog.records)
    emu.state.scenario["resource_graph"]["forbidden"] = False
    same(inv, run(emu))
    emu.state.scenario["resource_graph"]["forbidden"] = True
    # the command: the JSON says it, and one stderr line
    rc = main(["discover", "--json", *cli_args(monkeypatch, emu)])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert rc == 0 and doc["discovery"]["method"] == "arm"
    assert "AuthorizationFailed" in doc["discovery"]["reason"]
    assert "aksaudit: discovered by walking ARM per subscription (Resource Graph" in err
    assert emu.info.token not in out + err


def test_no_resource_graph_flag_env_and_engine(
    make_emulator: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from aksaudit_tui.engine.events import DiscoveryDone
    from aksaudit_tui.engine.service import Engine

    emu = make_emulator(None)
    rc = main(["discover", "--json", "--no-resource-graph", *cli_args(monkeypatch, emu)])
    out, err = capsys.readouterr()
    assert rc == 0 and json.loads(out)["discovery"]["method"] == "arm"
    assert "--no-resource-graph" in err and requests(emu)[GRAPH] == 0
    rc = main(["discover", "--json", *cli_args(monkeypatch, emu)])
    out, err = capsys.readouterr()
    assert json.loads(out)["discovery"] == {"method": "resource-graph", "reason": None}
    assert "discovered through Azure Resource Graph (6 queries, 6 pages)" in err
    monkeypatch.setenv("AKSAUDIT_NO_RESOURCE_GRAPH", "1")
    rc = main(["discover", "--json", *cli_args(monkeypatch, emu)])
    assert json.loads(capsys.readouterr().out)["discovery"]["method"] == "arm"
    monkeypatch.delenv("AKSAUDIT_NO_RESOURCE_GRAPH")

    async def done(engine: Engine) -> DiscoveryDone:
        events = [ev async for ev in engine.discover()]
        last = events[-1]
        assert isinstance(last, DiscoveryDone)
        return last

    engine = Engine(settings_for(emu))
    assert engine.config.resource_graph is True
    graph_done = asyncio.run(done(engine))
    engine.config.resource_graph = False  # the EngineConfig field, as the CLI flag sets it
    arm_done = asyncio.run(done(engine))
    assert (graph_done.method, arm_done.method) == ("resource-graph", "arm")
    assert graph_done.clusters == arm_done.clusters == 3
    assert "walking ARM" in arm_done.note
    assert Engine(settings_for(emu, resource_graph=False)).config.resource_graph is False


def test_unreadable_subscription_is_walked_and_reported(make_emulator: Callable[..., Any]) -> None:
    """A subscription ARM lists but Resource Graph does not answer for is read through ARM,
    which reports the 403, while Resource Graph serves the rest."""
    emu = make_emulator(
        None, faults=[{"kind": "forbidden_subscription", "subscription": DEFAULT_SUB_DEV}]
    )
    before = requests(emu)
    inv = run(emu)
    calls = requests(emu) - before
    assert inv.discovery.method == "resource-graph"
    assert {c.name for c in inv.clusters} == {"aks-prod-weu", "aks-payments-weu"}
    assert [e.scope for e in inv.errors] == [f"subscription/{DEFAULT_SUB_DEV}"] * len(inv.errors)
    assert inv.errors and inv.errors[0].code == "AuthorizationFailed"
    assert calls["GET list_clusters_sub"] == 1  # the walk, for that one subscription only
    same(inv, run(emu, resource_graph=False))


def test_queries_start_beside_the_subscription_listing(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At tenant scope the queries do not wait for ARM's subscription list (the first filled
    row is one round trip sooner): the listing is held here until every query has reached the
    emulator, and discovery still finds the inventory the ARM walk finds."""
    orig = discovery.ArmWalk.list_subscriptions
    before = requests(emulator)[GRAPH]
    held: list[int] = []

    async def listing_held(self: Any, subscription: str | None) -> list[tuple[str, str]]:
        for _ in range(1200):  # 60 s: the queries are sent at once, or never before the list
            if requests(emulator)[GRAPH] - before >= len(resourcegraph.QUERIES.values()):
                break
            await asyncio.sleep(0.05)
        held.append(requests(emulator)[GRAPH] - before)
        return await orig(self, subscription)

    monkeypatch.setattr(discovery.ArmWalk, "list_subscriptions", listing_held)
    inv = run(emulator)
    assert inv.discovery.method == "resource-graph"
    assert held == [len(resourcegraph.QUERIES.values())]  # all sent before the list answered
    assert {c.name for c in inv.clusters} == {"aks-prod-weu", "aks-payments-weu", "aks-dev-neu"}
    monkeypatch.setattr(discovery.ArmWalk, "list_subscriptions", orig)
    same(inv, run(emulator, resource_graph=False))


def test_one_subscription_asked_for_scopes_the_queries(emulator: Any) -> None:
    """``--subscription``: the queries cover that subscription only (listed first)."""
    s = settings_for(emulator)
    inv = asyncio.run(discover_all(s, DEFAULT_SUB_PROD, credential=credential_for(emulator)))
    assert inv.discovery.method == "resource-graph"
    assert {sub.id for sub in inv.subscriptions} == {DEFAULT_SUB_PROD}
    assert {c.subscription_id for c in inv.clusters} == {DEFAULT_SUB_PROD}
    walked = asyncio.run(
        discover_all(
            replace(s, resource_graph=False), DEFAULT_SUB_PROD, credential=credential_for(emulator)
        )
    )
    same(inv, walked)


def test_stream_announces_listed_clusters_before_complete(emulator: Any) -> None:
    async def collect() -> list[Any]:
        s = settings_for(emulator)
        return [i async for i in discover(s, credential=credential_for(emulator))]

    items = asyncio.run(collect())
    clusters = [c for c in items if isinstance(c, Cluster)]
    listed = [c for c in clusters if not c.complete]
    done = [c for c in clusters if c.complete]
    assert len(listed) == len(done) == 3
    for c in listed:
        assert items.index(c) < next(items.index(d) for d in done if d.id == c.id)
        assert c.scale_sets == ()
    first_cluster = items.index(clusters[0])
    assert all(isinstance(i, Subscription) for i in items[:first_cluster]) and first_cluster == 2


def cli_args(monkeypatch: pytest.MonkeyPatch, emu: Any) -> list[str]:
    monkeypatch.setenv("AKSAUDIT_ACCESS_TOKEN", emu.info.token)
    monkeypatch.setenv("AKSAUDIT_PROFILE", "fast")
    for var in ("AKSAUDIT_ARM_ENDPOINT", "AKSAUDIT_LOGS_ENDPOINT", "AKSAUDIT_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    return ["--arm-endpoint", emu.info.arm_endpoint, "--ca-bundle", emu.info.ca_bundle]


def test_every_query_pages_to_the_end(
    make_emulator: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two rows a page: every query is followed to its last page (each projects ``id``, which
    the service needs to page a result), and the inventory is the walk's."""
    monkeypatch.setattr(resourcegraph, "PAGE_ROWS", 2)
    emu = make_emulator(default_with_extras())
    inv = run(emu)
    assert inv.discovery.method == "resource-graph" and inv.discovery.reason is None
    assert inv.discovery.graph_pages > inv.discovery.graph_queries  # it really paged
    same(inv, run(emu, resource_graph=False))


def test_truncated_answer_walks_arm_and_says_why(
    make_emulator: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A result the service cannot page (no ``id`` column) comes back ``resultTruncated``
    without a ``$skipToken``: discovery must not keep the partial rows but walk ARM instead."""
    monkeypatch.setattr(resourcegraph, "PAGE_ROWS", 2)
    unpageable = resourcegraph.INSTANCES.replace("| project id = scaleSet, instances\n", "")
    unpageable = unpageable.replace("order by id", "order by scaleSet")
    assert "project id" not in unpageable
    queries = replace(resourcegraph.QUERIES, instances=unpageable)
    monkeypatch.setattr(graphwalk, "QUERIES", queries)
    emu = make_emulator(default_with_extras())
    inv = run(emu)
    assert inv.discovery.method == "arm"
    assert "cut the instances query short (2 of" in str(inv.discovery.reason)
    assert "resultTruncated" in str(inv.discovery.reason)
    same(inv, run(emu, resource_graph=False))
    assert sum(len(s.instances) for c in inv.clusters for s in c.scale_sets) == sum(
        len(c.nodes) for c in emu.state.clusters.values()
    )


def test_sdk_still_has_send_request(emulator: Any) -> None:
    """``resourcegraph.send_raw`` rides the SDK's private ``_send_request`` (for speed; its
    docstring says what to do without it): on the installed SDK it still exists, takes a
    request and ``stream``, and answers a raw 200 that parses as a ``QueryResponse``."""
    from azure.core.rest import HttpRequest
    from azure.mgmt.resourcegraph.aio import ResourceGraphClient

    params = inspect.signature(ResourceGraphClient._send_request).parameters
    assert "request" in params and "stream" in params
    assert params["stream"].kind is inspect.Parameter.KEYWORD_ONLY

    async def ask() -> tuple[int, dict[str, Any], str]:
        client = resourcegraph.graph_client(settings_for(emulator), credential_for(emulator))
        async with client:
            version = str(client._config.api_version)  # ResourceGraph reads it there too
            subs = [DEFAULT_SUB_PROD, DEFAULT_SUB_DEV]
            body = resourcegraph.query_body(resourcegraph.QUERIES.clusters, subs, None)
            request = HttpRequest(
                "POST", resourcegraph.RESOURCES_PATH, params={"api-version": version}, json=body
            )
            response = await resourcegraph.send_raw(client, request)
            return response.status_code, json.loads(await response.read()), version

    status, answer, version = asyncio.run(ask())
    assert status == 200 and version == resourcegraph.API_VERSION
    assert sorted(r["name"] for r in answer["data"]) == sorted(emulator.state.clusters)


def test_a_failed_query_leaves_no_unretrieved_task(
    make_emulator: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Every query refused at once: the first failure decides (walk ARM), and the other
    queries' failures are collected, not left for asyncio to report at garbage collection."""
    emu = make_emulator(None, resource_graph={"forbidden": True})
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        inv = run(emu)
        gc.collect()
    assert inv.discovery.method == "arm" and inv.clusters
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]

"""Fleet scenarios of any size: ``S`` subscriptions x ``C`` clusters each x ``N`` nodes each.

``aksaudit emulator --fleet 200x5x10``, the tests and the benchmarks build the same estate from
``fleet_scenario``, so a figure measured on a fleet is about a fleet anyone can serve. The shape
is what platform teams run: one resource group per subscription with its clusters; a central
Log Analytics workspace per ``workspace_every`` subscriptions (every cluster of those sends to
it); Container Insights with syslog on every other cluster (so both ways discovery finds a data
collection rule are exercised); one system pool per cluster, and a user pool for nodes beyond
``pool_size``. Node roots stay empty (``node_roots: false``): a fleet is for ARM-side work; the
node-level tests build their own few nodes. Ids are stable (derived from the indexes).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from aksaudit_emulator.errors import ScenarioError

_FLEET_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*[xX]\s*(\d+)\s*$")
MAX_NODES = 200_000


def parse_fleet(text: str) -> tuple[int, int, int]:
    """``"200x5x10"`` -> (subscriptions, clusters per subscription, nodes per cluster)."""
    m = _FLEET_RE.match(text)
    if m is None:
        raise ScenarioError(f"--fleet {text!r}: give SUBSCRIPTIONSxCLUSTERSxNODES, e.g. 200x5x10")
    subs, clusters, nodes = (int(g) for g in m.groups())
    if min(subs, clusters, nodes) < 1:
        raise ScenarioError(f"--fleet {text}: every count must be at least 1")
    if subs * clusters * nodes > MAX_NODES:
        raise ScenarioError(f"--fleet {text}: at most {MAX_NODES} nodes in all")
    return subs, clusters, nodes


def subscription_id(index: int) -> str:
    """The stable id of the fleet's ``index``-th subscription."""
    return str(uuid.UUID(int=0xF1EE7 << 64 | index))


def fleet_scenario(
    subscriptions: int,
    clusters: int,
    nodes: int,
    *,
    workspace_every: int = 10,
    pool_size: int = 100,
    latency_ms: float | dict[str, float] = 0.0,
    page_size: int = 1000,
) -> dict[str, Any]:
    """A scenario mapping (for ``load_scenario``) of the fleet described in the module doc."""
    if min(subscriptions, clusters, nodes, workspace_every, pool_size) < 1:
        raise ScenarioError("fleet_scenario: every count must be at least 1")
    subs: list[dict[str, Any]] = []
    for s in range(subscriptions):
        home = s - s % workspace_every  # the subscription holding this group's workspace
        rg: dict[str, Any] = {
            "name": f"rg-fleet-{s:04d}",
            "location": "westeurope",
            "clusters": [_cluster(s, c, nodes, pool_size, home) for c in range(clusters)],
        }
        if s == home:
            rg["workspaces"] = [
                {"name": f"law-fleet-{s:04d}", "customer_id": str(uuid.UUID(int=0x1A << 64 | s))}
            ]
        subs.append({"id": subscription_id(s), "name": f"Fleet {s:04d}", "resource_groups": [rg]})
    return {
        "latency_ms": latency_ms,
        "page_size": page_size,
        "node_roots": False,
        "lro": {"polls": 1, "seconds": 0},
        "ingestion": {"delay_s": 0, "interval_s": 60},
        "subscriptions": subs,
    }


def _cluster(s: int, c: int, nodes: int, pool_size: int, home: int) -> dict[str, Any]:
    pools = []
    left, i = nodes, 0
    while left > 0:
        n = min(left, pool_size)
        pools.append(
            {
                "name": "system" if i == 0 else f"user{i}",
                "mode": "System" if i == 0 else "User",
                "count": n,
                "os_sku": "Ubuntu2204" if (s + c) % 3 else "AzureLinux3",
            }
        )
        left -= n
        i += 1
    cluster: dict[str, Any] = {
        "name": f"aks-f{s:04d}-c{c}",
        "kubernetes_version": "1.32.6",
        "pools": pools,
    }
    if c % 2 == 0:
        cluster["monitoring"] = {
            "workspace": f"law-fleet-{home:04d}",
            "syslog": True,
            "syslog_facilities": ["authpriv", "auth"],
        }
    return cluster

"""``aksaudit discover [--subscription ID] [--json] [--no-resource-graph]``: what is there and
what is already in place.

Results on stdout (``Inventory.to_json()`` with ``--json``, Rich tables otherwise), errors on
stderr; exit 0, or 3 when some subscription (or part of one) could not be read. How discovery
read the estate (Azure Resource Graph, or the per-subscription ARM walk and why) is one line on
stderr and ``"discovery"`` in the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from aksaudit_tui.cli import checks
from aksaudit_tui.cloud.settings import add_cloud_arguments, add_discovery_arguments
from aksaudit_tui.errors import EXIT_OK, EXIT_PARTIAL

if TYPE_CHECKING:
    from aksaudit_tui.cloud.models import Cluster, Inventory, ScaleSet
    from aksaudit_tui.cloud.settings import CloudSettings


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "discover",
        help="list subscriptions, AKS clusters, node pools, workspaces and what is in place",
        description="Discover AKS clusters, their node resource groups and node-pool scale sets, "
        "Log Analytics workspaces, and the monitoring already in place.",
    )
    p.add_argument("--subscription", metavar="ID", help="only this subscription (id or name)")
    p.add_argument("--json", action="store_true", help="print the inventory as JSON")
    add_cloud_arguments(p)
    add_discovery_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = checks.signed_in(checks.cloud_settings(args))
    found: list[Inventory] = []
    asyncio.run(_discover_into(found, settings, args.subscription))
    inventory = found[0]
    if args.json:
        json.dump(inventory.to_json(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        render_tables(inventory)
    print(f"aksaudit: {inventory.discovery.line()}", file=sys.stderr)
    for err in inventory.errors:
        print(f"aksaudit: {err.scope}: {err.code}: {err.message}", file=sys.stderr)
    return EXIT_PARTIAL if inventory.errors else EXIT_OK


async def _discover_into(
    found: list[Inventory], settings: CloudSettings, subscription: str | None
) -> None:
    """Discover into ``found`` rather than returning the inventory: on the way out,
    ``asyncio.run``'s SIGINT check formats its main task's repr, result included (a full
    dataclass repr of every cluster and node: seconds on a thousand clusters)."""
    from aksaudit_tui.cloud.discovery import discover_all

    found.append(await discover_all(settings, subscription))


def monitoring_text(cluster: Cluster) -> str:
    m = cluster.monitoring
    if not m.addon_enabled:
        state = "add-on off"
    else:
        state = "add-on on" + (" (MSI)" if m.msi_auth else " (key auth)")
    if m.syslog_enabled:
        facs = sorted({f for s in m.syslog for f in s.facilities})
        state += f"; syslog: {','.join(facs) or '-'}"
    elif m.dcr_id:
        state += "; DCR without syslog"
    return state


def render_tables(inventory: Inventory) -> None:
    from rich.console import Console
    from rich.table import Table

    # Cloud names are user data: never interpret them as markup.
    console = Console(file=sys.stdout, highlight=False, markup=False)
    subs = Table(title="Subscriptions", title_justify="left")
    for col in ("Name", "ID", "State"):
        subs.add_column(col)
    for s in inventory.subscriptions:
        subs.add_row(s.name, s.id, "error" if s.error else "ok")
    console.print(subs)

    clusters = Table(title="Clusters", title_justify="left")
    for col in ("Cluster", "Resource group", "Node resource group", "Pools", "Monitoring"):
        clusters.add_column(col)
    for c in inventory.clusters:
        pools = "\n".join(pool_text(s) for s in c.scale_sets)
        node_rg = c.node_resource_group + (f" [{c.lockdown}]" if c.lockdown == "ReadOnly" else "")
        clusters.add_row(c.name, c.resource_group, node_rg, pools or "-", monitoring_text(c))
    console.print(clusters)

    workspaces = Table(title="Log Analytics workspaces", title_justify="left")
    for col in ("Workspace", "Resource group", "Location", "Workspace ID", "LinuxSyslog"):
        workspaces.add_column(col)
    for w in inventory.workspaces:
        legacy = ", ".join(f.facilities[0] for f in w.syslog_sources if f.facilities) or "-"
        workspaces.add_row(w.name, w.resource_group, w.location, w.customer_id, legacy)
    console.print(workspaces)


def pool_text(s: ScaleSet) -> str:
    n = len(s.instances)
    parts = [s.os_sku or s.os, f"{n} node{'' if n == 1 else 's'}"]
    if s.taints:
        parts.append("tainted")
    parts.extend(sorted(_agent_names(s.extensions)))
    return f"{s.pool} ({', '.join(parts)})"


def _agent_names(extensions: Any) -> set[str]:
    agents = {"omsagentforlinux": "OMS agent", "azuremonitorlinuxagent": "AMA"}
    return {agents[e.type.lower()] for e in extensions if e.type.lower() in agents}

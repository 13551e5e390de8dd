"""bench/fleet_discovery.py at a tiny size, so its code cannot rot: it runs for real (an emulator
process serving a generated fleet, discovery through Resource Graph and the sequential ARM walk)
and prints its figures and goals in the agreed format; it checks Resource Graph's inventory
against the product's concurrent ARM walk and says when a figure is extrapolated. Timings are
not asserted here (this machine is shared); ``make bench`` judges them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIGURE = re.compile(r"^fleet_discovery\.[a-z_]+: \S.*$")
GOAL = re.compile(r"^(passed|failed) fleet_discovery\.\S.*$")


def test_fleet_discovery_bench_prints_its_figures_and_goals() -> None:
    r = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "fleet_discovery.py"),
            "--subscriptions",
            "3",
            "--clusters",
            "2",
            "--nodes",
            "3",
            "--latency-ms",
            "5",
            "--repeats",
            "1",
            "--walk-sample",
            "2",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    goals_from = next(i for i, ln in enumerate(lines) if GOAL.match(ln))
    assert all(FIGURE.match(ln) for ln in lines[:goals_from]), lines
    assert all(GOAL.match(ln) for ln in lines[goals_from:]), lines
    figures = dict(ln.split(": ", 1) for ln in lines[:goals_from])
    assert figures["fleet_discovery.fleet"] == "3x2x3"
    assert figures["fleet_discovery.method"] == "resource-graph"
    # a figure from a sample says so on its own line
    walked = figures["fleet_discovery.sequential_walk_measured"]
    assert re.fullmatch(
        r"extrapolated: 2 of 3 subscriptions walked, their sum x 1\.5 \+ the fixed [0-9.]+s once",
        walked,
    ), walked
    # one discovery's fixed part (credential, clients, the subscription listing) counts once,
    # only the per-subscription part scales: 3 subscriptions' worth of it, not 1.5 discoveries
    fixed = float(figures["fleet_discovery.sequential_walk_fixed_s"])
    per_sub = float(figures["fleet_discovery.sequential_walk_per_subscription_s"])
    walk_s = float(figures["fleet_discovery.sequential_walk_s"].split()[0])
    assert fixed > 0 and per_sub > 0
    assert abs(walk_s - (fixed + 3 * per_sub)) <= 0.06, (walk_s, fixed, per_sub)
    assert figures["fleet_discovery.sequential_walk_s"].endswith(f" ({walked})")
    assert figures["fleet_discovery.ratio"].endswith(" (against the extrapolated walk)")
    for name in ("graph_s", "graph_round_trips", "sequential_walk_s", "ratio"):
        float(figures[f"fleet_discovery.{name}"].split()[0])
    # the honest comparison: the product's own concurrent ARM walk, same fleet, same run
    for name in ("concurrent_arm_walk_s", "concurrent_arm_walk_ratio"):
        float(figures[f"fleet_discovery.{name}"])
    assert figures["fleet_discovery.same_inventory"] == "yes"
    same = "passed fleet_discovery.same inventory as the product's concurrent ARM walk "
    assert same + "(clusters 6, pools 6, instance counts, workspaces 1)" in lines, lines
    speed = next(ln for ln in lines if "fleet_discovery.graph / " in ln)
    assert "the sequential per-subscription ARM walk measured in the same run" in speed
    assert walked in speed and "against the product's own concurrent ARM walk" in speed
    # completeness is not a timing: it must hold at any size
    complete = "passed fleet_discovery.complete inventory through Resource Graph: 6 clusters"
    assert complete + ", 18 nodes" in lines
    assert any(ln.startswith("passed fleet_discovery.sequential walk read 2") for ln in lines)


def test_inventory_difference_names_what_differs() -> None:
    """The bench voids its speed goals when Resource Graph's inventory is not the ARM walk's:
    a missing instance, pool or workspace is named; case alone is no difference."""
    from dataclasses import replace

    from aksaudit_tui.cloud.models import Cluster, Instance, Inventory, ScaleSet, Workspace

    sys.path.insert(0, str(REPO / "bench"))
    import fleet_discovery

    vm = Instance(id="/vm/0", instance_id="0", computer_name="n0", latest_model_applied=True)
    pool = ScaleSet(id="/ss", name="aks-a-1-vmss", pool="a", os="Linux", os_sku=None,
                    upgrade_mode="Manual", instances=(vm, vm))  # fmt: skip
    cluster = Cluster(id="/C/1", name="c", subscription_id="s", resource_group="g",
                      location="l", node_resource_group="mc", scale_sets=(pool,))  # fmt: skip
    ws = Workspace(id="/W/1", name="w", customer_id="x", location="l", resource_group="g")
    walk = Inventory(clusters=[cluster], workspaces=[ws])
    graph = Inventory(clusters=[replace(cluster, id="/c/1")], workspaces=[replace(ws, id="/w/1")])
    assert fleet_discovery.difference(graph, walk) == ""
    short = replace(cluster, scale_sets=(replace(pool, instances=(vm,)),))
    assert fleet_discovery.difference(Inventory(clusters=[short], workspaces=[ws]), walk)
    assert "pools" in fleet_discovery.difference(
        Inventory(clusters=[replace(cluster, scale_sets=())], workspaces=[ws]), walk
    )
    assert "workspaces: 0 vs 1" in fleet_discovery.difference(Inventory(clusters=[cluster]), walk)

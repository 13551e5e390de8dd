"""Fleet TUI benchmark: the discovery tree with C clusters / N nodes; peak RSS, scroll and pick lag.

The real ``AksauditApp`` (headless, Pilot) runs in a child process on the discover screen; a
stand-in engine streams a discovery of C clusters (default 1,000, in subscriptions of 10) with
N nodes in all (default 10,000: one scale set of N / C instances each), as the real discovery
streams it (each cluster listed, then complete). Once every row is shown, the user scrolls
(down, page down, end, home), opens clusters to see their nodes, and picks clusters (space)
while a probe in the app's event loop (a 10 ms sleep: how late does it wake?) measures the lag.
The parent reads the child's peak RSS from ``wait4`` (that process only).

Goals: peak RSS < 250 MB; event-loop lag p99 < 50 ms while scrolling and picking.

    .venv/bin/python bench/fleet_tui.py [--clusters 1000] [--nodes 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PYTHON, Report, peak_rss_mb, percentile, run_child_rss

GOAL_RSS_MB = 250.0
GOAL_P99_MS = 50.0
PROBE_S = 0.01
PER_SUBSCRIPTION = 10


def _fleet(clusters: int, nodes: int) -> tuple[list[Any], list[tuple[Any, Any]]]:
    """Subscriptions, and per cluster its listed and its complete form."""
    from dataclasses import replace

    from aksaudit_tui.cloud.models import Cluster, Instance, ScaleSet, Subscription

    per = max(1, nodes // max(1, clusters))
    subs = [
        Subscription(f"{s:08d}-0000-0000-0000-000000000000", f"sub-{s:03d}")
        for s in range((clusters + PER_SUBSCRIPTION - 1) // PER_SUBSCRIPTION)
    ]
    out = []
    for c in range(clusters):
        sub = subs[c // PER_SUBSCRIPTION]
        rg, name = f"rg-{c:04d}", f"aks-fleet-{c:04d}"
        node_rg = f"MC_{rg}_{name}_westeurope"
        base = f"/subscriptions/{sub.id}/resourceGroups/"
        listed = Cluster(
            id=f"{base}{rg}/providers/Microsoft.ContainerService/managedClusters/{name}",
            name=name,
            subscription_id=sub.id,
            resource_group=rg,
            location="westeurope",
            node_resource_group=node_rg,
            kubernetes_version="1.32.6",
        )
        vmss = f"aks-pool0-{c:08d}-vmss"
        ss_id = f"{base}{node_rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{vmss}"
        instances = tuple(
            Instance(f"{ss_id}/virtualMachines/{i}", str(i), f"{vmss}{i:06d}", True)
            for i in range(per)
        )
        ss = ScaleSet(
            ss_id, vmss, "pool0", "Linux", "Ubuntu2204", "Manual", instances,
            mode="System", resource_group=node_rg,
        )  # fmt: skip
        out.append((listed, replace(listed, scale_sets=(ss,), complete=True)))
    return subs, out


def _child(clusters: int, nodes: int) -> None:
    from textual.widgets import Tree

    from aksaudit_tui.engine.events import ClusterFound, DiscoveryDone, SubscriptionFound
    from aksaudit_tui.tui.app import AksauditApp
    from ui_lag import BenchEngine

    subs, fleet = _fleet(clusters, nodes)

    class FleetEngine(BenchEngine):
        async def discover(self, subscription: str | None = None) -> AsyncIterator[Any]:
            for s in subs:
                yield SubscriptionFound(s)
            for listed, _ in fleet:
                yield ClusterFound(listed)
            for i, (_, complete) in enumerate(fleet):
                yield ClusterFound(complete)
                if i % 50 == 49:
                    await asyncio.sleep(0.01)  # as a stream arrives: in batches
            yield DiscoveryDone(len(subs), len(fleet), 0, 0)

    async def go() -> dict[str, Any]:
        engine = FleetEngine(0, 0)
        app = AksauditApp(engine, identity="bench", keymap={}, animations=False)  # type: ignore[arg-type]
        lags: list[float] = []
        keys: list[float] = []
        cpu: dict[str, list[float]] = {}  # the app's CPU per key, by key: what costs, load aside
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.pause()
            app.goto("discover")
            t0 = time.monotonic()
            while not (app.state.discovery_done and not app.job("discovery").running):
                await asyncio.sleep(0.05)
                if time.monotonic() - t0 > 300:
                    break
            await pilot.pause(0.5)
            tree = app.screen.query_one(Tree)
            shown = sum(1 for n in tree._tree_nodes.values() if n.data and n.data[0] == "cluster")
            fill_s = time.monotonic() - t0
            tree.focus()
            await pilot.pause()
            stop = asyncio.Event()

            async def probe() -> None:
                while not stop.is_set():
                    t = time.perf_counter()
                    await asyncio.sleep(PROBE_S)
                    lags.append(max(0.0, time.perf_counter() - t - PROBE_S))

            task = asyncio.create_task(probe())

            async def press(*k: str) -> None:
                t, c = time.perf_counter(), time.process_time()
                await pilot.press(*k)
                keys.append(time.perf_counter() - t)
                cpu.setdefault(k[0], []).append(time.process_time() - c)

            for _ in range(100):  # scroll down row by row
                await press("down")
            for _ in range(20):
                await press("pagedown")
            await press("end")
            await press("home")
            for _ in range(30):  # pick clusters as the user walks down, opening some
                await press("down")
                await press("space")
                await press("enter")
            await pilot.pause(0.3)
            stop.set()
            await task
            picked = len(app.state.selected) if hasattr(app.state, "selected") else -1
            screen = type(app.screen).__name__
        return {
            "clusters_shown": shown,
            "fill_s": fill_s,
            "lags": lags,
            "keys": keys,
            "cpu": cpu,
            "picked": picked,
            "screen": screen,
            "vmhwm_mb": peak_rss_mb(),
        }

    print("BENCH " + json.dumps(asyncio.run(go())), flush=True)


def run(clusters: int, nodes: int) -> Report:
    me = str(Path(__file__).resolve())
    r = run_child_rss(
        [PYTHON, me, "--child", "--clusters", str(clusters), "--nodes", str(nodes)], timeout=900
    )
    got: dict[str, Any] = {}
    for line in r.stdout.splitlines():
        if line.startswith("BENCH "):
            got = json.loads(line[6:])
    rep = Report("fleet_tui.")
    if not got:
        rep.goal(False, f"child: exited {r.returncode}: {r.stderr.strip()[-300:]}")
        return rep
    lags_ms = [x * 1000 for x in got["lags"]]
    keys_ms = [x * 1000 for x in got["keys"]]
    p99 = percentile(lags_ms, 99)
    shown = got["clusters_shown"]
    rep.figure("clusters", clusters)
    rep.figure("nodes", nodes)
    rep.figure("clusters_shown", shown)
    rep.figure("clusters_picked", got["picked"])
    rep.figure("discovery_shown_s", got["fill_s"], ".1f")
    rep.figure("peak_rss_mb", r.peak_rss_mb, ".1f")
    rep.figure("keys_pressed", len(keys_ms))
    rep.figure("key_p50_ms", percentile(keys_ms, 50), ".1f")
    rep.figure("key_p99_ms", percentile(keys_ms, 99), ".1f")
    for key, secs in sorted(got.get("cpu", {}).items()):
        ms = [x * 1000 for x in secs]
        rep.figure(f"key_cpu_p99_ms.{key}", percentile(ms, 99), ".1f")
    rep.figure("lag_samples", len(lags_ms))
    rep.figure("lag_p99_ms", p99, ".1f")
    rep.figure("lag_max_ms", max(lags_ms, default=0.0), ".1f")
    rep.goal(
        r.peak_rss_mb < GOAL_RSS_MB and shown == clusters,
        f"peak_rss: {r.peak_rss_mb:.1f} MB < {GOAL_RSS_MB:g} MB with {shown} clusters and "
        f"{nodes} nodes in the discovery tree",
    )
    rep.goal(
        p99 < GOAL_P99_MS and len(lags_ms) > 10,
        f"lag_p99: {p99:.1f} ms < {GOAL_P99_MS:g} ms while scrolling and picking "
        f"({len(keys_ms)} keys, p99 key {percentile(keys_ms, 99):.0f} ms)",
    )
    return rep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=10000)
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args(argv)
    if args.child:
        _child(args.clusters, args.nodes)
        return 0
    return run(args.clusters, args.nodes).print()


if __name__ == "__main__":
    sys.exit(main())

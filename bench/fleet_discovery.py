"""Fleet discovery benchmark: 200 subscriptions x 5 clusters x 10 nodes, 150 ms per call.

The real discovery (async SDK clients) against the emulator, run as its own process
(``aksaudit emulator``: Azure is remote, and in-process its CPU would be billed to the client),
serving the fleet of ``aksaudit_emulator.fleet.fleet_scenario`` with 150 ms slept on every
call and Resource Graph's own quota (15 queries per 5 s per user), measured in one run:

- ``graph``: discovery through Azure Resource Graph (the product's default), median of three
  runs, each started on a fresh quota window (as one user's discovery would be). Goal: the
  complete inventory (every cluster, scale set and node) in at most 8 round trips of wall time
  (wall / latency).
- ``sequential_walk``: the per-subscription ARM walk, one subscription after another (what a
  script looping ``az`` over the subscriptions does; each subscription walked with the
  product's own concurrency). This is the baseline issue 14 names ("the sequential
  per-subscription ARM walk measured in the same run"); goal: graph <= 0.02 x sequential_walk.
  The product itself never walks that way, so the figure flatters Resource Graph. It is one
  discovery (one credential, one set of clients, one subscription listing: the fixed part), then
  the subscriptions walked one after another, each timed. Every subscription is walked unless
  ``--walk-sample K`` (``--quick``): then K of them are, and only their per-subscription part
  is scaled by S/K (the fleet's subscriptions are alike): fixed + S/K x walked. Scaling whole
  discoveries of one subscription each instead multiplied the fixed part S/K times too, which
  inflated the baseline. The printed figure and goal say "extrapolated" in words.
- ``concurrent_arm_walk``: the honest second comparison, the product's own fallback (the ARM
  walk over every subscription at once, ``resource_graph=False``) on the same fleet, one run,
  with its ratio. No goal: it is what Resource Graph really saves over the product's other path.
- ``same_inventory``: Resource Graph's inventory against the concurrent ARM walk's (the same
  clusters, pools, instance counts per pool, workspaces). A difference fails the inventory goal
  and both speed goals: a fast answer that is not the walk's answer is not a result.

    .venv/bin/python bench/fleet_discovery.py [--subscriptions 200] [--clusters 5] [--nodes 10]
        [--walk-sample K] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aksaudit_emulator.fleet import fleet_scenario
from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.cloud.credentials import AsyncStaticTokenCredential
from aksaudit_tui.cloud.discovery import ArmWalk, add_found, discover_all
from aksaudit_tui.cloud.models import Inventory
from aksaudit_tui.cloud.settings import CloudSettings
from common import Report

ROUND_TRIPS_GOAL = 8.0
RATIO_GOAL = 0.02
TOKEN = "aksaudit-bench-token"
QUOTA = {"calls": 15, "window_s": 5}  # Resource Graph's default per-user quota


def timed(settings: CloudSettings, subscription: str | None = None) -> tuple[float, Inventory]:
    """Seconds from the discovery's start to its inventory in hand, timed inside the loop.

    Not around ``asyncio.run``: Python 3.11's runner, restoring the SIGINT handler as it ends,
    formats ``repr`` of its main task (``signal.getsignal`` looks the handler up as an enum and
    builds a ValueError message with ``%r``), and a finished task's repr is its result's: a
    whole fleet's Inventory, 31,000 dataclasses, 0.1-0.3 s of CPU billed to discovery that
    ``aksaudit discover`` never pays (its coroutine returns None: cli/discover_cmd.py)."""
    got: list[tuple[float, Inventory]] = []

    async def run() -> None:  # returns None: see above
        start = time.perf_counter()
        cred = AsyncStaticTokenCredential(TOKEN)
        inv = await discover_all(settings, subscription, credential=cred)
        got.append((time.perf_counter() - start, inv))

    asyncio.run(run())
    return got[0]


async def sequential_walk(
    settings: CloudSettings, sample: int
) -> tuple[float, list[float], list[Inventory]]:
    """One discovery walking the subscriptions one after another: the seconds of its fixed
    part (clients, credential, the subscription listing), each of the first ``sample``
    subscriptions' walk seconds, and what each found."""
    start = time.perf_counter()
    clients = AsyncClients(settings, AsyncStaticTokenCredential(TOKEN))
    found: list[Inventory] = [Inventory()]
    walk = ArmWalk.prioritized(clients, lambda item: add_found(found[-1], item))
    per: list[float] = []
    try:
        subs = await walk.list_subscriptions(None)
        fixed_s = time.perf_counter() - start
        for sid, name in subs[:sample]:
            found.append(Inventory())
            t0 = time.perf_counter()
            await walk.subscription(sid, name)
            per.append(time.perf_counter() - t0)
    finally:
        await clients.close()
    return fixed_s, per, found[1:]


def complete(inv: Inventory, subs: int, clusters: int, nodes: int) -> bool:
    n_nodes = sum(len(s.instances) for c in inv.clusters for s in c.scale_sets)
    return (
        not inv.errors
        and len(inv.subscriptions) == subs
        and len(inv.clusters) == subs * clusters
        and all(c.complete and c.scale_sets for c in inv.clusters)
        and n_nodes == subs * clusters * nodes
    )


def shape(inv: Inventory) -> dict[str, object]:
    """What both discovery paths must agree on: clusters, their pools with instance counts,
    workspaces (ids lower case; ARM ids are case-insensitive)."""
    return {
        "clusters": sorted(c.id.lower() for c in inv.clusters),
        "pools": sorted(
            (c.id.lower(), s.name.lower(), len(s.instances))
            for c in inv.clusters
            for s in c.scale_sets
        ),
        "workspaces": sorted(w.id.lower() for w in inv.workspaces),
    }


def difference(a: Inventory, b: Inventory) -> str:
    """'' when ``a`` and ``b`` agree (``shape``), else the first thing that differs, briefly."""
    sa, sb = shape(a), shape(b)
    for key in sa:
        left, right = sa[key], sb[key]
        if left != right:
            assert isinstance(left, list) and isinstance(right, list)
            only_a = [x for x in left if x not in right][:1]
            only_b = [x for x in right if x not in left][:1]
            return f"{key}: {len(left)} vs {len(right)}, e.g. graph {only_a} walk {only_b}"
    return ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--subscriptions", type=int, default=200)
    ap.add_argument("--clusters", type=int, default=5)
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--latency-ms", type=float, default=150.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--walk-sample", type=int, default=0, help="walk only K subscriptions")
    args = ap.parse_args(argv)
    latency = args.latency_ms / 1000.0
    rep = Report(prefix="fleet_discovery.")

    with tempfile.TemporaryDirectory(prefix="aksaudit-bench-") as tmp:
        data = fleet_scenario(
            args.subscriptions,
            args.clusters,
            args.nodes,
            latency_ms={"arm": args.latency_ms, "logs": 0, "kube": 0},
        )
        data["token"] = TOKEN
        data["resource_graph"] = {"throttle": QUOTA}
        scen = Path(tmp) / "fleet.yaml"
        # libyaml when there: the pure-Python dumper took seconds on a 200x5x10 fleet
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        scen.write_text(yaml.dump(data, Dumper=dumper), encoding="utf-8")
        cmd = [sys.executable, "-m", "aksaudit_tui", "emulator", "--scenario", str(scen),
               "--state-dir", str(Path(tmp) / "state")]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            info = json.loads(proc.stdout.readline())
            base = CloudSettings(
                arm_endpoint=info["arm_endpoint"],
                logs_endpoint=info["logs_endpoint"],
                ca_bundle=info["ca_bundle"],
                access_token=TOKEN,
                polling_interval=0,
                profile="fast",
            )
            timed(base)  # warm-up: SDK imports, the emulator's Resource Graph index
            runs: list[tuple[float, Inventory]] = []
            for _ in range(args.repeats):
                time.sleep(QUOTA["window_s"] + 0.5)  # each run on a fresh quota window
                runs.append(timed(base))
            graph_s = statistics.median(r[0] for r in runs)
            inv = runs[0][1]
            walk = replace(base, resource_graph=False)
            subs = [s.id for s in inv.subscriptions]
            timed(walk, subs[0])  # warm-up for the walk too: the ARM clients' SDK imports
            arm_s, arm = timed(walk)  # the product's own fallback, every subscription at once
            sample = subs[: args.walk_sample] if 0 < args.walk_sample < len(subs) else subs
            walked: list[tuple[float, list[float], list[Inventory]]] = []

            async def walk_in_order() -> None:  # returns None: see timed()
                walked.append(await sequential_walk(walk, len(sample)))

            asyncio.run(walk_in_order())
            fixed_s, per, ones = walked[0]
            walk_ok = len(ones) == len(sample) > 0 and all(
                not one.errors and len(one.clusters) == args.clusters for one in ones
            )
            # only the per-subscription part scales with the subscriptions walked
            walk_s = fixed_s + sum(per) * len(subs) / max(1, len(sample))
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    ok_all = all(complete(r[1], args.subscriptions, args.clusters, args.nodes) for r in runs)
    round_trips = graph_s / latency
    ratio = graph_s / walk_s if walk_s else float("inf")
    extrapolated = len(sample) < len(subs)
    walk_how = (
        f"extrapolated: {len(sample)} of {len(subs)} subscriptions walked, their sum x "
        f"{len(subs) / max(1, len(sample)):.1f} + the fixed {fixed_s:.2f}s once"
        if extrapolated
        else f"measured: all {len(subs)} subscriptions walked"
    )
    diff = next((x for r in runs if (x := difference(r[1], arm))), "")
    if arm.discovery.method != "arm" or arm.errors:
        diff = diff or f"the ARM walk went {arm.discovery.method}, {len(arm.errors)} errors"
    same = diff == ""
    d = inv.discovery
    rep.figure("fleet", f"{args.subscriptions}x{args.clusters}x{args.nodes}")
    rep.figure("latency_ms", f"{args.latency_ms:g}")
    rep.figure("method", d.method)
    rep.figure("graph_queries", d.graph_queries)
    rep.figure("graph_pages", d.graph_pages)
    rep.figure("graph_throttled", d.throttled)
    rep.figure("graph_s", graph_s, ".2f")
    rep.figure("graph_runs_s", ", ".join(f"{r[0]:.2f}" for r in runs))
    rep.figure("graph_round_trips", round_trips, ".1f")
    said = f" ({walk_how})" if extrapolated else ""  # a figure from a sample says so
    rep.figure("sequential_walk_s", f"{walk_s:.1f}{said}")
    rep.figure("sequential_walk_measured", walk_how)
    # its parts: paid once per discovery, and per subscription walked (the mean)
    rep.figure("sequential_walk_fixed_s", fixed_s, ".3f")
    rep.figure("sequential_walk_per_subscription_s", sum(per) / max(1, len(per)), ".3f")
    rep.figure(
        "ratio", f"{ratio:.4f}" + (" (against the extrapolated walk)" if extrapolated else "")
    )
    arm_ratio = graph_s / arm_s if arm_s else float("inf")
    rep.figure("concurrent_arm_walk_s", arm_s, ".2f")
    rep.figure("concurrent_arm_walk_ratio", arm_ratio, ".4f")
    rep.figure("same_inventory", "yes" if same else f"no: {diff}")
    rep.goal(
        ok_all and d.method == "resource-graph",
        f"complete inventory through Resource Graph: {len(inv.clusters)} clusters, "
        f"{sum(len(s.instances) for c in inv.clusters for s in c.scale_sets)} nodes",
    )
    rep.goal(
        same,
        "same inventory as the product's concurrent ARM walk "
        + (
            f"(clusters {len(arm.clusters)}, pools {sum(len(c.scale_sets) for c in arm.clusters)}"
            f", instance counts, workspaces {len(arm.workspaces)})"
            if same
            else f"DIFFERS: {diff}"
        ),
    )
    rep.goal(walk_ok, f"sequential walk read {len(sample)} subscriptions completely")
    rep.goal(
        same and round_trips <= ROUND_TRIPS_GOAL,
        f"round trips {round_trips:.1f} <= {ROUND_TRIPS_GOAL:g} (wall / latency)"
        + ("" if same else "; void: the inventory differs from the ARM walk's"),
    )
    rep.goal(
        same and ratio <= RATIO_GOAL,
        f"graph / the sequential per-subscription ARM walk measured in the same run "
        f"{ratio:.4f} <= {RATIO_GOAL:g} ({graph_s:.2f} s vs {walk_s:.1f} s, {walk_how})"
        + f"; against the product's own concurrent ARM walk: {arm_ratio:.3f} "
        f"({graph_s:.2f} s vs {arm_s:.2f} s)"
        + ("" if same else "; void: the inventory differs from the ARM walk's"),
    )
    return rep.print()


if __name__ == "__main__":
    sys.exit(main())

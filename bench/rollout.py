"""Rollout benchmark: node delivery to N Linux nodes whose node script takes S seconds each.

Runs the real delivery (``nodes.delivery.rollout`` through the real kubernetes client) against
the emulator in its own process (``aksaudit emulator``), whose simulated kubelet runs every pod's
launcher for real with ``sh``. Its own process, as ``fleet_rollout`` has it: the API server and
the kubelets are remote, and in-process their work (admission's CEL, ~30 ms a pod create; the
kubelet starting each pod) shared the GIL with the tool measured and was billed to its wall time.
The node script is a stand-in that sleeps S seconds and prints a compliant status line (so "each
node script takes S s" holds exactly; the real script is covered by the tests).

Goals (every figure measured in this run):
- one-shot, concurrency C: wall <= 1.3 x ceil(N / C) x S;
- keeper: wall <= 1.3 x (DaemonSet start + slowest node), where DaemonSet start is the time until
  the keeper pod of every node ran, taken from the emulator's own pod start times (each pod's
  first container start, ``startedAt``, second precision: +0.5 s), not from what the tool
  observed; the slowest node is the script's S seconds;
- API calls per node O(1): calls/node <= 4, one pod watch per run (the stream may be resumed
  from its resourceVersion, never one watch or poll loop per node).

    .venv/bin/python bench/rollout.py [--nodes 500] [--seconds 2] [--concurrency 10]
                                      [--modes one-shot,keeper]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Report, emulator_process, fleet_scenario, sleepy_node_script

SLACK = 1.3
CALLS_PER_NODE_GOAL = 4.0


def _pods_started_at(info: Any, namespace: str) -> list[float]:
    """Epoch seconds at which the emulator started each pod's first container (its own record:
    ``state.running.startedAt``, or ``lastState.terminated.startedAt`` after a restart)."""
    from datetime import datetime

    from kubernetes import client

    from aksaudit_tui.nodes.kube import load_api

    api = client.CoreV1Api(load_api(str(info.kubeconfig), "aks-bench-0", str(info.ca_bundle)))
    try:
        pods = api.list_namespaced_pod(namespace, _preload_content=False)
        items = json.loads(pods.data)["items"]
    finally:
        api.api_client.close()
    out = []
    for pod in items:
        stamps = []
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            for st in (cs.get("state") or {}, cs.get("lastState") or {}):
                for v in st.values():
                    if isinstance(v, dict) and v.get("startedAt"):
                        stamps.append(v["startedAt"])
        if stamps:
            t = datetime.fromisoformat(min(stamps).replace("Z", "+00:00")).timestamp()
            out.append(t + 0.5)  # second precision: the middle of that second
    return out


async def _rollout(info: Any, mode: str, seconds: float, concurrency: int, rep: Report) -> None:
    from aksaudit_tui.nodes.delivery import DeliverySpec, DeliveryStats, NodeResult, rollout
    from aksaudit_tui.nodes.kube import KubeClient, load_api

    kube = KubeClient(load_api(str(info.kubeconfig), "aks-bench-0", str(info.ca_bundle)))
    try:
        nodes = await kube.list_nodes()
        n = sum(1 for x in nodes if x.eligible)
        spec = DeliverySpec(mode=mode, concurrency=concurrency, run_id=f"bench-{mode}")  # type: ignore[arg-type]
        stats = DeliveryStats()
        running_at: dict[str, float] = {}
        t0 = time.monotonic()
        epoch0 = time.time()

        def on_node(r: NodeResult) -> None:
            if r.phase == "running" or (r.final and r.node not in running_at):
                running_at.setdefault(r.node, time.monotonic() - t0)

        results = await rollout(
            kube,
            spec,
            nodes,
            sleepy_node_script(seconds),
            "",
            on_node=on_node,
            deadline_s=max(600.0, 4 * seconds * n / max(1, concurrency)),
            stats=stats,
        )
        wall = time.monotonic() - t0
    finally:
        kube.close()
    ok = sum(1 for r in results if r.phase == "compliant")
    calls = sum(stats.calls.values())
    per_node = calls / max(1, n)
    key = "oneshot" if mode == "one-shot" else "keeper"
    rep.figure(f"{key}.nodes", n)
    rep.figure(f"{key}.compliant", ok)
    rep.figure(f"{key}.node_script_s", seconds, ".1f")
    rep.figure(f"{key}.wall_s", wall, ".1f")
    rep.figure(f"{key}.api_calls", calls)
    rep.figure(f"{key}.calls_per_node", per_node, ".2f")
    rep.figure(f"{key}.calls", ",".join(f"{k}={v}" for k, v in sorted(stats.calls.items())))
    rep.figure(f"{key}.watch_requests", stats.watch_requests)
    rep.figure(f"{key}.watch_relists", stats.relists)
    if mode == "one-shot":
        bound = SLACK * math.ceil(n / concurrency) * seconds
        rep.figure(f"{key}.concurrency", concurrency)
        rep.figure(f"{key}.ideal_s", math.ceil(n / concurrency) * seconds, ".1f")
        rep.figure(f"{key}.wall_over_ideal", wall / (math.ceil(n / concurrency) * seconds), ".3f")
        rep.goal(
            wall <= bound and ok == n,
            f"{key}.wall: {wall:.1f} s <= 1.3 x ceil({n}/{concurrency}) x {seconds:g} s "
            f"= {bound:.1f} s ({ok}/{n} compliant)",
        )
    else:
        started = await asyncio.to_thread(_pods_started_at, info, spec.namespace)
        ds_start = max(started, default=epoch0 + wall) - epoch0
        bound = SLACK * (ds_start + seconds)
        rep.figure(f"{key}.pods_started", len(started))
        rep.figure(f"{key}.daemonset_start_s", ds_start, ".1f")
        rep.figure(f"{key}.tool_saw_all_running_s", max(running_at.values(), default=wall), ".1f")
        rep.figure(f"{key}.wall_over_ideal", wall / (ds_start + seconds), ".3f")
        rep.goal(
            wall <= bound and ok == n and len(started) == n,
            f"{key}.wall: {wall:.1f} s <= 1.3 x (DaemonSet start {ds_start:.1f} s, from the "
            f"emulator's pod start times, + slowest node {seconds:g} s) = {bound:.1f} s "
            f"({ok}/{n} compliant)",
        )
    rep.goal(
        per_node <= CALLS_PER_NODE_GOAL,
        f"{key}.calls_per_node: {per_node:.2f} <= {CALLS_PER_NODE_GOAL:g} (O(1) per node)",
    )
    # One logical watch: resumed streams (the server ends each after its timeout) are fine; a
    # watch per node would show as about n requests.
    resumed_ok = stats.watch_requests <= 1 + math.ceil(wall / 30.0)
    rep.goal(
        resumed_ok,
        f"{key}.watch: {stats.watch_requests} watch request(s) for {n} nodes (one pod watch "
        "per run, resumed)",
    )


def run(nodes: int, seconds: float, concurrency: int, modes: list[str]) -> Report:
    rep = Report("rollout.")
    with tempfile.TemporaryDirectory(prefix="aksaudit-bench-rollout-") as tmp:
        t = time.monotonic()
        with emulator_process(fleet_scenario(nodes), Path(tmp)) as info:
            rep.figure("emulator_start_s", time.monotonic() - t, ".1f")
            for mode in modes:
                asyncio.run(_rollout(info, mode, seconds, concurrency, rep))
    return rep


def main(argv: list[str] | None = None) -> int:
    from aksaudit_tui.nodes.delivery import DeliverySpec

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--concurrency", type=int, default=DeliverySpec().concurrency)
    ap.add_argument("--modes", default="one-shot,keeper")
    args = ap.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in ("one-shot", "keeper"):
            ap.error(f"unknown mode {m!r}: use one-shot and/or keeper")
    return run(args.nodes, args.seconds, args.concurrency, modes).print()


if __name__ == "__main__":
    sys.exit(main())

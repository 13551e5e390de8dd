"""Fleet rollout benchmark: one-shot delivery to K clusters x N nodes at once, through the engine.

The emulator runs in its own process with K clusters of N Linux nodes (default 20 x 100); the
plan naming all K is made by the real ``aksaudit plan``; the run is the real ``Engine.apply``
(access, log path, one-shot delivery per cluster; verify off) in this process, through the real
kubernetes client. The node script is the bench stand-in: S seconds (default 2), then a
compliant status line.

The ideal for the concurrency limits: clusters go at most ``EngineConfig.max_clusters`` at once,
nodes at most the plan's concurrency at once per cluster, so
``ideal = ceil(K / max_clusters) x ceil(N / concurrency) x S``.
Goals: the rollout (first delivery step started to last delivery step finished; the whole apply
is printed too) <= 1.3 x ideal with every node compliant; kube API calls per node <= 4 (O(1): the
engine's own per-cluster call counts, summed over the run); one pod watch per cluster.

    .venv/bin/python bench/fleet_rollout.py [--clusters 20] [--nodes 100] [--seconds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Report,
    emulator_process,
    fleet_scenario,
    make_plan,
    settings_for,
    sleepy_node_script,
)

SLACK = 1.3
CALLS_PER_NODE_GOAL = 4.0


async def _apply(info: Any, plan_path: Path, state: Path) -> tuple[Any, float, float, int, int]:
    from aksaudit_tui.engine import plan_io
    from aksaudit_tui.engine.config import Timing
    from aksaudit_tui.engine.events import NodeUpdate, StepFinished, StepStarted
    from aksaudit_tui.engine.service import Engine

    plan = plan_io.load(plan_path)
    engine = Engine(settings_for(info), state, timing=replace(Timing.fast(), node_deadline_s=900))
    engine.config.verify_after_apply = False
    compliant: set[tuple[str, str]] = set()
    delivery: list[float] = []  # when a delivery step started or finished

    def on_event(ev: Any) -> None:
        if isinstance(ev, NodeUpdate) and ev.phase == "compliant":
            compliant.add((ev.cluster, ev.node))
        elif isinstance(ev, StepStarted | StepFinished) and ev.step == "delivery":
            delivery.append(time.monotonic())

    t0 = time.monotonic()
    result = await engine.apply(plan, on_event)
    apply_s = time.monotonic() - t0
    rollout_s = max(delivery) - min(delivery) if delivery else apply_s
    return result, apply_s, rollout_s, len(compliant), engine.config.max_clusters


def run(clusters: int, nodes: int, seconds: float) -> Report:
    import aksaudit_tui.engine.rules as rules

    orig = rules.prepare

    def prepare(p: Any) -> tuple[str, str]:
        text, _script = orig(p)
        return text, sleepy_node_script(seconds)

    rules.prepare = prepare  # the stand-in node script (see the module doc)
    names = [f"aks-bench-{c}" for c in range(clusters)]
    with (
        tempfile.TemporaryDirectory(prefix="aksaudit-bench-fleet-rollout-") as tmp,
        emulator_process(fleet_scenario(nodes, clusters=clusters), Path(tmp) / "emu") as info,
    ):
        plan_path = make_plan(info, Path(tmp), delivery="one-shot", cluster=names)
        got = asyncio.run(_apply(info, plan_path, Path(tmp) / "state"))
        result, apply_s, wall, ok, max_clusters = got
        conc = _plan_concurrency(plan_path)
    timings = result.summary.get("timings", {})
    total = clusters * nodes
    calls = sum(v for k, v in timings.items() if k.endswith(".delivery_calls"))
    watches = sum(v for k, v in timings.items() if k.endswith(".delivery_watch_requests"))
    ideal = math.ceil(clusters / max_clusters) * math.ceil(nodes / conc) * seconds
    per_node = calls / max(1, total)
    rep = Report("fleet_rollout.")
    rep.figure("clusters", clusters)
    rep.figure("nodes_per_cluster", nodes)
    rep.figure("max_clusters", max_clusters)
    rep.figure("concurrency", conc)
    rep.figure("node_script_s", seconds, ".1f")
    rep.figure("outcome", result.outcome)
    rep.figure("compliant", ok)
    rep.figure("apply_s", apply_s, ".1f")
    rep.figure("rollout_s", wall, ".1f")
    rep.figure("ideal_s", ideal, ".1f")
    rep.figure("wall_over_ideal", wall / ideal, ".3f")
    rep.figure("api_calls", int(calls))
    rep.figure("calls_per_node", per_node, ".2f")
    rep.figure("watch_requests", int(watches))
    rep.goal(
        wall <= SLACK * ideal and ok == total,
        f"rollout: {wall:.1f} s <= 1.3 x ceil({clusters}/{max_clusters}) x ceil({nodes}/{conc}) x "
        f"{seconds:g} s = {SLACK * ideal:.1f} s ({ok}/{total} compliant)",
    )
    rep.goal(
        0 < per_node <= CALLS_PER_NODE_GOAL,
        f"calls_per_node: {per_node:.2f} <= {CALLS_PER_NODE_GOAL:g} (O(1) per node; "
        f"{int(watches)} pod watch requests for {clusters} clusters)",
    )
    return rep


def _plan_concurrency(plan_path: Path) -> int:
    from aksaudit_tui.engine import plan_io

    return int(plan_io.load(plan_path).concurrency)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=int, default=20)
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args(argv)
    return run(args.clusters, args.nodes, args.seconds).print()


if __name__ == "__main__":
    sys.exit(main())

"""bench/fleet_discovery.py at a tiny size, so its code cannot rot: it runs for real (an emulator
process serving a generated fleet, discovery through Resource Graph and the sequential ARM walk)
and prints its figures and goals in the agreed format. Timings are not asserted here (this
machine is shared); ``make bench`` judges them."""

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
    assert figures["fleet_discovery.sequential_walk_measured"].startswith("2 of 3")
    for name in ("graph_s", "graph_round_trips", "sequential_walk_s", "ratio"):
        float(figures[f"fleet_discovery.{name}"])
    # completeness is not a timing: it must hold at any size
    complete = "passed fleet_discovery.complete inventory through Resource Graph: 6 clusters"
    assert complete + ", 18 nodes" in lines
    assert any(ln.startswith("passed fleet_discovery.sequential walk read 2") for ln in lines)

"""Verify benchmark: KQL queries the log-arrival check issues for N Linux nodes.

Runs the real ``Engine.verify`` (plan of one N-node cluster, one workspace) against the in-process
emulator for a few polls (no node ships lines, so every poll asks for every node) and counts the
queries the emulated Log Analytics query API received while polling.

Goal: queries = 1 per workspace per poll (not one per node).

    .venv/bin/python bench/verify_queries.py [--nodes 500] [--polls 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Report, emulator, fleet_scenario, make_plan, settings_for


def _logs_queries(emu: Any) -> int:
    with emu.state.lock:
        return sum(v for k, v in emu.state.requests.items() if k.endswith("logs_query"))


async def _verify(emu: Any, plan_path: Path, polls: int, poll_s: float) -> dict[str, Any]:
    from aksaudit_tui.engine import plan_io
    from aksaudit_tui.engine.events import Event, VerifyWaiting
    from aksaudit_tui.engine.service import Engine

    plan = plan_io.load(plan_path)
    engine = Engine(settings_for(emu.info), plan_path.parent / "state", verify_poll_s=poll_s)
    seen: dict[str, Any] = {"polls": 0, "queries_at_last_poll": 0, "expected": 0}
    before = _logs_queries(emu)
    cancel = asyncio.Event()

    def on_event(ev: Event) -> None:
        if isinstance(ev, VerifyWaiting):
            seen["polls"] += 1
            seen["expected"] = ev.expected
            seen["queries_at_last_poll"] = _logs_queries(emu) - before
            if seen["polls"] >= polls:
                cancel.set()  # enough polls; skips the per-node diagnosis (not measured here)

    t0 = time.monotonic()
    report = await engine.verify(
        plan, since=timedelta(minutes=15), on_event=on_event, deadline_s=600.0, cancel=cancel
    )
    seen["seconds"] = time.monotonic() - t0
    seen["report_queries"] = report.queries
    seen["workspaces"] = 1
    return seen


def run(nodes: int, polls: int, poll_s: float = 1.0) -> Report:
    rep = Report("verify.")
    with (
        tempfile.TemporaryDirectory(prefix="aksaudit-bench-verify-") as tmp,
        emulator(fleet_scenario(nodes), Path(tmp) / "emu") as emu,
    ):
        plan_path = make_plan(emu.info, Path(tmp), delivery="one-shot")
        got = asyncio.run(_verify(emu, plan_path, polls, poll_s))
    per = got["queries_at_last_poll"] / max(1, got["polls"] * got["workspaces"])
    rep.figure("nodes", got["expected"])
    rep.figure("workspaces", got["workspaces"])
    rep.figure("polls", got["polls"])
    rep.figure("kql_queries", got["queries_at_last_poll"])
    rep.figure("queries_per_workspace_per_poll", per, ".2f")
    rep.goal(
        got["polls"] > 0 and got["expected"] == nodes and per == 1.0,
        f"queries_per_workspace_per_poll: {got['queries_at_last_poll']} queries for "
        f"{got['expected']} nodes over {got['polls']} poll(s) = {per:.2f} per workspace per poll "
        "(goal 1)",
    )
    return rep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--polls", type=int, default=3)
    args = ap.parse_args(argv)
    return run(args.nodes, max(1, args.polls)).print()


if __name__ == "__main__":
    sys.exit(main())

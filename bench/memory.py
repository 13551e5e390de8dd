"""Memory benchmark: peak RSS of the tool's own process, measured from the parent (wait4 rusage of
that child only; the emulator runs in the parent, so its memory is not counted).

- status view: the real ``AksauditApp`` (headless, Pilot) on the status screen (the fleet view)
  with a report of N nodes (default 10,000: 100 clusters x 100), walked down. Goal < 200 MB.
- apply: the real ``aksaudit apply plan.yaml --yes --no-verify`` (keeper delivery) against the
  emulator with N nodes (default 500); the node script is the bench stand-in (2 s, then a
  compliant status line), which does not change what the tool itself holds. Goal < 250 MB.
- baseline: a bare interpreter importing Textual, for scale.

    .venv/bin/python bench/memory.py [--status-nodes 5000] [--apply-nodes 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    PYTHON,
    Report,
    emulator,
    emulator_env,
    fleet_scenario,
    make_plan,
    peak_rss_mb,
    run_child_rss,
    sleepy_node_script,
)

STATUS_GOAL_MB = 200.0
APPLY_GOAL_MB = 250.0


# --- children --------------------------------------------------------------------------------


def _status_report(nodes: int, clusters: int) -> Any:
    from aksaudit_tui.engine.coverage import ClusterCoverage, NodeRow, StatusReport

    per = max(1, nodes // clusters)
    out = []
    for c in range(clusters):
        rows = tuple(
            NodeRow(
                node=f"aks-pool{i // 100}-{c:04d}5678-vmss{i % 100:06d}",
                pool=f"pool{i // 100}",
                os="Ubuntu2204",
                audit_version="3.0.7",
                auditd_running=True,
                plugin_facility="authpriv",
                rules_match=i % 17 != 0,
                log_path_ok=True,
                last_seen="2026-11-27T07:59:00Z" if i % 13 else None,
                delivery_ready=True,
                records=7,
                state="drift" if i % 17 == 0 else ("covered" if i % 13 else "silent"),
                reason="heartbeat 1 min ago" if i % 13 else "no heartbeat in the workspace",
                fix="" if i % 13 else "check rsyslog and the agent pod on the node",
                last_heartbeat="2026-11-27T07:59:00Z" if i % 13 else None,
            )
            for i in range(per)
        )
        out.append(
            ClusterCoverage(
                f"aks-bench-{c}",
                rows,
                log_path="container-insights",
                subscription=f"sub-{c % 10}",
                enabled=True,
                enabled_by="bench@example.com",
                applied_at="2026-11-27T07:00:00+00:00",
                last_heartbeat="2026-11-27T07:59:00Z",
                hourly=tuple(range(24)),
            )
        )
    return StatusReport(tuple(out), "2026-11-27T08:00:00Z")


def _child_status(nodes: int) -> None:
    """The fleet view: one row per cluster (100 clusters), the nodes of the highlighted one;
    the whole report (every node) is held by the screen's model."""
    from aksaudit_tui.tui.app import AksauditApp
    from ui_lag import BenchEngine

    clusters = max(1, nodes // 100)

    class StatusEngine(BenchEngine):
        async def status(self, cluster_name: str | None = None, **_kw: Any) -> Any:
            return _status_report(nodes, clusters)

    async def go() -> dict[str, Any]:
        app = AksauditApp(StatusEngine(0, 0), keymap={}, animations=False)  # type: ignore[arg-type]
        rows = held = 0
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.pause()
            app.goto("status")
            t0 = time.monotonic()
            from textual.widgets import DataTable

            while time.monotonic() - t0 < 120:
                await pilot.pause(0.1)
                try:
                    rows = app.screen.query_one("#fleet-table", DataTable).row_count
                except Exception:
                    rows = 0
                if rows >= clusters:
                    break
            # walk down the fleet: each cluster's nodes are drawn in turn
            for _ in range(min(clusters, 20)):
                await pilot.press("down")
            await pilot.pause(0.3)
            model = getattr(app.screen, "model", None)
            held = sum(len(c.nodes) for c in model.report.clusters) if model else 0
            screen = type(app.screen).__name__
        return {"rows": rows, "nodes": held, "screen": screen, "vmhwm_mb": peak_rss_mb()}

    print("BENCH " + json.dumps(asyncio.run(go())), flush=True)


def _child_apply(plan: str, seconds: float) -> None:
    import aksaudit_tui.engine.rules as rules
    from aksaudit_tui.cli.main import main

    orig = rules.prepare

    def prepare(p: Any) -> tuple[str, str]:
        rules, _script = orig(p)
        return rules, sleepy_node_script(seconds)

    rules.prepare = prepare
    rc = main(["apply", plan, "--yes", "--no-verify", "--json"])
    print("BENCH " + json.dumps({"rc": rc, "vmhwm_mb": peak_rss_mb()}), flush=True)


def _child_baseline() -> None:
    import textual.app  # noqa: F401

    print("BENCH " + json.dumps({"vmhwm_mb": peak_rss_mb()}), flush=True)


def _bench_line(text: str) -> dict[str, Any]:
    for line in text.splitlines():
        if line.startswith("BENCH "):
            data: dict[str, Any] = json.loads(line[6:])
            return data
    return {}


# --- parent ----------------------------------------------------------------------------------


def run(status_nodes: int, apply_nodes: int, seconds: float = 2.0) -> Report:
    rep = Report("memory.")
    me = str(Path(__file__).resolve())
    base = run_child_rss([PYTHON, me, "--child", "baseline"], timeout=120)
    rep.figure("textual_baseline_mb", base.peak_rss_mb, ".1f")

    st = run_child_rss([PYTHON, me, "--child", "status", "--status-nodes", str(status_nodes)],
                       timeout=600)  # fmt: skip
    got = _bench_line(st.stdout)
    rows = int(got.get("rows", 0))
    held = int(got.get("nodes", 0))
    rep.figure("status_nodes", status_nodes)
    rep.figure("status_fleet_rows", rows)
    rep.figure("status_nodes_held", held)
    rep.figure("status_view_peak_mb", st.peak_rss_mb, ".1f")
    rep.goal(
        st.peak_rss_mb < STATUS_GOAL_MB and held >= status_nodes and rows >= status_nodes // 100,
        f"status_view_peak: {st.peak_rss_mb:.1f} MB < {STATUS_GOAL_MB:g} MB with "
        f"{held} nodes in {rows} fleet rows"
        + ("" if st.returncode == 0 else f"; child failed: {st.stderr.strip()[-300:]}"),
    )

    with (
        tempfile.TemporaryDirectory(prefix="aksaudit-bench-mem-") as tmp,
        emulator(fleet_scenario(apply_nodes), Path(tmp) / "emu") as emu,
    ):
        plan = make_plan(emu.info, Path(tmp), delivery="keeper")
        env = emulator_env(emu.info)
        env["XDG_STATE_HOME"] = str(Path(tmp) / "state")
        t0 = time.monotonic()
        ap = run_child_rss(
            [PYTHON, me, "--child", "apply", "--plan", str(plan), "--seconds", str(seconds)],
            env=env,
            timeout=900,
        )
        wall = time.monotonic() - t0
    got = _bench_line(ap.stdout)
    rc = got.get("rc", ap.returncode)
    rep.figure("apply_nodes", apply_nodes)
    rep.figure("apply_exit_code", rc)
    rep.figure("apply_s", wall, ".1f")
    rep.figure("apply_peak_mb", ap.peak_rss_mb, ".1f")
    rep.goal(
        ap.peak_rss_mb < APPLY_GOAL_MB and rc == 0,
        f"apply_peak: {ap.peak_rss_mb:.1f} MB < {APPLY_GOAL_MB:g} MB for {apply_nodes} nodes "
        f"(exit code {rc})" + ("" if rc == 0 else f"; stderr: {ap.stderr.strip()[-300:]}"),
    )
    return rep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--status-nodes", type=int, default=10000)
    ap.add_argument("--apply-nodes", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--child", choices=("status", "apply", "baseline"))
    ap.add_argument("--plan")
    args = ap.parse_args(argv)
    if args.child == "status":
        _child_status(args.status_nodes)
        return 0
    if args.child == "apply":
        _child_apply(args.plan, args.seconds)
        return 0
    if args.child == "baseline":
        _child_baseline()
        return 0
    return run(args.status_nodes, args.apply_nodes, args.seconds).print()


if __name__ == "__main__":
    sys.exit(main())

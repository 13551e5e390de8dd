"""The benchmarks at tiny sizes, so their code cannot rot: each runs for real (emulator, engine,
TUI under Pilot) and must print its figures and goals in the agreed format. Timings are not
asserted here (this machine is shared); ``make bench`` judges them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
FIGURE = re.compile(r"^[A-Za-z0-9_.\-/]+: \S.*$")
GOAL = re.compile(r"^(passed|failed) \S.*$")


def run_bench(script: str, *args: str, timeout: float = 240) -> list[str]:
    r = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert lines, f"{script} printed nothing; stderr: {r.stderr[-2000:]}"
    return lines


def check_format(lines: list[str], names: list[str]) -> dict[str, str]:
    """Figures first (``name: value``), then goals (``passed|failed text``); nothing else."""
    goals_from = next((i for i, ln in enumerate(lines) if GOAL.match(ln)), len(lines))
    figures = lines[:goals_from]
    goals = lines[goals_from:]
    assert goals, f"no goal lines: {lines}"
    for ln in figures:
        assert FIGURE.match(ln), f"not a 'name: value' line: {ln!r}"
    for ln in goals:
        assert GOAL.match(ln), f"not a passed/failed line: {ln!r}"
    found = dict(ln.split(": ", 1) for ln in figures)
    for n in names:
        assert n in found, f"figure {n} missing from {sorted(found)}"
    return found


def test_report_format_round_trips() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from common import Report, parse_report, percentile
    finally:
        sys.path.remove(str(BENCH))
    rep = Report("x.")
    rep.figure("ratio", 0.1234)
    rep.figure("count", 3)
    rep.goal(True, "ratio: 0.12 <= 0.15")
    rep.goal(False, "count: 3 <= 2")
    assert rep.lines() == [
        "x.ratio: 0.123",
        "x.count: 3",
        "passed x.ratio: 0.12 <= 0.15",
        "failed x.count: 3 <= 2",
    ]
    assert not rep.ok
    back = parse_report("\n".join(["noise", *rep.lines()]))
    assert back.figures == rep.figures and back.goals == rep.goals
    # a bench with a bare verdict gets a goal named after its prefix
    bare = parse_report("ratio: 0.05\npassed\n", "discovery.")
    assert bare.figures == [("discovery.ratio", "0.05")]
    assert bare.goals == [(True, "discovery")]
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile(list(map(float, range(1, 101))), 99) == 99.0


def test_rollout_tiny() -> None:
    lines = run_bench("rollout.py", "--nodes", "3", "--seconds", "0.2", "--concurrency", "2")
    f = check_format(
        lines,
        [
            "rollout.oneshot.wall_s",
            "rollout.oneshot.calls_per_node",
            "rollout.oneshot.watch_requests",
            "rollout.keeper.wall_s",
            "rollout.keeper.daemonset_start_s",
        ],
    )
    assert f["rollout.oneshot.compliant"] == "3" and f["rollout.keeper.compliant"] == "3"
    assert f["rollout.oneshot.watch_requests"] == "1"


def test_verify_queries_tiny() -> None:
    f = check_format(
        run_bench("verify_queries.py", "--nodes", "3", "--polls", "2"),
        ["verify.kql_queries", "verify.polls", "verify.queries_per_workspace_per_poll"],
    )
    assert f["verify.nodes"] == "3"


def test_ui_lag_tiny() -> None:
    lines = run_bench("ui_lag.py", "--nodes", "3", "--seconds", "0.2", "--verify-s", "90")
    f = check_format(lines, ["ui.lag_p99_ms", "ui.lag_max_ms", "ui.lag_samples"])
    # the real engine ran the real keeper rollout on the emulator's three nodes, and the records
    # of the nodes the stand-in configured reached the workspace: verify passed
    assert f["ui.screen"] == "RunScreen" and f["ui.compliant"] == "3"
    assert f["ui.verify_step"] == "done", lines
    assert any(ln.startswith("passed ui.verify ok") for ln in lines), lines


def test_fleet_tui_tiny() -> None:
    f = check_format(
        run_bench("fleet_tui.py", "--clusters", "12", "--nodes", "24"),
        ["fleet_tui.peak_rss_mb", "fleet_tui.lag_p99_ms", "fleet_tui.key_p99_ms"],
    )
    assert f["fleet_tui.clusters_shown"] == "12"
    assert int(f["fleet_tui.clusters_picked"]) > 0
    assert float(f["fleet_tui.peak_rss_mb"]) > 10  # the child's own high-water mark


def test_fleet_rollout_tiny() -> None:
    f = check_format(
        run_bench("fleet_rollout.py", "--clusters", "2", "--nodes", "3", "--seconds", "0.2"),
        ["fleet_rollout.rollout_s", "fleet_rollout.ideal_s", "fleet_rollout.calls_per_node"],
    )
    # the engine rolled out to every node of both clusters, one pod watch per cluster
    assert f["fleet_rollout.compliant"] == "6" and f["fleet_rollout.outcome"] == "ok"
    assert f["fleet_rollout.watch_requests"] == "2" and int(f["fleet_rollout.api_calls"]) > 0


def test_emulator_load_tiny() -> None:
    f = check_format(
        run_bench("emulator_load.py", "--nodes", "3", "--seconds", "0.5", "--concurrency", "2"),
        ["emulator.requests_per_s", "emulator.wall_s"],
    )
    assert f["emulator.errors"] == "0" and int(f["emulator.requests"]) > 0


def test_startup_tiny() -> None:
    f = check_format(
        run_bench("startup.py", "--repeats", "1"),
        [
            "startup.bare_median_s",
            "startup.aksaudit_median_s",
            "startup.cpu_ratio",
            "startup.ratio",
        ],
    )
    assert f["startup.first_screen"] == "StartScreen"


def test_memory_tiny() -> None:
    f = check_format(
        run_bench("memory.py", "--status-nodes", "30", "--apply-nodes", "2", "--seconds", "0.2"),
        ["memory.status_view_peak_mb", "memory.apply_peak_mb"],
    )
    # the fleet view: one row per cluster (30 nodes: one cluster), every node held
    assert f["memory.status_nodes_held"] == "30" and f["memory.status_fleet_rows"] == "1"
    assert f["memory.apply_exit_code"] == "0"
    assert float(f["memory.apply_peak_mb"]) > 10  # the child's own high-water mark, not 0


def test_status_tiny() -> None:
    f = check_format(
        run_bench("status.py", "--clusters", "2", "--nodes", "2", "--latency-ms", "20",
                  "--kube-latency-ms", "5"),
        ["status_s", "discovery_s", "ratio", "kql_queries", "status_cpu_ms_per_cluster"],
    )  # fmt: skip
    assert f["clusters"] == "2" and f["clusters_enabled"] == "1" and f["nodes"] == "4"
    assert float(f["status_cpu_s"]) > 0 and float(f["discovery_cpu_s"]) > 0
    assert f["kql_queries"] == "1"  # one recorded workspace: one query


def test_first_row_tiny() -> None:
    f = check_format(
        run_bench("first_row.py", "--subscriptions", "2", "--clusters", "1", "--latency-ms",
                  "20", "--repeats", "1"),
        [
            "first_row.at_20ms.filled_round_trips",
            "first_row.at_40ms.filled_round_trips",
            "first_row.at_20ms.listed_round_trips",
        ],
    )  # fmt: skip
    # a filled row cannot come before the listed one
    assert (
        float(f["first_row.at_20ms.filled_s"])
        >= float(f["first_row.at_20ms.listed_round_trips"]) * 0.02
    )


def test_run_py_collects_a_bench(capsys: pytest.CaptureFixture[str]) -> None:
    """run.py's own path: run one bench in a child, prefix its figures, print the format."""
    sys.path.insert(0, str(BENCH))
    try:
        import run as runner
    finally:
        sys.path.remove(str(BENCH))
    tiny = runner.Bench("rollout", "rollout.py", (), ("--nodes", "2", "--seconds", "0.1",
                        "--modes", "keeper"))  # fmt: skip
    rep = runner.run_bench(tiny, quick=True)
    rep.print()  # the verdicts are timings: not judged here, only the format
    lines = capsys.readouterr().out.splitlines()
    check_format(lines, ["rollout.keeper.wall_s", "bench.rollout_s"])
    missing = runner.run_bench(runner.Bench("nope", "nope.py", (), ()), quick=True)
    assert missing.lines() == ["failed nope: nope.py is missing"]


def test_run_py_lists_every_bench_script() -> None:
    lines = run_bench("run.py", "--list")
    for ln in lines:
        name, script = ln.split(": ", 1)
        assert (REPO / script).exists(), f"{name}: {script} missing"


def test_run_py_writes_the_record_and_the_readme_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run writes every bench's figures and goals to the JSON record, and the README's
    generated region is rebuilt from that record alone (no figure typed by hand)."""
    sys.path.insert(0, str(BENCH))
    try:
        import results
        import run as runner
    finally:
        sys.path.remove(str(BENCH))
    tiny = runner.Bench("verify", "verify_queries.py", (), ("--nodes", "2", "--polls", "1"))
    missing = runner.Bench("nope", "nope.py", (), ())
    monkeypatch.setattr(runner, "BENCHES", (tiny, missing))
    record = tmp_path / "latest.json"
    rc = runner.main(["--quick", "--json", str(record)])
    out = capsys.readouterr().out.splitlines()
    assert rc == 1  # the missing bench failed
    data = json.loads(record.read_text())
    assert data["mode"] == "quick" and data["command"] == "bench/run.py --quick"
    assert [b["name"] for b in data["benches"]] == ["verify", "nope"]
    verify = data["benches"][0]
    assert verify["figures"]["verify.nodes"] == "2"
    assert [g["name"] for g in verify["goals"]] == ["verify.queries_per_workspace_per_poll"]
    assert data["benches"][1]["goals"] == [
        {"name": "nope", "passed": False, "text": "nope: nope.py is missing"}
    ]
    assert data["passed"] is False
    # every goal printed is in the record, with the same verdict
    printed = [ln for ln in out if ln.startswith(("passed ", "failed "))]
    recorded = [
        f"{'passed' if g['passed'] else 'failed'} {g['text']}"
        for b in data["benches"]
        for g in b["goals"]
    ]
    assert printed == recorded

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{results.BEGIN}\nold table\n{results.END}\nafter\n")
    assert results.regenerate(record, readme)
    text = readme.read_text()
    region = text.split(results.BEGIN)[1].split(results.END)[0]
    assert "old table" not in region and text.endswith("after\n")
    assert "`bench/run.py --quick` (quick sizes)" in region
    assert "| nope | nope | nope.py is missing | **failed** |" in region
    assert "| verify | verify.queries_per_workspace_per_poll |" in region
    assert "1 of 2 goals passed." in region or "0 of 2 goals passed." in region
    assert not results.regenerate(record, readme)  # idempotent
    assert results.main(["--json", str(record), "--readme", str(readme), "--check"]) == 0


def test_readme_table_is_the_records() -> None:
    """The committed README shows the committed record (regenerated, not edited by hand)."""
    sys.path.insert(0, str(BENCH))
    try:
        import results
    finally:
        sys.path.remove(str(BENCH))
    assert results.main(["--check"]) == 0

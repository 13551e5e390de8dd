"""Run every benchmark and print every figure, then one ``passed``/``failed`` line per goal.

Each bench runs in its own interpreter (its memory and event loop are its own; one crashing does
not take the others with it). Output: one ``name: value`` line per figure, then ``passed ...`` or
``failed ...`` per goal; exit 1 when any goal failed (or a bench crashed). A run of every bench
also writes its record to ``bench/results/latest.json`` (``results.py``); ``--readme`` then
regenerates the README's performance table from it.

A new bench is one script that prints ``common.Report``'s format, plus one ``Bench`` entry in
``BENCHES`` below: its figures and goals reach the output, the record and the README by that.

    .venv/bin/python bench/run.py            # the full set (issue 6 sizes), about 10 minutes
    .venv/bin/python bench/run.py --quick --readme   # reduced sizes, about 3 minutes
    .venv/bin/python bench/run.py --only rollout,ui --quick   # no record written
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import results
from common import BENCH, PYTHON, Report, parse_report, run_child


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    prefix: str = ""  # for benches that print unprefixed names (and a bare passed/failed)
    timeout: float = 1200.0


BENCHES: tuple[Bench, ...] = (
    Bench("startup", "startup.py", ("--repeats", "7"), ("--repeats", "3")),
    Bench(
        "discovery",
        "discovery.py",
        (),
        # 4 subscriptions (was 8): the bench's time is its sequential walk (225 calls at 150 ms
        # for 8). Fewer subscriptions leave the concurrent walk less to overlap, so the ratio
        # judged is no easier: 0.089 at 4, 0.088 at 8 (27 s instead of 51 s).
        ("--subscriptions", "4", "--clusters", "5"),
        prefix="discovery.",
    ),
    Bench(
        "fleet_discovery",
        "fleet_discovery.py",
        ("--walk-sample", "40"),
        # the sequential walk is a baseline sampled either way (its per-subscription part
        # scaled to every subscription, its fixed part once; the figure says so): 5 of 50
        # alike subscriptions judge the same ratio
        ("--subscriptions", "50", "--walk-sample", "5", "--repeats", "2"),
    ),
    Bench("first_row", "first_row.py", (), ("--subscriptions", "8", "--repeats", "2")),
    Bench("emulator", "emulator_load.py", (), ("--seconds", "3")),
    # 50 nodes (was 100): 5 waves of the one-shot's 10 instead of 10. Fixed costs weigh more
    # per node and per wave, so both goals (wall <= 1.3 x ideal, calls per node) are no easier:
    # 1.05 x ideal and 3.50 calls a node at 50, 1.04 and 3.25 at 100 (17 s instead of 28 s).
    Bench("rollout", "rollout.py", ("--nodes", "500"), ("--nodes", "50")),
    Bench("verify", "verify_queries.py", ("--nodes", "500"), ("--nodes", "100", "--polls", "2")),
    Bench("ui", "ui_lag.py", ("--nodes", "500"), ("--nodes", "100", "--verify-s", "60")),
    Bench(
        "status",
        "status.py",
        (),
        ("--clusters", "20", "--nodes", "20"),
        prefix="status.",
    ),
    Bench(
        "memory",
        "memory.py",
        ("--status-nodes", "10000", "--apply-nodes", "500"),
        ("--status-nodes", "10000", "--apply-nodes", "100"),
    ),
    Bench("fleet_tui", "fleet_tui.py", (), ("--clusters", "300", "--nodes", "3000")),
    Bench("fleet_rollout", "fleet_rollout.py", (), ("--clusters", "4", "--nodes", "25")),
)


def run_bench(b: Bench, quick: bool, extra: tuple[str, ...] = ()) -> Report:
    return run_one(b, quick, extra).report


def run_one(b: Bench, quick: bool, extra: tuple[str, ...] = ()) -> results.BenchRun:
    script = BENCH / b.script
    if not script.exists():
        rep = Report()
        rep.goal(False, f"{b.name}: {b.script} is missing")
        return results.BenchRun(b.name, b.script, 0.0, -1, rep)
    argv = [PYTHON, str(script), *(b.quick if quick else b.full), *extra]
    t0 = time.monotonic()
    r = run_child(argv, cwd=BENCH.parent, timeout=b.timeout)
    seconds = time.monotonic() - t0
    rep = parse_report(r.stdout, b.prefix)
    rep.figures.append((f"bench.{b.name}_s", f"{seconds:.1f}"))
    if r.returncode != 0 and not any(not ok for ok, _ in rep.goals):
        last = (r.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        rep.goal(False, f"{b.name}: bench exited {r.returncode}: {last[:300]}")
    if not rep.goals:
        rep.goal(False, f"{b.name}: bench printed no goal")
    return results.BenchRun(b.name, b.script, seconds, r.returncode, rep)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="reduced sizes, under 3 minutes")
    ap.add_argument("--only", default="", help="comma-separated bench names: " + ", ".join(
        b.name for b in BENCHES))  # fmt: skip
    ap.add_argument("--list", action="store_true", help="list the benches and exit")
    ap.add_argument("--json", type=Path, default=None, help="where to write the run's record "
                    "(default: bench/results/latest.json for a run of every bench)")  # fmt: skip
    ap.add_argument(
        "--readme", action="store_true", help="regenerate the README's table from the record"
    )
    args = ap.parse_args(argv)
    if args.list:
        for b in BENCHES:
            print(f"{b.name}: bench/{b.script}")
        return 0
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    unknown = only - {b.name for b in BENCHES}
    if unknown:
        ap.error(f"unknown bench(es): {', '.join(sorted(unknown))}")
    # A partial run does not replace the record of a whole one (unless asked to).
    json_path = args.json or (None if only else results.LATEST)
    if args.readme and json_path is None:
        ap.error("--readme needs the record of a run of every bench (drop --only, or --json)")
    started = datetime.now(UTC)
    commit = results.current_commit()  # what is measured: the tree as the run starts
    load_start = os.getloadavg()[0]
    runs: list[results.BenchRun] = []
    for b in BENCHES:
        if only and b.name not in only:
            continue
        print(f"# {b.name} ...", file=sys.stderr, flush=True)
        runs.append(run_one(b, args.quick))
    # Context for the timings: other work on this shared machine (ratios absorb most of it).
    machine = {
        "cpus": os.cpu_count() or 0,
        "load_1m_start": round(load_start, 1),
        "load_1m_end": round(os.getloadavg()[0], 1),
    }
    total = Report()
    total.figure("machine.cpus", machine["cpus"])
    total.figure("machine.load_1m_start", machine["load_1m_start"], ".1f")
    total.figure("machine.load_1m_end", machine["load_1m_end"], ".1f")
    for r in runs:
        total.extend(r.report)
    if json_path is not None:
        command = "bench/run.py" + (" --quick" if args.quick else "")
        command += f" --only {','.join(sorted(only))}" if only else ""
        mode = "quick" if args.quick else "full"
        data = results.record(
            runs, command=command, mode=mode, started=started, machine=machine, commit=commit
        )
        results.write(data, json_path)
        print(f"# record: {json_path}", file=sys.stderr)
        if args.readme:
            results.regenerate(json_path)
            print(f"# README table regenerated from {json_path}", file=sys.stderr)
    return total.print()


if __name__ == "__main__":
    sys.exit(main())

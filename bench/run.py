"""Run every benchmark and print every figure, then one ``passed``/``failed`` line per goal.

Each bench runs in its own interpreter (its memory and event loop are its own; one crashing does
not take the others with it). Output: one ``name: value`` line per figure, then ``passed ...`` or
``failed ...`` per goal; exit 1 when any goal failed (or a bench crashed).

    .venv/bin/python bench/run.py            # the full set (issue 6 sizes), about 10 minutes
    .venv/bin/python bench/run.py --quick    # reduced sizes, under 3 minutes
    .venv/bin/python bench/run.py --only rollout,ui --quick
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

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
        ("--subscriptions", "8", "--clusters", "5"),
        prefix="discovery.",
    ),
    Bench("first_row", "first_row.py", (), ("--subscriptions", "8", "--repeats", "2")),
    Bench("emulator", "emulator_load.py", (), ("--seconds", "3")),
    Bench("rollout", "rollout.py", ("--nodes", "500"), ("--nodes", "100")),
    Bench("verify", "verify_queries.py", ("--nodes", "500"), ("--nodes", "100", "--polls", "2")),
    Bench("ui", "ui_lag.py", ("--nodes", "500"), ("--nodes", "500", "--seconds", "4")),
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
)


def run_bench(b: Bench, quick: bool, extra: tuple[str, ...] = ()) -> Report:
    script = BENCH / b.script
    if not script.exists():
        rep = Report()
        rep.goal(False, f"{b.name}: {b.script} is missing")
        return rep
    argv = [PYTHON, str(script), *(b.quick if quick else b.full), *extra]
    t0 = time.monotonic()
    r = run_child(argv, cwd=BENCH.parent, timeout=b.timeout)
    rep = parse_report(r.stdout, b.prefix)
    rep.figures.append((f"bench.{b.name}_s", f"{time.monotonic() - t0:.1f}"))
    if r.returncode != 0 and not any(not ok for ok, _ in rep.goals):
        last = (r.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        rep.goal(False, f"{b.name}: bench exited {r.returncode}: {last[:300]}")
    if not rep.goals:
        rep.goal(False, f"{b.name}: bench printed no goal")
    return rep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="reduced sizes, under 3 minutes")
    ap.add_argument("--only", default="", help="comma-separated bench names: " + ", ".join(
        b.name for b in BENCHES))  # fmt: skip
    ap.add_argument("--list", action="store_true", help="list the benches and exit")
    args = ap.parse_args(argv)
    if args.list:
        for b in BENCHES:
            print(f"{b.name}: bench/{b.script}")
        return 0
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    unknown = only - {b.name for b in BENCHES}
    if unknown:
        ap.error(f"unknown bench(es): {', '.join(sorted(unknown))}")
    total = Report()
    # Context for the timings: other work on this shared machine (ratios absorb most of it).
    total.figure("machine.cpus", os.cpu_count() or 0)
    total.figure("machine.load_1m_start", os.getloadavg()[0], ".1f")
    for b in BENCHES:
        if only and b.name not in only:
            continue
        print(f"# {b.name} ...", file=sys.stderr, flush=True)
        total.extend(run_bench(b, args.quick))
    load = total.figures.pop(1)
    total.figures[1:1] = [load, ("machine.load_1m_end", f"{os.getloadavg()[0]:.1f}")]
    return total.print()


if __name__ == "__main__":
    sys.exit(main())

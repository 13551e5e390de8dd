"""Emulator load benchmark: 500 nodes, concurrent HTTPS clients, requests per second.

Starts ``aksaudit emulator`` in its own process (as scripts and the demo use it) with a fleet of
500 Linux nodes, then drives it from this process with a bounded number of concurrent aiohttp
requests over loopback TLS: the ARM reads discovery and status make (clusters, scale sets, their
instances and extensions, workspaces, rules) plus Log Analytics queries. Judged on what a user of
the emulator sees: requests answered per second of wall time (goal >= 500/s, no errors), with the
emulator's GET answer cache off, so every answer is computed (``--cache`` turns it on, as the
demo has it). The emulator's CPU seconds are printed beside it, to tell a slow emulator from a
busy machine.

    .venv/bin/python bench/emulator_load.py [--nodes 500] [--concurrency 32] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PYTHON, REPO, SUBSCRIPTION, WORKSPACE_CUSTOMER_ID, Report, fleet_scenario

GOAL_RPS = 500.0
TOKEN = "aksaudit-bench-token"


def start_emulator(
    scenario: dict[str, Any], state_dir: Path
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    path = state_dir / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    proc = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "aksaudit_tui",
            "emulator",
            "--scenario",
            str(path),
            "--state-dir",
            str(state_dir / "emu"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit("emulator did not start (no JSON line)")
    return proc, json.loads(line)


async def discover_urls(
    session: Any, base: str, headers: dict[str, str]
) -> list[tuple[str, str, Any]]:
    """The request mix: what discovery and status read, derived from the emulator's own lists."""
    sub = f"/subscriptions/{SUBSCRIPTION}"
    calls: list[tuple[str, str, Any]] = [
        ("GET", "/subscriptions", None),
        ("GET", f"{sub}/resourcegroups", None),
        ("GET", f"{sub}/providers/Microsoft.ContainerService/managedClusters", None),
        ("GET", f"{sub}/providers/Microsoft.OperationalInsights/workspaces", None),
        ("GET", f"{sub}/providers/Microsoft.Insights/dataCollectionRules", None),
    ]
    async with session.get(
        f"{base}{sub}/providers/Microsoft.ContainerService/managedClusters?api-version=x",
        headers=headers,
    ) as r:
        clusters = (await r.json())["value"]
    for c in clusters:
        calls.append(("GET", c["id"], None))
        calls.append(
            ("GET", c["id"] + "/providers/Microsoft.Insights/dataCollectionRuleAssociations", None)
        )
        node_rg = f"{sub}/resourceGroups/{c['properties']['nodeResourceGroup']}"
        async with session.get(
            f"{base}{node_rg}/providers/Microsoft.Compute/virtualMachineScaleSets?api-version=x",
            headers=headers,
        ) as r:
            sets = (await r.json())["value"]
        for v in sets:
            calls.append(("GET", v["id"], None))
            calls.append(("GET", v["id"] + "/virtualMachines", None))
            calls.append(("GET", v["id"] + "/extensions", None))
    query = {
        "query": "Syslog | where TimeGenerated > ago(15m)"
        " | summarize n = count(), last = max(TimeGenerated) by Computer",
        "timespan": "PT15M",
    }
    calls.append(("POST", f"/logs/v1/workspaces/{WORKSPACE_CUSTOMER_ID}/query", query))
    return calls


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


async def drive(
    info: dict[str, Any], concurrency: int, seconds: float, server_pid: int
) -> tuple[int, int, float, float]:
    import aiohttp

    base = info["arm_endpoint"].rstrip("/")
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    headers = {"Authorization": f"Bearer {TOKEN}"}
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=ctx)
    async with aiohttp.ClientSession(connector=connector) as session:
        calls = await discover_urls(session, base, headers)
        ok = errors = 0
        stop_at = 0.0
        counter = 0

        async def worker(start: int) -> None:
            nonlocal ok, errors, counter
            i = start
            while time.monotonic() < stop_at:
                method, path, body = calls[i % len(calls)]
                i += 1
                sep = "&" if "?" in path else "?"
                url = (
                    f"{base}{path}"
                    if path.startswith("/logs/")
                    else f"{base}{path}{sep}api-version=2024-01-01"
                )
                async with session.request(method, url, json=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status < 400:
                        ok += 1
                    else:
                        errors += 1

        # warm-up: open the connections and let caches settle
        stop_at = time.monotonic() + 1.0
        await asyncio.gather(*(worker(w * 7) for w in range(concurrency)))
        ok = errors = 0
        cpu0 = cpu_seconds(server_pid)
        started = time.monotonic()
        stop_at = started + seconds
        await asyncio.gather(*(worker(w * 7) for w in range(concurrency)))
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(server_pid) - cpu0
    return ok, errors, elapsed, cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--cache", action="store_true", help="turn on the emulator's GET cache")
    args = ap.parse_args(argv)

    scenario = fleet_scenario(args.nodes, clusters=1, pool_size=100)
    scenario["token"] = TOKEN
    scenario["response_cache"] = args.cache
    report = Report(prefix="emulator.")
    with tempfile.TemporaryDirectory(prefix="aksaudit-bench-emu-") as tmp:
        t0 = time.monotonic()
        proc, info = start_emulator(scenario, Path(tmp))
        startup = time.monotonic() - t0
        try:
            ok, errors, elapsed, cpu = asyncio.run(
                drive(info, args.concurrency, args.seconds, proc.pid)
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    rps = ok / elapsed if elapsed > 0 else 0.0
    capacity = ok / cpu if cpu > 0 else 0.0
    report.figure("nodes", args.nodes)
    report.figure("response_cache", int(args.cache))
    report.figure("concurrency", args.concurrency)
    report.figure("startup_s", startup, ".2f")
    report.figure("requests", ok)
    report.figure("errors", errors)
    report.figure("wall_s", elapsed, ".2f")
    report.figure("requests_per_s", rps, ".0f")
    report.figure("server_cpu_s", cpu, ".2f")
    report.figure("requests_per_server_cpu_s", capacity, ".0f")
    report.figure("load_average_1m", os.getloadavg()[0], ".1f")
    report.goal(
        rps >= GOAL_RPS and errors == 0,
        f"requests_per_s: {rps:.0f} requests per wall second >= {GOAL_RPS:.0f}, {errors} errors "
        f"({args.concurrency} clients, {args.nodes} nodes, cache "
        f"{'on' if args.cache else 'off'}; emulator {capacity:.0f} per CPU-second)",
    )
    return report.print()


if __name__ == "__main__":
    raise SystemExit(main())

"""Discovery benchmark: the per-subscription ARM walk, 20 subscriptions x 5 clusters, 150 ms per
ARM call (emulated).

Runs the real ARM walk (async SDK clients; the fallback when Resource Graph is refused or turned
off, so Resource Graph is off here: ``bench/fleet_discovery.py`` measures that path) against the
emulator twice: with the product's bounded concurrency, and with every request serialised
(concurrency 1, i.e. what a sequential walk costs). The emulator runs as its own process
(``aksaudit emulator``), as Azure would be remote: in-process it would share our GIL and its
CPU would be billed to the client.
Prints one ``name: value`` per line, then ``passed`` or ``failed`` (goal: concurrent /
sequential <= 0.15).

    .venv/bin/python bench/discovery.py [--subscriptions 20] [--clusters 5] [--latency-ms 150]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from aksaudit_emulator import load_scenario
from aksaudit_tui.cloud.credentials import AsyncStaticTokenCredential
from aksaudit_tui.cloud.discovery import discover_all
from aksaudit_tui.cloud.models import ARM_WALK
from aksaudit_tui.cloud.settings import CloudSettings

GOAL = 0.15
TOKEN = "aksaudit-bench-token"


def scenario(subscriptions: int, clusters: int, latency_ms: float) -> dict[str, Any]:
    subs = []
    for s in range(subscriptions):
        rg_clusters = []
        for c in range(clusters):
            cl: dict[str, Any] = {
                "name": f"aks-s{s:02d}-c{c}",
                "kubernetes_version": "1.32.6",
                "pools": [{"name": "system", "mode": "System", "count": 2, "os_sku": "Ubuntu2204"}],
            }
            if c % 2 == 0:  # half with Container Insights, so both DCR lookups are exercised
                cl["monitoring"] = {"workspace": f"law-s{s:02d}", "syslog": True}
            rg_clusters.append(cl)
        subs.append(
            {
                "id": str(uuid.UUID(int=s + 1)),
                "name": f"Bench {s:02d}",
                "resource_groups": [
                    {
                        "name": f"rg-bench-{s:02d}",
                        "location": "westeurope",
                        "workspaces": [
                            {"name": f"law-s{s:02d}", "customer_id": str(uuid.UUID(int=1000 + s))}
                        ],
                        "clusters": rg_clusters,
                    }
                ],
            }
        )
    return load_scenario(
        {
            "token": TOKEN,
            "latency_ms": {"arm": latency_ms, "logs": 0, "kube": 0},
            "lro": {"polls": 1, "seconds": 0},
            "ingestion": {"delay_s": 0, "interval_s": 60},
            "subscriptions": subs,
        }
    )


def timed(settings: CloudSettings, token: str) -> tuple[float, int, int, int]:
    """(seconds, clusters, scale sets, ARM calls) of one full discovery."""
    from aksaudit_tui.cloud import arm

    bounded: list[arm.Bounded] = []
    original = arm.Bounded.__init__

    def counting_init(self: arm.Bounded, limit: int) -> None:
        original(self, limit)
        bounded.append(self)

    arm.Bounded.__init__ = counting_init  # type: ignore[method-assign]
    try:
        start = time.perf_counter()
        inv = asyncio.run(discover_all(settings, credential=AsyncStaticTokenCredential(token)))
        elapsed = time.perf_counter() - start
    finally:
        arm.Bounded.__init__ = original  # type: ignore[method-assign]
    if inv.errors:
        raise SystemExit(f"discovery reported errors: {inv.errors[:3]}")
    if inv.discovery.method != ARM_WALK:
        raise SystemExit(f"discovery did not walk ARM: {inv.discovery.line()}")
    calls = sum(b.requests for b in bounded)
    return elapsed, len(inv.clusters), sum(len(c.scale_sets) for c in inv.clusters), calls


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--subscriptions", type=int, default=20)
    ap.add_argument("--clusters", type=int, default=5)
    ap.add_argument("--latency-ms", type=float, default=150.0)
    ap.add_argument("--concurrency", type=int, default=CloudSettings().concurrency)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="aksaudit-bench-") as tmp:
        scen = Path(tmp) / "scenario.yaml"
        data = scenario(args.subscriptions, args.clusters, args.latency_ms)
        scen.write_text(yaml.safe_dump(data), encoding="utf-8")
        cmd = [sys.executable, "-m", "aksaudit_tui", "emulator", "--scenario", str(scen),
               "--state-dir", str(Path(tmp) / "state")]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            info = json.loads(proc.stdout.readline())  # the emulator's first line: endpoints
            base = {
                "arm_endpoint": info["arm_endpoint"],
                "logs_endpoint": info["logs_endpoint"],
                "ca_bundle": info["ca_bundle"],
                "access_token": TOKEN,
                "polling_interval": 0,
                "profile": "fast",
                "resource_graph": False,
            }
            conc = CloudSettings(**base, concurrency=args.concurrency)
            timed(conc, TOKEN)  # warm-up: SDK imports, emulator caches
            # best of three: the machine is shared, and noise only ever adds time
            runs = [timed(conc, TOKEN) for _ in range(3)]
            concurrent, n_clusters, n_sets, calls = min(runs)
            concurrent_runs = ", ".join(f"{r[0]:.2f}" for r in runs)
            sequential, _, _, _ = timed(CloudSettings(**base, concurrency=1), TOKEN)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    ratio = concurrent / sequential
    expected = args.subscriptions * args.clusters
    print(f"subscriptions: {args.subscriptions}")
    print(f"clusters: {n_clusters}")
    print(f"scale_sets: {n_sets}")
    print(f"arm_latency_ms: {args.latency_ms:g}")
    print(f"arm_calls: {calls}")
    print(f"concurrency: {args.concurrency}")
    print(f"concurrent_s: {concurrent:.2f}")
    print(f"concurrent_runs_s: {concurrent_runs}")
    print(f"sequential_s: {sequential:.2f}")
    print(f"ratio: {ratio:.3f}")
    print(f"goal_ratio: {GOAL}")
    ok = ratio <= GOAL and n_clusters == expected
    print(
        f"{'passed' if ok else 'failed'} ratio: concurrent {concurrent:.2f} s / sequential "
        f"{sequential:.2f} s = {ratio:.3f} <= {GOAL} ({n_clusters} of {expected} clusters, "
        f"{args.latency_ms:g} ms per ARM call)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

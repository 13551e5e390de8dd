"""Status benchmark: ``aksaudit status`` of a fleet (default 100 clusters x 50 nodes).

The emulator runs as its own process (``aksaudit emulator``), as Azure and the clusters would be
remote, with latency on every ARM, Kubernetes and Logs call. Half the clusters hold a record of
what was applied (the ``aksaudit-applied`` ConfigMap, written through the Kubernetes API as an
apply writes it), all naming one workspace. In the same run: the real discovery of the fleet,
then the real read-only status (engine/fleet.py), in pairs. Goals: KQL queries = 1 per recorded
workspace; status wall time <= 1.5 x discovery wall time (the median of the pairs' ratios).

Fair to both sides: the emulator keeps Resource Graph's per-user quota (15 queries per 5 s, the
service's default, set explicitly here and never raised). A user runs one command with a fresh
quota; the bench runs many back to back (warm-up, then discovery and status in pairs, ~6
queries each), so the side that ran second used to find the quota spent by the first and wait
~9 s for it (pair ratios from 0.3 to 12). Each timed side therefore starts after the quota
window has passed since the previous side's last query (``x-ms-user-quota-resets-after`` never
exceeds the window), and each side prints how often it was throttled: a throttle inside one
side is the product's own cost and counts.

Not seeded: keeper pods and their logs (a rollout of 5,000 keeper pods is the rollout bench's
job); status reads the nodes, records and DaemonSets of every cluster.

    .venv/bin/python bench/status.py [--clusters 100] [--nodes 50] [--latency-ms 150] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aksaudit_emulator import load_scenario
from aksaudit_tui.cloud.discovery import discover_all
from aksaudit_tui.cloud.settings import CloudSettings
from aksaudit_tui.engine.fleet import FleetStats, fleet_status
from aksaudit_tui.nodes.record import AppliedRecord, record_configmap_manifest
from common import fleet_scenario

GOAL_RATIO = 1.5
TOKEN = "aksaudit-bench-token"
QUOTA_CALLS, QUOTA_WINDOW_S = 15, 5.0  # Resource Graph's default per-user quota (the emulator's)


def _fresh_quota(last_query_end: float) -> None:
    """Wait until no query of a previous side counts against the quota any more: the emulator
    counts the calls of the last window (resets-after names when the oldest leaves; the whole
    quota is back one window after the newest)."""
    wait = QUOTA_WINDOW_S + 0.2 - (time.monotonic() - last_query_end)
    if wait > 0:
        time.sleep(wait)


def _seed_records(kubeconfig: str, clusters: list[str], workspace_id: str) -> None:
    """The record apply writes, through the Kubernetes API (one-shot delivery: kube-system)."""
    from kubernetes import client

    from aksaudit_tui.nodes.kube import load_api

    for name in clusters:
        api = client.CoreV1Api(load_api(kubeconfig, name))
        rec = AppliedRecord(
            plan_hash="0" * 64,
            presets=("identity-and-config",),
            rules_sha256="1" * 64,
            facility="authpriv",
            severity="info",
            log_path="container-insights",
            workspace_id=workspace_id,
            workspace_name="law-bench",
            workspace_resource_id="",
            script_sha256="2" * 64,
            delivery="one-shot",
            keeper_interval_s=300,
            tool_version="bench",
            applied_at="2026-12-03T00:00:00+00:00",
            applied_by="bench@example.com",
            run_id="bench",
        )
        cm = record_configmap_manifest(rec)
        api.create_namespaced_config_map(cm["metadata"]["namespace"], cm)
        api.api_client.close()


async def _timed_discovery(settings: CloudSettings) -> tuple[float, int, int, float]:
    """Wall time, clusters found, 429 answers waited out, CPU seconds of this process (the
    client: the emulator runs in its own)."""
    c0, t0 = time.process_time(), time.perf_counter()
    inv = await discover_all(settings)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return wall, len(inv.clusters), inv.discovery.throttled, cpu


async def _timed_status(settings: CloudSettings) -> tuple[float, FleetStats, Any, float]:
    """Wall time, what it cost, the report, CPU seconds of this process (every thread)."""
    stats = FleetStats()
    c0, t0 = time.process_time(), time.perf_counter()
    report = await fleet_status(settings, stats=stats)
    return time.perf_counter() - t0, stats, report, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--clusters", type=int, default=100)
    ap.add_argument("--nodes", type=int, default=50)
    ap.add_argument("--latency-ms", type=float, default=150.0)
    ap.add_argument("--kube-latency-ms", type=float, default=50.0)
    ap.add_argument("--runs", type=int, default=3, help="discovery + status pairs")
    args = ap.parse_args(argv)
    data = fleet_scenario(
        args.nodes,
        clusters=args.clusters,
        latency_ms={"arm": args.latency_ms, "logs": args.latency_ms, "kube": args.kube_latency_ms},
        ingestion_delay_s=0,
    )
    data["token"] = TOKEN
    data["resource_graph"] = {"throttle": {"calls": QUOTA_CALLS, "window_s": QUOTA_WINDOW_S}}
    data["ingestion"] = {"delay_s": 0, "interval_s": 30}
    with tempfile.TemporaryDirectory(prefix="aksaudit-bench-status-") as tmp:
        scen = Path(tmp) / "scenario.yaml"
        scen.write_text(yaml.safe_dump(load_scenario(data)), encoding="utf-8")
        cmd = [sys.executable, "-m", "aksaudit_tui", "emulator", "--scenario", str(scen),
               "--state-dir", str(Path(tmp) / "state")]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            info = json.loads(proc.stdout.readline())
            settings = CloudSettings(
                arm_endpoint=info["arm_endpoint"],
                logs_endpoint=info["logs_endpoint"],
                ca_bundle=info["ca_bundle"],
                access_token=TOKEN,
                kubeconfig=info["kubeconfig"],
                polling_interval=0,
                profile="fast",
            )
            names = [f"aks-bench-{c}" for c in range(args.clusters)]
            ws = next(w["customer_id"] for w in info["workspaces"])
            _seed_records(info["kubeconfig"], names[::2], ws)
            # warm-up of both sides: imports (status alone loads the Logs query SDK, ~0.5 s
            # at load, which the first timed status paid and no discovery did) and caches
            asyncio.run(_timed_discovery(settings))
            _fresh_quota(time.monotonic())
            asyncio.run(_timed_status(settings))
            last = time.monotonic()
            # alternate: each status right after its own discovery. The machine is shared:
            # its load moves both by seconds, so the ratio judged is the median of the pairs'
            # ratios (the best-of-each ratio is printed too)
            disc: list[float] = []
            disc_cpu: list[float] = []
            stat: list[tuple[float, FleetStats, Any, float]] = []
            for _ in range(args.runs):
                _fresh_quota(last)
                d, n_clusters, d_throttled, d_cpu = asyncio.run(_timed_discovery(settings))
                disc.append(d)
                disc_cpu.append(d_cpu)
                _fresh_quota(time.monotonic())
                stat.append(asyncio.run(_timed_status(settings)))
                last = time.monotonic()
                s_throttled = stat[-1][1].discovery.throttled
                print(
                    f"run: discovery {d:.2f} s ({d_throttled} throttled, {d_cpu:.2f} CPU-s), "
                    f"status {stat[-1][0]:.2f} s ({s_throttled} throttled; its discovery part "
                    f"{stat[-1][1].discovery_s:.2f} s; {stat[-1][3]:.2f} CPU-s)",
                    flush=True,
                )
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    discovery_s = min(disc)
    status_s, stats, report, _ = min(stat, key=lambda r: r[0])
    # client CPU (median of the runs): what the shared cores pay; the wall ratio is what the
    # user waits, and under load it follows the CPU
    discovery_cpu = statistics.median(disc_cpu)
    status_cpu = statistics.median(s[3] for s in stat)
    pair_ratios = sorted(s[0] / d for d, s in zip(disc, stat, strict=True))
    best_ratio = status_s / discovery_s
    enabled = sum(1 for c in report.clusters if c.enabled)
    nodes = sum(len(c.nodes) for c in report.clusters)
    ratio = statistics.median(pair_ratios)
    print(f"clusters: {len(report.clusters)}")
    print(f"clusters_enabled: {enabled}")
    print(f"nodes: {nodes}")
    print(f"arm_latency_ms: {args.latency_ms:g}")
    print(f"kube_latency_ms: {args.kube_latency_ms:g}")
    print(f"discovery_s: {discovery_s:.2f}")
    print(f"status_s: {status_s:.2f}")
    print(f"status_discovery_part_s: {stats.discovery_s:.2f}")
    print(f"ratio: {ratio:.3f}")
    print(f"pair_ratios: {' '.join(f'{r:.2f}' for r in pair_ratios)}")
    print(f"best_of_each_ratio: {best_ratio:.3f}")
    print(f"discovery_cpu_s: {discovery_cpu:.3f}")
    print(f"status_cpu_s: {status_cpu:.3f}")
    print(f"status_cpu_ms_per_cluster: {1000 * status_cpu / max(1, args.clusters):.2f}")
    print(f"kql_queries: {stats.kql_queries}")
    print(f"kube_calls: {sum(stats.kube_calls.values())}")
    print(f"goal_ratio: {GOAL_RATIO}")
    ok = (
        ratio <= GOAL_RATIO
        and stats.kql_queries == 1
        and len(report.clusters) == args.clusters == n_clusters
        and enabled == len(names[::2])
        and nodes == args.clusters * args.nodes
    )
    print(
        f"{'passed' if ok else 'failed'} status_vs_discovery: {ratio:.2f} <= {GOAL_RATIO:g}, "
        f"{stats.kql_queries} KQL query for 1 recorded workspace, {len(report.clusters)} "
        f"clusters ({enabled} enabled), {nodes} nodes"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

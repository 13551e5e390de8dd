"""Emulator load benchmark: 500 nodes, concurrent HTTPS clients, requests per second.

Starts ``aksaudit emulator`` in its own process (as scripts and the demo use it) with a fleet of
500 Linux nodes, then drives it from this process over a bounded number of concurrent kept-alive
HTTP/1.1 connections over loopback TLS (a minimal client, ``Http11``, so that the bench's own CPU
stays small next to the server's it measures): the ARM reads discovery and status make
(clusters, scale sets, their instances and extensions, workspaces, rules) plus Log Analytics
queries. Judged on what a user of
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


class Http11:
    """One kept-alive HTTP/1.1 connection over TLS, and just enough of a client for this bench.

    Why not aiohttp's ClientSession (what this bench used): per request it cost about as much CPU
    as the emulator's whole answer (~2,000-2,400 requests per client CPU-second against the
    server's ~2,200-2,800), and on 2 shared cores the client's CPU is taken from the server it
    measures, so the figure half measured the client. This one writes the request and reads
    the status line, the headers and a ``Content-Length`` or chunked body, nothing more; an
    answer it cannot frame is an error, a ``Connection: close`` (or a dropped connection) makes
    it open a new one, counted in ``opened``."""

    def __init__(self, host: str, port: int, ctx: ssl.SSLContext, headers: dict[str, str]) -> None:
        self.host, self.port, self.ctx = host, port, ctx
        self.fixed = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.opened = 0

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port, ssl=self.ctx, limit=1 << 20
            )
            self.opened += 1
        return self.reader, self.writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self, method: str, target: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        """(status, body) of one request on this connection."""
        reader, writer = await self._connect()
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.fixed}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"\r\n" + (body or b""))
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close()  # the server closed a kept-alive connection: say so, do not hide it
            raise
        lines = raw.decode("latin-1").split("\r\n")
        version, status, _ = (lines[0] + " ").split(" ", 2)
        if not version.startswith("HTTP/1."):
            raise ValueError(f"not an HTTP/1.x answer: {lines[0]!r}")
        fields = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            data = await reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readuntil(b"\r\n")  # no trailers are sent
            data = b"".join(parts)
        else:
            raise ValueError(f"{method} {target}: no Content-Length and not chunked")
        if fields.get("connection", "").lower() == "close" or version == "HTTP/1.0":
            self.close()
        return int(status), data


async def discover_urls(conn: Http11) -> list[tuple[str, str, bytes | None]]:
    """The request mix: what discovery and status read, derived from the emulator's own lists."""
    sub = f"/subscriptions/{SUBSCRIPTION}"

    async def listed(path: str) -> list[dict[str, Any]]:
        status, data = await conn.request("GET", f"{path}?api-version=x")
        if status != 200:
            raise SystemExit(f"GET {path}: {status}")
        return list(json.loads(data)["value"])

    calls: list[tuple[str, str, bytes | None]] = [
        ("GET", "/subscriptions", None),
        ("GET", f"{sub}/resourcegroups", None),
        ("GET", f"{sub}/providers/Microsoft.ContainerService/managedClusters", None),
        ("GET", f"{sub}/providers/Microsoft.OperationalInsights/workspaces", None),
        ("GET", f"{sub}/providers/Microsoft.Insights/dataCollectionRules", None),
    ]
    for c in await listed(f"{sub}/providers/Microsoft.ContainerService/managedClusters"):
        calls.append(("GET", c["id"], None))
        calls.append(
            ("GET", c["id"] + "/providers/Microsoft.Insights/dataCollectionRuleAssociations", None)
        )
        node_rg = f"{sub}/resourceGroups/{c['properties']['nodeResourceGroup']}"
        for v in await listed(f"{node_rg}/providers/Microsoft.Compute/virtualMachineScaleSets"):
            calls.append(("GET", v["id"], None))
            calls.append(("GET", v["id"] + "/virtualMachines", None))
            calls.append(("GET", v["id"] + "/extensions", None))
    query = {
        "query": "Syslog | where TimeGenerated > ago(15m)"
        " | summarize n = count(), last = max(TimeGenerated) by Computer",
        "timespan": "PT15M",
    }
    calls.append(
        ("POST", f"/logs/v1/workspaces/{WORKSPACE_CUSTOMER_ID}/query", json.dumps(query).encode())
    )
    # the target each call sends: ARM paths carry an api-version, the query API none
    return [
        (m, p if p.startswith("/logs/") else f"{p}?api-version=2024-01-01", b) for m, p, b in calls
    ]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Driven:
    """What one timed window measured."""

    ok: int
    errors: int
    elapsed: float
    server_cpu: float
    client_cpu: float
    connections: int


async def drive(info: dict[str, Any], concurrency: int, seconds: float, server_pid: int) -> Driven:
    url = urlsplit(info["arm_endpoint"])
    host, port = url.hostname or "127.0.0.1", int(url.port or 443)
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
    conns = [Http11(host, port, ctx, headers) for _ in range(concurrency)]
    calls = await discover_urls(conns[0])
    ok = errors = 0
    stop_at = 0.0

    async def worker(conn: Http11, start: int) -> None:
        nonlocal ok, errors
        i = start
        while time.monotonic() < stop_at:
            method, target, body = calls[i % len(calls)]
            i += 1
            try:
                status, _ = await conn.request(method, target, body)
            except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                errors += 1
                continue
            if status < 400:
                ok += 1
            else:
                errors += 1

    try:
        # warm-up: open the connections (TLS handshakes) and let caches settle
        stop_at = time.monotonic() + 1.0
        await asyncio.gather(*(worker(c, w * 7) for w, c in enumerate(conns)))
        ok = errors = 0
        opened = sum(c.opened for c in conns)
        cpu0, client0 = cpu_seconds(server_pid), time.process_time()
        started = time.monotonic()
        stop_at = started + seconds
        await asyncio.gather(*(worker(c, w * 7) for w, c in enumerate(conns)))
        elapsed = time.monotonic() - started
        cpu, client = cpu_seconds(server_pid) - cpu0, time.process_time() - client0
        # connections opened inside the window: 0 when every one was kept alive
        reopened = sum(c.opened for c in conns) - opened
    finally:
        for c in conns:
            c.close()
    return Driven(ok, errors, elapsed, cpu, client, reopened)


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
            d = asyncio.run(drive(info, args.concurrency, args.seconds, proc.pid))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    rps = d.ok / d.elapsed if d.elapsed > 0 else 0.0
    capacity = d.ok / d.server_cpu if d.server_cpu > 0 else 0.0
    report.figure("nodes", args.nodes)
    report.figure("response_cache", int(args.cache))
    report.figure("concurrency", args.concurrency)
    report.figure("startup_s", startup, ".2f")
    report.figure("requests", d.ok)
    report.figure("errors", d.errors)
    report.figure("wall_s", d.elapsed, ".2f")
    report.figure("requests_per_s", rps, ".0f")
    report.figure("server_cpu_s", d.server_cpu, ".2f")
    report.figure("requests_per_server_cpu_s", capacity, ".0f")
    # the bench's own CPU in the window: were it near the server's, the client would be measured
    report.figure("client_cpu_s", d.client_cpu, ".2f")
    report.figure("connections_reopened", d.connections)
    report.figure("load_average_1m", os.getloadavg()[0], ".1f")
    report.goal(
        rps >= GOAL_RPS and d.errors == 0,
        f"requests_per_s: {rps:.0f} requests per wall second >= {GOAL_RPS:.0f}, {d.errors} errors "
        f"({args.concurrency} clients, {args.nodes} nodes, cache "
        f"{'on' if args.cache else 'off'}; emulator {capacity:.0f} per CPU-second)",
    )
    return report.print()


if __name__ == "__main__":
    raise SystemExit(main())

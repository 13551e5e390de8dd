"""Shared pieces of the benchmarks: figure/goal output, bench scenarios, stand-in node scripts,
child-process peak RSS.

Every bench prints one ``name: value`` line per figure, then one line per goal starting with
``passed`` or ``failed`` (``passed rollout.oneshot: wall 104.2 s <= 130.0 s``), and exits 1 when a
goal failed. Figures are ratios (or counts) measured in the same run: this machine is shared and
noisy, so absolute times are not comparable between runs.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# An installed aksaudit runs from compiled bytecode (pip compiles the wheel), as its libraries
# here do. Agents' shells set PYTHONDONTWRITEBYTECODE: every bench process (and child) then
# compiled the product's sources again, on the event loop being measured. Write them instead.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
PYTHON = sys.executable

FIGURE_RE = re.compile(r"^(?P<name>[A-Za-z0-9_.\-/]+): (?P<value>\S.*)$")
GOAL_RE = re.compile(r"^(?P<verdict>passed|failed)(?: (?P<text>.*))?$")


@dataclass
class Report:
    """Figures and goals of one bench, printed in the agreed format."""

    prefix: str = ""
    figures: list[tuple[str, str]] = field(default_factory=list)
    goals: list[tuple[bool, str]] = field(default_factory=list)

    def figure(self, name: str, value: float | int | str, fmt: str = ".3f") -> None:
        text = format(value, fmt) if isinstance(value, float) else str(value)
        self.figures.append((f"{self.prefix}{name}", text))

    def goal(self, ok: bool, text: str) -> bool:
        self.goals.append((ok, f"{self.prefix}{text}" if self.prefix else text))
        return ok

    def extend(self, other: Report) -> None:
        self.figures += other.figures
        self.goals += other.goals

    @property
    def ok(self) -> bool:
        return all(ok for ok, _ in self.goals)

    def lines(self) -> list[str]:
        out = [f"{n}: {v}" for n, v in self.figures]
        out += [f"{'passed' if ok else 'failed'} {text}" for ok, text in self.goals]
        return out

    def print(self) -> int:
        for line in self.lines():
            print(line, flush=True)
        return 0 if self.ok else 1


def parse_report(text: str, prefix: str = "") -> Report:
    """Read a bench's stdout back (figures and goals); other lines are ignored. A bare
    ``passed``/``failed`` (a bench with one goal) becomes a goal named after ``prefix``."""
    rep = Report()
    for line in text.splitlines():
        line = line.rstrip()
        g = GOAL_RE.match(line)
        if g:
            what = g["text"] or (prefix.rstrip(".") or "goal")
            rep.goals.append((g["verdict"] == "passed", f"{prefix}{what}" if g["text"] else what))
            continue
        f = FIGURE_RE.match(line)
        if f:
            rep.figures.append((f"{prefix}{f['name']}", f["value"]))
    return rep


# --- scenarios -----------------------------------------------------------------------------------

SUBSCRIPTION = str(uuid.UUID(int=0xB0))
WORKSPACE_CUSTOMER_ID = str(uuid.UUID(int=0xB1))


def fleet_scenario(
    nodes: int,
    *,
    clusters: int = 1,
    pool_size: int = 100,
    os_sku: str = "Ubuntu2204",
    latency_ms: float | dict[str, float] = 0.0,
    ingestion_delay_s: float = 1.0,
) -> dict[str, Any]:
    """One subscription, ``clusters`` clusters of ``nodes`` Linux nodes each (pools of at most
    ``pool_size``), one workspace; Container Insights syslog already on (so apply has no ARM work
    beyond probes and the node rollout dominates)."""
    cls = []
    for c in range(clusters):
        pools = []
        left, i = nodes, 0
        while left > 0:
            n = min(left, pool_size)
            mode = "System" if i == 0 else "User"
            pools.append({"name": f"pool{i}", "mode": mode, "count": n, "os_sku": os_sku})
            left -= n
            i += 1
        cls.append(
            {
                "name": f"aks-bench-{c}",
                "kubernetes_version": "1.32.6",
                "monitoring": {
                    "workspace": "law-bench",
                    "syslog": True,
                    "syslog_facilities": ["authpriv"],
                },
                "pools": pools,
            }
        )
    return {
        "latency_ms": latency_ms,
        "lro": {"polls": 1, "seconds": 0},
        "ingestion": {"delay_s": ingestion_delay_s, "interval_s": 1},
        "subscriptions": [
            {
                "id": SUBSCRIPTION,
                "name": "Bench",
                "resource_groups": [
                    {
                        "name": "rg-bench",
                        "location": "westeurope",
                        "workspaces": [{"name": "law-bench", "customer_id": WORKSPACE_CUSTOMER_ID}],
                        "clusters": cls,
                    }
                ],
            }
        ],
    }


def sleepy_node_script(seconds: float) -> str:
    """A stand-in node script: in apply mode it takes ``seconds`` (sleep, no CPU), then prints
    the node script's JSON status line for a compliant node; in check mode (apply's probe, status)
    it answers at once that the node is not configured yet, as a fresh node would, so apply
    really rolls out. Benches use it so "each node script takes N s" holds exactly; the real
    script's correctness is covered by the tests."""
    return f"""#!/bin/sh
# aksaudit bench stand-in for the node script: {seconds:g} s on every node, then a status line
mode="${{1:-apply}}"
compliant=true
if [ "$mode" = check ]; then compliant=false; else sleep {seconds:g}; fi
printf '{{"aksaudit": 1, "mode": "%s", "node": "%s", "os": "ubuntu", "os_version": "22.04", \
"supported": true, "skip_reason": null, "audit_version": "3.0.7", "installed": true, \
"running": true, "plugin_active": true, "plugin_path": "/etc/audit/plugins.d/syslog.conf", \
"facility": "authpriv", "severity": "info", "rules_sha256": "0", "rules_loaded": 1, \
"skipped_watches": [], "changed": [], "errors": [], "compliant": %s, "ok": true}}\\n' \
"$mode" "${{HOSTNAME:-node}}" "$compliant"
"""


# what the real script writes that names the node it ran on (the stand-ins' call log)
_NOT_COPIED = ("var/lib/aksaudit-sim/calls.log",)


def configuring_node_script(real_script: str, seconds: float, os_sku: str = "Ubuntu2204") -> str:
    """A stand-in node script that leaves each node configured as the real one does, cheaply.

    The real ``real_script`` runs once here, on a fresh simulated root of ``os_sku`` (the
    emulator's own image and host-command stand-ins); every file it wrote (package, plugin,
    rules, the stand-ins' record of auditd running with those rules, the heartbeat) is packed
    into the stand-in. On a node, apply mode takes ``seconds`` (sleep, no CPU), unpacks those
    files into the node's root, touches the heartbeat and prints the real run's status line;
    check mode answers compliant (and touches the heartbeat, as the real check does) only on a
    node so configured. The emulator then reads the node as it reads one the real script
    configured, so its records reach the workspace and verify passes.

    Why not the real script on every node: it costs ~0.6 CPU-s a node here (its host commands
    are shell stand-ins), 300 CPU-s for 500 nodes on the 2 cores the measured app runs on: a
    lag bench would then measure the simulated nodes' CPU, which on AKS is the nodes' own."""
    import base64
    import io
    import json
    import tarfile
    import tempfile

    from aksaudit_emulator.noderoot import build_node_root, standin_env

    with tempfile.TemporaryDirectory(prefix="aksaudit-bench-node-") as tmp:
        root = build_node_root(Path(tmp) / "root", os_sku, "aks-bench-template")
        before = {p: p.lstat() for p in root.rglob("*")}
        script = Path(tmp) / "node.sh"
        script.write_text(real_script, encoding="utf-8")
        time.sleep(0.02)  # a file rewritten within the clock's tick still shows as changed
        run = subprocess.run(
            ["sh", str(script), "apply"],
            env=standin_env(root),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        lines = [ln for ln in run.stdout.splitlines() if ln.startswith('{"aksaudit"')]
        status = json.loads(lines[-1]) if lines else {}
        if run.returncode != 0 or not (status.get("ok") and status.get("compliant")):
            raise SystemExit(
                f"the real node script did not configure a simulated {os_sku} root "
                f"(rc {run.returncode}): {(run.stderr or run.stdout).strip()[-500:]}"
            )
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for path in sorted(root.rglob("*")):
                rel = str(path.relative_to(root))
                old, new = before.get(path), path.lstat()
                same = old is not None and (old.st_mtime_ns, old.st_size) == (
                    new.st_mtime_ns,
                    new.st_size,
                )
                if not same and rel not in _NOT_COPIED:
                    tar.add(path, arcname=rel, recursive=False)
    payload = base64.b64encode(buf.getvalue()).decode()
    status.update(node="@@NODE@@", mode="@@MODE@@", compliant="@@COMPLIANT@@")
    line = json.dumps(status).replace("%", "%%")
    order = sorted(("@@MODE@@", "@@NODE@@", "@@COMPLIANT@@"), key=line.index)
    shell_var = {"@@MODE@@": "$mode", "@@NODE@@": "${HOSTNAME:-node}", "@@COMPLIANT@@": "$ok"}
    line = line.replace('"@@COMPLIANT@@"', "%s").replace('"@@MODE@@"', '"%s"')
    line = line.replace('"@@NODE@@"', '"%s"')
    assert "'" not in line
    args = " ".join(f'"{shell_var[k]}"' for k in order)
    return f"""#!/bin/sh
# aksaudit bench stand-in for the node script: {seconds:g} s, then the real script's files
mode="${{1:-apply}}"
root="${{AKSAUDIT_ROOT:-/}}"
ok=false
if [ "$mode" = check ]; then
  [ -f "$root/etc/audit/rules.d/50-aksaudit.rules" ] && ok=true
else
  sleep {seconds:g}
  printf '%s' '{payload}' | base64 -d | tar -xzf - -C "$root" && ok=true
fi
[ "$ok" = true ] && mkdir -p "$root/var/lib/aksaudit" && touch "$root/var/lib/aksaudit/heartbeat"
printf '{line}\n' {args}
"""


@contextmanager
def emulator(scenario: dict[str, Any], state_dir: Path) -> Iterator[Any]:
    """An in-process emulator (started; stopped on exit)."""
    from aksaudit_emulator import Emulator, load_scenario

    emu = Emulator(load_scenario(scenario), state_dir)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


BENCH_TOKEN = "aksaudit-bench-token"


@contextmanager
def emulator_process(scenario: dict[str, Any], state_dir: Path) -> Iterator[Any]:
    """The emulator in its own process (``aksaudit emulator``), as Azure and the clusters are
    remote: in-process it would share the GIL with the app measured, and its CPU would be
    billed to the app. Yields its info (the JSON line's fields, plus ``token``) as attributes."""
    import json
    import signal
    import types

    import yaml

    data = dict(scenario)
    data["token"] = BENCH_TOKEN
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "scenario.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    cmd = [PYTHON, "-m", "aksaudit_tui", "emulator", "--scenario", str(path),
           "--state-dir", str(state_dir / "emu")]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("the emulator did not start (no JSON line)")
        info = json.loads(line)
        info["token"] = BENCH_TOKEN
        info["pid"] = proc.pid
        yield types.SimpleNamespace(**info)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def settings_for(info: Any, **kw: Any) -> Any:
    """CloudSettings pointing every client at the emulator."""
    from aksaudit_tui.cloud.settings import CloudSettings

    return CloudSettings(
        arm_endpoint=info.arm_endpoint,
        logs_endpoint=info.logs_endpoint,
        ca_bundle=str(info.ca_bundle),
        access_token=info.token,
        kubeconfig=str(info.kubeconfig),
        registry_endpoint=info.registry_endpoint,
        profile="fast",
        **kw,
    )


def emulator_env(info: Any) -> dict[str, str]:
    """Environment for an ``aksaudit`` child process aimed at the emulator."""
    env = dict(os.environ)
    env.update(
        AKSAUDIT_ARM_ENDPOINT=info.arm_endpoint,
        AKSAUDIT_LOGS_ENDPOINT=info.logs_endpoint,
        AKSAUDIT_CA_BUNDLE=str(info.ca_bundle),
        AKSAUDIT_REGISTRY_ENDPOINT=info.registry_endpoint,
        AKSAUDIT_ACCESS_TOKEN=info.token,
        KUBECONFIG=str(info.kubeconfig),
        AKSAUDIT_PROFILE="fast",
    )
    return env


# --- processes -----------------------------------------------------------------------------------


@dataclass
class ChildRun:
    returncode: int
    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str


def run_child(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 900.0,
) -> ChildRun:
    """Run a child to completion; its own peak RSS comes from wait4's rusage (that child only)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        env=env,
        cwd=str(cwd) if cwd else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return ChildRun(-9, time.perf_counter() - start, 0.0, out, err + "\n(timed out)")
    # communicate() reaped the child; the rusage of that wait is gone, so children that need a
    # peak RSS report it themselves (see child_peak_rss_mb) or use wait4 via run_child_rss.
    return ChildRun(proc.returncode, time.perf_counter() - start, 0.0, out, err)


def run_child_rss(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 900.0,
    stdout_path: Path | None = None,
) -> ChildRun:
    """Run a child with output to files and reap it with ``os.wait4``: its peak RSS (ru_maxrss,
    KiB on Linux) is that child's own high-water mark."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="aksaudit-bench-out-") as tmp:
        out_p = stdout_path or Path(tmp) / "out"
        err_p = Path(tmp) / "err"
        start = time.perf_counter()
        with out_p.open("w") as out, err_p.open("w") as err:
            proc = subprocess.Popen(
                list(argv), env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
            )
        deadline = start + timeout
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        return ChildRun(
            proc.returncode,
            seconds,
            usage.ru_maxrss / 1024.0 if usage else 0.0,
            out_p.read_text(errors="replace"),
            err_p.read_text(errors="replace"),
        )


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM) in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    s = sorted(values)
    if not s:
        return 0.0
    k = max(0, min(len(s) - 1, math.ceil(q / 100.0 * len(s)) - 1))
    return s[k]


def make_plan(
    info: Any,
    out_dir: Path,
    *,
    delivery: str = "one-shot",
    cluster: str | Sequence[str] = "aks-bench-0",
    concurrency: int | None = None,
) -> Path:
    """``aksaudit plan`` against the emulator (the real command, in a child) -> plan.yaml."""
    out = out_dir / f"plan-{delivery}.yaml"
    names = [cluster] if isinstance(cluster, str) else list(cluster)
    argv = [
        PYTHON,
        "-m",
        "aksaudit_tui.cli.main",
        "plan",
        *(a for n in names for a in ("--cluster", n)),
        "--workspace",
        "law-bench",
        "--delivery",
        delivery,
        "--out",
        str(out),
    ]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    r = run_child(argv, env=emulator_env(info), timeout=300)
    if r.returncode != 0 or not out.exists():
        raise SystemExit(f"aksaudit plan failed (rc {r.returncode}): {r.stderr.strip()[-1000:]}")
    return out

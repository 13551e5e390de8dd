"""The headless commands as scripts use them: the real `aksaudit` in a subprocess against the
emulator. Contract: exit codes, JSON shapes, refusal without --yes, bad input, kill -9 + resume,
SIGTERM, cleanup, and no secret in anything the tool writes or prints."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import (
    add_fault,
    aksaudit_cmd,
    clear_faults,
    cli_env,
    dcr_bodies,
    linux_nodes,
    node_root,
    oneshot_pods,
    scenario,
    workspace_of,
)

KEY = "QUtTQVVESVQtV09SS1NQQUNFLUtFWS1SRUNPR05JU0FCTEU="  # recognisable workspace key
TOKEN = "tok-RECOGNISABLE-emulator-bearer-0123456789"
STATUS_KEYS = {
    "node", "pool", "os", "audit_version", "auditd_running", "plugin_facility", "rules_match",
    "log_path_ok", "last_seen", "skipped_reason",
}  # fmt: skip


def sh(env: dict[str, str], *args: str, cwd: Path | None = None, timeout: float = 600) -> Any:
    return subprocess.run(
        [*aksaudit_cmd(), *args], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def emu(make_emulator: Any) -> Any:
    def secrets(data: dict[str, Any]) -> None:
        data["token"] = TOKEN
        workspace_of(data, "law-dev-neu")["primary_key"] = KEY
        workspace_of(data, "law-prod-weu")["primary_key"] = KEY

    return make_emulator(scenario(secrets))


# 13 `aksaudit` processes one after another, each waiting on its own condition (no fixed
# sleep): ~30 s alone, 267 s measured beside 3 other xdist workers on a shared 2-core machine at
# load ~15, too near the suite's 300 s hang guard.
@pytest.mark.timeout(900)
def test_plan_apply_verify_status_remove_cleanup_and_no_secret_anywhere(
    emu: Any, tmp_path: Path
) -> None:
    work = tmp_path / "work"  # everything the tool writes lands here (the emulator's files not)
    work.mkdir()
    state = work / "state"
    env = cli_env(emu, state)
    outputs: list[str] = []

    def run(*args: str, code: int = 0) -> Any:
        t0 = time.monotonic()
        p = sh(env, *args, cwd=work)
        print(f"{time.monotonic() - t0:6.2f}s aksaudit {' '.join(args)}")
        outputs.extend([p.stdout, p.stderr])
        assert p.returncode == code, (args, p.returncode, p.stderr[-2000:])
        return p

    for log_path in ("legacy-oms", "ama", "container-insights"):
        plan = f"{log_path}.yaml"
        cluster, ws = ("aks-prod-weu", "law-prod-weu") if log_path == "container-insights" else (
            "aks-dev-neu", "law-dev-neu")  # fmt: skip
        run("plan", "--cluster", cluster, "--workspace", ws, "--log-path", log_path,
            "--delivery", "one-shot", "--presets", "identity-and-config,container-escape",
            "--out", plan)  # fmt: skip
        applied = run("apply", plan, "--yes", "--json")
        lines = json_lines(applied.stdout)
        assert lines[0]["kind"] == "RunStarted"
        assert lines[-1]["kind"] == "RunResult" and lines[-1]["outcome"] == "ok"
        assert any(x["kind"] == "StepFinished" for x in lines)
        verify = run("verify", "--since", "5m", "--json")
        summary = json_lines(verify.stdout)[-1]
        assert summary["ok"] is True
        assert {n["node"] for n in summary["nodes"]} == set(linux_nodes(emu, cluster))
        assert set(summary["nodes"][0]) == {
            "cluster", "node", "arrived", "records", "last_seen", "reason"}  # fmt: skip
    # every discovered cluster; aks-payments-weu was never enabled: exit 5 (not all covered)
    status = run("status", "--json", code=5)
    doc = json.loads(status.stdout.splitlines()[-1])
    names = {c["name"]: c for c in doc["clusters"]}
    assert set(names) == {"aks-prod-weu", "aks-dev-neu", "aks-payments-weu"}
    assert names["aks-payments-weu"]["coverage"] == 0.0
    assert names["aks-payments-weu"]["enabled"] is False
    for c in (names["aks-prod-weu"], names["aks-dev-neu"]):
        assert c["coverage"] == 1.0, c
        for n in c["nodes"]:
            assert set(n) >= STATUS_KEYS | {"state", "reason", "fix"}
    run("status", "--cluster", "aks-dev-neu")
    removed = run("remove", "legacy-oms.yaml", "--yes", "--log-path", "--json")
    assert json_lines(removed.stdout)[-1]["outcome"] == "ok"
    for node in linux_nodes(emu, "aks-dev-neu"):  # the nodes are restored
        root = node_root(emu, "aks-dev-neu", node)
        assert not (root / "etc/audit/rules.d/50-aksaudit.rules").exists(), node
    store = emu.state.kube["aks-dev-neu"]
    assert store.get("namespaces", "", "aksaudit-system") is None
    run("cleanup", "--yes")
    assert oneshot_pods(emu, "aks-dev-neu") == [] and oneshot_pods(emu, "aks-prod-weu") == []

    # the key really went to Azure (legacy agent protected settings), never to us
    assert KEY in json.dumps(emu.state.secrets) or any(
        KEY in str(v) for v in emu.state.secrets.values()
    )
    written = [p for p in work.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" for p in written)  # journals
    for p in written:
        text = p.read_text(errors="replace")
        assert KEY not in text, p
        assert TOKEN not in text, p
    for out in outputs:
        assert KEY not in out and TOKEN not in out


def test_apply_without_yes_and_without_a_terminal_changes_nothing(emu: Any, tmp_path: Path) -> None:
    env = cli_env(emu, tmp_path / "state")
    assert sh(env, "plan", "--cluster", "aks-prod-weu", "--workspace", "law-prod-weu",
              "--out", str(tmp_path / "p.yaml")).returncode == 0  # fmt: skip
    p = sh(env, "apply", str(tmp_path / "p.yaml"))
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "aksaudit: error: refusing to change anything without --yes (no terminal to confirm on)"
    ]
    assert not (tmp_path / "state" / "runs").exists()
    assert _dcr_facilities(emu) == {"auth", "cron", "daemon", "kern", "syslog", "user"}


def _dcr_facilities(emu: Any) -> set[str]:
    out: set[str] = set()
    for d in dcr_bodies(emu):
        for s in d["properties"]["dataSources"].get("syslog", []):
            out |= set(s["facilityNames"])
    return out


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (("\nfacility: authpriv", "\nfacility: authprov"), 'unknown facility "authprov"'),
        (("  - identity-and-config", "  - no-such-preset"), 'unknown preset "no-such-preset"'),
        (
            ("\ndelivery: keeper", "\ndelivery: keeper\ncustom_rules:\n  inline: '-w /etc -p q'"),
            "custom_rules:1",
        ),
        (("\nlog_path: container-insights", "\nlog_path: [oops"), "not valid YAML"),
        (
            ("  location: westeurope\n", "  location: westeurope\n    kube_context: aks-dev-neu\n"),
            "kube context 'aks-dev-neu' points at a cluster whose nodes are in RG",
        ),
        (
            # a plan edited back to a tag: what runs as root could change under it
            ("/azurelinux/busybox@sha256:", "/azurelinux/busybox:1.36 # was "),
            "image mcr.microsoft.com/azurelinux/busybox:1.36 has no digest",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_changes(
    emu: Any, tmp_path: Path, edit: tuple[str, str], needle: str
) -> None:
    env = cli_env(emu, tmp_path / "state")
    good = tmp_path / "good.yaml"
    assert sh(env, "plan", "--cluster", "aks-prod-weu", "--workspace", "law-prod-weu",
              "--out", str(good)).returncode == 0  # fmt: skip
    text = good.read_text()
    assert edit[0] in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(edit[0], edit[1], 1))
    p = sh(env, "apply", str(bad), "--yes")
    assert p.returncode == 2, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("aksaudit: error: "), p.stderr
    assert needle in lines[0]
    assert "Traceback" not in p.stderr
    # nothing changed: the MSCI rule still lacks authpriv, no namespace, no run recorded
    assert "authpriv" not in _dcr_facilities(emu)
    store = emu.state.kube.get("aks-prod-weu")
    assert store is None or store.get("namespaces", "", "aksaudit-system") is None
    assert not list((tmp_path / "state").glob("runs/*.json"))


def test_plan_flags_bad_input(emu: Any, tmp_path: Path) -> None:
    env = cli_env(emu, tmp_path / "state")
    p = sh(env, "plan", "--cluster", "aks-prod-weu", "--workspace", "law-prod-weu",
           "--facility", "authprov")  # fmt: skip
    assert p.returncode == 2
    assert p.stderr.strip().startswith('aksaudit: error: unknown facility "authprov"; use one of')
    p = sh(env, "plan", "--cluster", "nope", "--workspace", "law-prod-weu")
    assert p.returncode == 2 and "--cluster nope: no such cluster" in p.stderr


def test_plan_equivalents_prints_az_and_kubectl_commands(emu: Any, tmp_path: Path) -> None:
    env = cli_env(emu, tmp_path / "state")
    out = tmp_path / "p.yaml"
    p = sh(env, "plan", "--cluster", "aks-dev-neu", "--workspace", "law-dev-neu",
           "--log-path", "legacy-oms", "--kube-context", "aks-dev-neu=ctx-dev",
           "--equivalents", "--out", str(out))  # fmt: skip
    assert p.returncode == 0, p.stderr
    text = p.stdout
    assert "--name OmsAgentForLinux" in text and "az vmss update-instances" in text
    assert "kubectl --context ctx-dev create namespace aksaudit-system" in text
    assert "LinuxSyslog" in text  # the workspace data source
    assert '\\"workspaceKey\\":\\"$WORKSPACE_KEY\\"' in text  # a shell lookup, never the key
    assert KEY not in text and KEY not in p.stderr and TOKEN not in text
    assert "clusters:" not in text  # the commands instead of the plan on stdout
    assert "aks-dev-neu" in out.read_text(encoding="utf-8")  # the plan still written
    p = sh(env, "plan", "--cluster", "aks-prod-weu", "--workspace", "law-prod-weu",
           "--equivalents")  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "az aks enable-addons -a monitoring" in p.stdout
    assert "MSCI-westeurope-aks-prod-weu" in p.stdout and "clusters:" not in p.stdout


def _wait_for(pred: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _start_apply(
    env: dict[str, str], tmp_path: Path, emu: Any
) -> tuple[subprocess.Popen[str], Path]:
    plan = tmp_path / "p.yaml"
    made = sh(env, "plan", "--cluster", "aks-dev-neu", "--workspace", "law-dev-neu",
              "--log-path", "ama", "--delivery", "one-shot", "--out", str(plan))  # fmt: skip
    assert made.returncode == 0, made.stderr
    stuck = linux_nodes(emu, "aks-dev-neu")[0]
    add_fault(emu, {"kind": "pod-pending", "cluster": "aks-dev-neu", "node": stuck,
                    "pod_prefix": "aksaudit-apply"})  # fmt: skip
    proc = subprocess.Popen(
        [*aksaudit_cmd(), "apply", str(plan), "--yes", "--json"], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    _wait_for(lambda: len(oneshot_pods(emu, "aks-dev-neu")) > 0, 90, "one-shot pods")
    _wait_for(lambda: stuck in str(oneshot_pods(emu, "aks-dev-neu")) and
              len(oneshot_pods(emu, "aks-dev-neu")) == 1, 90, "the stuck pod alone")  # fmt: skip
    return proc, plan


def test_kill_9_mid_run_then_cleanup_and_resume(emu: Any, tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = cli_env(emu, state)
    proc, _plan = _start_apply(env, tmp_path, emu)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    (journal,) = list((state / "runs").glob("*.json"))
    doc = json.loads(journal.read_text())  # never corrupt
    assert doc["state"] == "running"
    assert doc["clusters"]["aks-dev-neu"]["steps"]["delivery"]["state"] == "running"
    listed = sh(env, "resume", "--list", "--json")
    assert json_lines(listed.stdout)[0]["state"] == "interrupted"
    assert oneshot_pods(emu, "aks-dev-neu")  # the killed run left its privileged pod
    dry = sh(env, "cleanup", "--dry-run", "--json")
    assert any(x["kind"] == "Pod" for x in json.loads(dry.stdout)["leftovers"])
    assert sh(env, "cleanup", "--yes").returncode == 0
    _wait_for(lambda: not oneshot_pods(emu, "aks-dev-neu"), 30, "cleanup")
    clear_faults(emu)
    p = sh(env, "resume", "--yes", "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    result = json_lines(p.stdout)[-1]
    assert result["outcome"] == "ok" and result["run_id"] == doc["run_id"]
    steps = result["summary"]["clusters"]["aks-dev-neu"]["steps"]
    assert steps["access"] == "already" and steps["log-path"] == "already"
    assert json.loads(journal.read_text())["state"] == "ok"
    assert oneshot_pods(emu, "aks-dev-neu") == []


def test_sigterm_cancels_cleans_up_and_exits_4(emu: Any, tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = cli_env(emu, state)
    proc, _plan = _start_apply(env, tmp_path, emu)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, err[-2000:]
    assert json_lines(out)[-1]["outcome"] == "cancelled"
    assert oneshot_pods(emu, "aks-dev-neu") == []
    (journal,) = list((state / "runs").glob("*.json"))
    assert json.loads(journal.read_text())["state"] == "cancelled"


def _full_pipe() -> tuple[int, int]:
    """A pipe already holding as much as the kernel buffers: the next write to it blocks."""
    r, w = os.pipe()
    os.set_blocking(w, False)
    for chunk in (4096, 1):
        with contextlib.suppress(BlockingIOError):
            while True:
                os.write(w, b"x" * chunk)
    os.set_blocking(w, True)
    return r, w


def test_the_announced_run_id_is_in_the_journal_before_it_is_printed(
    emu: Any, tmp_path: Path
) -> None:
    """Issue 12: `apply --json` printed the run id before the journal held it; killed in that
    window, `resume RUN_ID` answered `no run`. The child's stdout is a full pipe, so it stops
    inside the very write that announces the run: the journal must already be there."""
    state = tmp_path / "state"
    env = cli_env(emu, state)
    plan = tmp_path / "p.yaml"
    made = sh(env, "plan", "--cluster", "aks-dev-neu", "--workspace", "law-dev-neu",
              "--log-path", "ama", "--delivery", "one-shot", "--out", str(plan))  # fmt: skip
    assert made.returncode == 0, made.stderr
    r, w = _full_pipe()
    proc = subprocess.Popen(
        [*aksaudit_cmd(), "apply", str(plan), "--yes", "--json"], env=env,
        stdout=w, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(w)
    try:
        wchan = Path(f"/proc/{proc.pid}/wchan")
        _wait_for(lambda: "pipe_write" in wchan.read_text(), 120, "the run id announcement")
        runs = list((state / "runs").glob("*.json"))
        assert len(runs) == 1, "the run id is being printed but no journal holds it"
        journalled = json.loads(runs[0].read_text())["run_id"]
        got = b""
        while got.count(b"\n") < 1 or len(got) <= 65536:
            got += os.read(r, 65536)
        announced = json.loads(got.lstrip(b"x").split(b"\n")[0])
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(r)
    assert announced["kind"] == "RunStarted" and announced["run_id"] == journalled
    assert sh(env, "cleanup", "--yes").returncode == 0
    p = sh(env, "resume", journalled, "--yes", "--json")
    assert "no run" not in p.stderr and p.returncode == 0, p.stderr[-2000:]
    assert json_lines(p.stdout)[-1]["run_id"] == journalled

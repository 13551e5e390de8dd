"""Issue 10 point 4 end to end: a node whose remove cannot finish (its kernel's audit
configuration was locked after our apply) is "failed", keeps its backups, and the CLI ends
"partial" with exit 3 while the other nodes are restored. Then, after that node "reboots", a
second remove finishes it and exits 0."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from aksaudit_tui.errors import EXIT_OK, EXIT_PARTIAL
from engine_helpers import aksaudit_cmd, cli_env, linux_nodes, node_root, scenario

CLUSTER, WORKSPACE = "aks-dev-neu", "law-dev-neu"


def _sh(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*aksaudit_cmd(), *args], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _set_kernel(root: Path, **values: str) -> None:
    path = root / "var/lib/aksaudit-sim/kernel"
    state = dict(ln.split(None, 1) for ln in path.read_text().splitlines() if ln.strip())
    state.update(values)
    path.write_text("".join(f"{k} {v}\n" for k, v in state.items()))


def test_a_node_that_cannot_be_restored_makes_remove_partial(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu = make_emulator(scenario())
    env = cli_env(emu, tmp_path / "state")
    plan = tmp_path / "plan.yaml"
    made = _sh(env, "plan", "--cluster", CLUSTER, "--workspace", WORKSPACE, "--log-path", "ama",
               "--delivery", "one-shot", "--presets", "identity-and-config", "--out", str(plan),
               cwd=tmp_path)  # fmt: skip
    assert made.returncode == EXIT_OK, made.stderr
    applied = _sh(env, "apply", str(plan), "--yes", "--no-verify", cwd=tmp_path)
    assert applied.returncode == EXIT_OK, applied.stderr[-2000:]
    nodes = linux_nodes(emu, CLUSTER)
    assert len(nodes) >= 2
    stuck = nodes[0]
    _set_kernel(node_root(emu, CLUSTER, stuck), enabled="2")  # locked after our apply

    removed = _sh(env, "remove", str(plan), "--yes", "--json", cwd=tmp_path)
    assert removed.returncode == EXIT_PARTIAL, removed.stderr[-2000:]
    lines = [json.loads(ln) for ln in removed.stdout.splitlines() if ln.strip()]
    assert lines[-1]["kind"] == "RunResult" and lines[-1]["outcome"] == "partial"
    final = {ev["node"]: ev["phase"] for ev in lines if ev["kind"] == "NodeUpdate"}
    assert final[stuck] == "failed"
    assert all(final[n] == "removed" for n in nodes[1:])
    assert (node_root(emu, CLUSTER, stuck) / "var/lib/aksaudit/backup").is_dir()
    for n in nodes[1:]:
        assert not (node_root(emu, CLUSTER, n) / "var/lib/aksaudit").exists(), n

    # The node reboots: the kernel forgets the lock and the loaded rules.
    root = node_root(emu, CLUSTER, stuck)
    _set_kernel(root, enabled="1")
    (root / "var/lib/aksaudit-sim/loaded.rules").write_text("")
    again = _sh(env, "remove", str(plan), "--yes", cwd=tmp_path)
    assert again.returncode == EXIT_OK, again.stderr[-2000:]
    assert not (root / "var/lib/aksaudit").exists()

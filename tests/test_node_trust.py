"""Issue 10 point 4 on the node: the script's own lock filter, safe remove (backups kept until
every unload and restore succeeded; -b, -f and --backlog_wait_time put back), rule words never
globbed, and the simulation fence (a root other than / runs host commands only as stand-ins)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from aksaudit_emulator.noderoot import standins_dir
from aksaudit_tui.nodes.script import render_node_script
from fixtures.noderoot import NodeRoot
from test_lock_refusal import LOCKING

MakeRoot = Callable[..., NodeRoot]
RULES = """\
-b 8192
--backlog_wait_time 60000
-f 1
-a always,exit -F arch=b64 -S execve -k aks_exec
-a always,exit -F arch=b32 -S execve -k aks_exec
-w /etc/passwd -p wa -k identity
"""
SCRIPT = render_node_script(RULES, "authpriv")
BACKUP = "var/lib/aksaudit/backup"


def _tampered(line: str) -> str:
    """The script as a hand-edited ConfigMap would carry it (after rendering refused the line)."""
    script = render_node_script(RULES + "-e 1\n", "authpriv")
    assert "\n-e 1\n" in script
    return script.replace("\n-e 1\n", f"\n{line}\n")


def _kernel(node: NodeRoot) -> dict[str, str]:
    pairs = (ln.split() for ln in (node.sim / "kernel").read_text().splitlines() if ln.strip())
    return {p[0]: p[1] for p in pairs if len(p) == 2}


def _set_kernel(node: NodeRoot, **values: str) -> None:
    state = {**_kernel(node), **values} if (node.sim / "kernel").exists() else values
    (node.sim / "kernel").write_text("".join(f"{k} {v}\n" for k, v in state.items()))


def _loaded(node: NodeRoot) -> str:
    path = node.sim / "loaded.rules"
    return path.read_text() if path.exists() else ""


@pytest.mark.parametrize(("line", "letter"), LOCKING)
def test_node_filter_refuses_every_locking_spelling_before_any_change(
    node_root: MakeRoot, line: str, letter: str
) -> None:
    node = node_root("Ubuntu2404")
    before = node.tree_hash()
    result = node.run(_tampered(line), "apply")
    assert result.returncode == 1, result.stdout
    assert result.status["ok"] is False and result.status["changed"] == []
    (error,) = result.status["errors"]  # type: ignore[misc]
    assert f"sets -{letter} 2" in error and "refused, nothing changed" in error
    assert node.tree_hash() == before
    assert node.calls() == []  # no host command ran: nothing installed, nothing loaded


def test_node_filter_lets_comments_and_other_values_through(node_root: MakeRoot) -> None:
    harmless = ["# -e 2", "   # -e 2 is never written", "#-e 2", "-e 1", "-w /etc/e2 -p wa -k e2"]
    node = node_root("Ubuntu2404")
    result = node.run(_tampered("\n".join(harmless)), "apply")
    assert result.returncode == 0, result.stdout
    assert _kernel(node)["enabled"] == "1"


def test_another_rules_file_that_locks_stops_apply(node_root: MakeRoot) -> None:
    node = node_root("Ubuntu2404", auditd_installed=True)
    (node.path / "etc/audit/rules.d/99-finalize.rules").write_text("-b 8192 -e 2\n")
    before = node.tree_hash()
    result = node.run(SCRIPT, "apply")
    assert result.returncode == 1
    (error,) = result.status["errors"]  # type: ignore[misc]
    assert error.startswith("/etc/audit/rules.d/99-finalize.rules line 1 sets -e 2")
    assert node.tree_hash() == before and _kernel(node)["enabled"] != "2"


def test_a_locked_kernel_stops_apply_before_any_change(node_root: MakeRoot) -> None:
    node = node_root("Ubuntu2404", auditd_installed=True)
    _set_kernel(node, enabled="2")
    before = node.tree_hash()
    result = node.run(SCRIPT, "apply")
    assert result.returncode == 1
    assert "is locked (enabled 2" in result.status["errors"][0]  # type: ignore[index]
    assert node.tree_hash() == before


def test_remove_restores_backlog_failure_and_wait_time(node_root: MakeRoot) -> None:
    node = node_root("Ubuntu2404", auditd_installed=True)
    _set_kernel(node, backlog_limit="320", failure="0", backlog_wait_time="12345")
    applied = node.run(SCRIPT, "apply")
    assert applied.returncode == 0, applied.stdout
    k = _kernel(node)
    assert (k["backlog_limit"], k["failure"], k["backlog_wait_time"]) == ("8192", "1", "60000")
    saved = (node.path / BACKUP / "kernel-settings").read_text()
    assert saved == "backlog_limit 320\nfailure 0\nbacklog_wait_time 12345\n"
    # a second apply keeps what the node had, not our own values
    assert node.run(SCRIPT, "apply").returncode == 0
    assert (node.path / BACKUP / "kernel-settings").read_text() == saved
    removed = node.run(SCRIPT, "remove")
    assert removed.returncode == 0, removed.stdout
    k = _kernel(node)
    assert (k["backlog_limit"], k["failure"], k["backlog_wait_time"]) == ("320", "0", "12345")
    assert "kernel" in removed.status["changed"]  # type: ignore[operator]
    assert not (node.path / "var/lib/aksaudit").exists()


def test_remove_on_a_locked_kernel_is_an_error_and_keeps_every_backup(node_root: MakeRoot) -> None:
    node = node_root("Ubuntu2404", auditd_installed=True)
    _set_kernel(node, backlog_limit="320")
    assert node.run(SCRIPT, "apply").returncode == 0
    _set_kernel(node, enabled="2")  # someone locked it after our apply
    removed = node.run(SCRIPT, "remove")
    assert removed.returncode == 1 and removed.status["ok"] is False
    assert any("is locked (enabled 2" in e for e in removed.status["errors"])  # type: ignore[union-attr]
    backups = node.path / BACKUP
    assert (backups / "kernel-settings").exists() and (backups / "pending-unload").exists()
    assert "aks_exec" in _loaded(node)  # still in the kernel, as the error says
    assert not (node.path / "etc/audit/rules.d/50-aksaudit.rules").exists()  # files restored
    # The node reboots: the kernel forgets the lock and the rules; settings come from boot.
    _set_kernel(node, enabled="1", backlog_limit="8192")
    (node.sim / "loaded.rules").write_text("")
    again = node.run(SCRIPT, "remove")
    assert again.returncode == 0, again.stdout
    assert _kernel(node)["backlog_limit"] == "320"
    assert not backups.exists()


def _failing_auditctl(tmp_path: Path) -> Path:
    """A stand-in auditctl that refuses every delete (EPERM), as an LSM or a bug might."""
    wrap = tmp_path / "eperm"
    wrap.mkdir()
    (wrap / "auditctl").write_text(
        "#!/bin/sh\n# aksaudit-standin\n"
        'case "$1" in -d | -W) echo "Error sending delete rule data request '
        '(Operation not permitted)" >&2; exit 1 ;; esac\n'
        f'exec "{standins_dir() / "auditctl"}" "$@"\n'
    )
    (wrap / "auditctl").chmod(0o755)
    return wrap


def test_an_unload_failure_is_an_error_and_the_next_remove_finishes(
    node_root: MakeRoot, tmp_path: Path
) -> None:
    node = node_root("Ubuntu2404", auditd_installed=True)
    assert node.run(SCRIPT, "apply").returncode == 0
    normal_path = node.env["PATH"]
    node.env["PATH"] = f"{_failing_auditctl(tmp_path)}:{normal_path}"
    removed = node.run(SCRIPT, "remove")
    assert removed.returncode == 1
    assert any("could not unload 3 of our rules" in e for e in removed.status["errors"])  # type: ignore[union-attr]
    pending = (node.path / BACKUP / "pending-unload").read_text()
    assert "-k aks_exec" in pending and "-w /etc/passwd" in pending
    node.env["PATH"] = normal_path
    again = node.run(SCRIPT, "remove")
    assert again.returncode == 0, again.stdout
    assert "aks_exec" not in _loaded(node) and "identity" not in _loaded(node)
    assert not (node.path / "var/lib/aksaudit").exists()


def test_rule_words_are_never_globbed(node_root: MakeRoot, tmp_path: Path) -> None:
    """`-w /etc/*` must reach auditctl as written, on remove too (the shell word-splits it)."""
    rules = RULES + "-w /etc/* -p wa -k globby\n"
    script = render_node_script(rules, "authpriv")
    node = node_root("Ubuntu2404", auditd_installed=True)
    assert node.run(script, "apply").returncode == 0
    assert "-w /etc/* -p wa -k globby" in _loaded(node)
    node.clear_calls()
    removed = node.run(script, "remove")
    assert removed.returncode == 0, removed.stdout
    assert "auditctl -W /etc/* -p wa -k globby" in node.calls()  # not /etc/adduser.conf ...
    assert "globby" not in _loaded(node)


def _spy_bin(tmp_path: Path, marker: bool) -> tuple[Path, Path]:
    """Commands named like the host's that only record that they ran."""
    spy = tmp_path / ("marked" if marker else "spy")
    spy.mkdir()
    log = tmp_path / f"{spy.name}.log"
    for name in ("apt-get", "dpkg", "systemctl", "auditctl", "augenrules", "rpm", "tdnf"):
        head = "#!/bin/sh\n# aksaudit-standin\n" if marker else "#!/bin/sh\n"
        (spy / name).write_text(f'{head}echo "{name} $*" >>"{log}"\nexit 1\n')
        (spy / name).chmod(0o755)
    return spy, log


def test_a_simulated_root_without_the_simulation_flag_runs_no_host_command(
    node_root: MakeRoot, tmp_path: Path
) -> None:
    """`AKSAUDIT_ROOT=/tmp/x sh node.sh apply` must not run this machine's apt-get/auditctl."""
    node = node_root("Ubuntu2404")
    spy, log = _spy_bin(tmp_path, marker=False)
    env = {k: v for k, v in node.env.items() if k != "AKSAUDIT_SIMULATION"}
    env["PATH"] = f"{spy}:/usr/bin:/bin"
    before = node.tree_hash()
    proc = subprocess.run(
        ["sh", "-s", "--", "apply"], input=SCRIPT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "AKSAUDIT_SIMULATION is not 1" in proc.stdout
    assert not log.exists() and node.tree_hash() == before


def test_in_a_simulation_every_host_command_must_be_a_stand_in(
    node_root: MakeRoot, tmp_path: Path
) -> None:
    node = node_root("Ubuntu2404")
    spy, log = _spy_bin(tmp_path, marker=False)
    env = {**node.env, "PATH": f"{spy}:{node.env['PATH']}"}
    proc = subprocess.run(
        ["sh", "-s", "--", "apply"], input=SCRIPT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert f"apt-get is {spy}/apt-get, not an aksaudit stand-in" in proc.stdout
    assert not log.exists()
    # marked stand-ins do run (here they fail, as a broken package manager would)
    marked, marked_log = _spy_bin(tmp_path, marker=True)
    env["PATH"] = f"{marked}:{node.env['PATH']}"
    proc = subprocess.run(
        ["sh", "-s", "--", "apply"], input=SCRIPT, env=env, capture_output=True, text=True
    )
    assert "apt-get" in marked_log.read_text()
    assert "apt-get install auditd failed" in proc.stdout


def test_the_emulator_stand_ins_carry_the_marker() -> None:
    for path in sorted(standins_dir().iterdir()):
        if path.is_file() and not path.name.startswith("_"):
            assert "# aksaudit-standin" in path.read_text().splitlines()[:5], path.name

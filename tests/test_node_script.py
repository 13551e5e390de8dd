"""The node script against simulated node roots, with the host-command stand-ins on PATH.

Ubuntu 22.04 roots get the real Debian auditd package unpacked by the apt-get stand-in, so the
plugin file the script edits is the one the package ships.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from aksaudit_emulator.noderoot import SIM_DIR, standins_dir
from aksaudit_emulator.nodestate import read_node_audit_state
from aksaudit_tui.nodes.script import render_node_script
from aksaudit_tui.nodes.status import parse_node_status
from fixtures.noderoot import NodeRoot, tree_digest

RULES = """\
## test rules written inline (presets land separately)
-D
-b 8192
-a always,exit -F arch=b64 -S execve -k aks_exec
-a always,exit -F arch=b32 -S execve -k aks_exec
-w /etc/passwd -p wa -k identity
-w /etc/sudoers.d/ -p wa -k identity
-w /etc/no-such-dir/app.conf -p wa -k ghost
-a always,exit -F arch=b64 -S openat -F dir=/opt/missing-dir -F perm=w -k ghost
"""
SCRIPT = render_node_script(RULES, "authpriv", "info")
RULES_FILE = "etc/audit/rules.d/50-aksaudit.rules"
PLUGIN3 = "etc/audit/plugins.d/syslog.conf"
PLUGIN2 = "etc/audisp/plugins.d/syslog.conf"
MakeRoot = Callable[..., NodeRoot]


def _make(node_root: MakeRoot, sku: str, deb: Path | None, **kw: bool) -> NodeRoot:
    return node_root(sku, deb=deb if sku == "Ubuntu2204" else None, **kw)


def _deb_for(sku: str, request: pytest.FixtureRequest) -> Path | None:
    return request.getfixturevalue("auditd_deb") if sku == "Ubuntu2204" else None


def _restarts(calls: list[str]) -> list[str]:
    return [c for c in calls if c.split()[:1] in (["systemctl"], ["service"]) and "restart" in c]


SHELLS = [("sh",), ("dash",), ("busybox", "sh")]


@pytest.mark.parametrize("shell", SHELLS, ids=["sh", "dash", "busybox"])
@pytest.mark.parametrize("sku", ["Ubuntu2204", "Ubuntu2404", "AzureLinux3", "Ubuntu1804"])
def test_apply_configures_node_and_second_apply_changes_nothing(
    node_root: MakeRoot, request: pytest.FixtureRequest, sku: str, shell: tuple[str, ...]
) -> None:
    if shutil.which(shell[0]) is None:
        pytest.skip(f"{shell[0]} is not installed")
    node = _make(node_root, sku, _deb_for(sku, request))
    first = node.run(SCRIPT, "apply", shell=shell)
    assert first.returncode == 0, first.stdout + first.stderr
    status = first.status
    assert status["ok"] is True and status["errors"] == []
    assert status["supported"] is True and status["installed"] is True
    assert status["running"] is True and status["plugin_active"] is True
    assert status["node"] == "aks-nodepool1-12345678-vmss000000"
    assert {"install", "plugin", "rules", "load"} <= set(status["changed"])  # type: ignore[arg-type]
    assert status["skipped_watches"] == ["/etc/no-such-dir/app.conf", "/opt/missing-dir"]
    # Two execve rules and two watches survive; both ghost rules were dropped before loading.
    assert status["rules_loaded"] == 4

    rules = node.read(RULES_FILE)
    assert "-k aks_exec" in rules and "/etc/no-such-dir" not in rules and "missing-dir" not in rules
    assert "-e 2" not in rules
    assert status["rules_sha256"] == hashlib.sha256(rules.encode()).hexdigest()

    state = read_node_audit_state(node.path)
    assert state.ships_to_syslog, state.problems
    assert (state.plugin_facility, state.plugin_priority) == ("authpriv", "info")
    assert {"aks_exec", "identity"} <= state.rule_keys and "ghost" not in state.rule_keys
    assert state.rule_count == 4

    calls = node.calls()
    if sku.startswith("Ubuntu"):
        assert any(c.startswith("apt-get") and "DPkg::Lock::Timeout=120" in c for c in calls)
    else:
        assert any(c.startswith("tdnf install -y audit") for c in calls)
        assert "systemctl enable --now auditd" in calls

    # Second apply: same bytes everywhere, no restart, no reload.
    before = node.tree_hash()
    node.clear_calls()
    second = node.run(SCRIPT, shell=shell)  # default mode is the rendered one: apply
    assert second.returncode == 0, second.stdout
    assert second.status["changed"] == [] and second.status["mode"] == "apply"
    assert node.tree_hash() == before
    calls = node.calls()
    assert _restarts(calls) == [], calls
    assert not [c for c in calls if c.startswith(("augenrules", "apt-get", "tdnf"))], calls

    # check changes nothing and reports compliance.
    check = node.run(SCRIPT, "check", shell=shell)
    assert check.returncode == 0 and check.status["compliant"] is True
    assert node.tree_hash() == before


def test_ubuntu_plugin_is_the_real_package_file_edited(
    node_root: MakeRoot, auditd_deb: Path
) -> None:
    node = node_root("Ubuntu2204", deb=auditd_deb)
    result = node.run(SCRIPT, "apply")
    assert result.returncode == 0, result.stdout
    settings = {
        k.strip(): v.strip()
        for k, _, v in (
            line.partition("=")
            for line in node.read(PLUGIN3).splitlines()
            if line.strip() and not line.startswith("#")
        )
    }
    assert settings == {
        "active": "yes",
        "direction": "out",
        "path": "/sbin/audisp-syslog",
        "type": "always",
        "args": "LOG_INFO LOG_AUTHPRIV",
        "format": "string",
    }
    assert (node.path / "sbin/audisp-syslog").is_file()
    # The backup is the package's own file, byte for byte.
    extracted = subprocess.run(
        ["dpkg-deb", "--fsys-tarfile", str(auditd_deb)], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(extracted)) as tar:
        member = tar.extractfile("./etc/audit/plugins.d/syslog.conf")
        assert member is not None
        shipped = member.read()
    assert b"active = no" in shipped
    backup = node.path / "var/lib/aksaudit/backup" / PLUGIN3
    assert backup.read_bytes() == shipped
    assert (node.path / "var/lib/aksaudit/backup" / f"{RULES_FILE}.absent").exists()


def test_remove_restores_byte_for_byte(node_root: MakeRoot, auditd_deb: Path) -> None:
    node = node_root("Ubuntu2204", deb=auditd_deb, auditd_installed=True)
    # audit.rules.prev is augenrules' own backup, rewritten whenever rules.d changes.
    exclude = (SIM_DIR, "etc/audit/audit.rules.prev")
    before = tree_digest(node.path, exclude)
    loaded_before = (node.sim / "loaded.rules").read_text()
    assert node.run(SCRIPT, "apply").returncode == 0
    assert tree_digest(node.path, exclude) != before
    assert (node.sim / "loaded.rules").read_text() != loaded_before
    node.clear_calls()
    removed = node.run(SCRIPT, "remove")
    assert removed.returncode == 0, removed.stdout
    assert removed.status["mode"] == "remove"
    assert {"plugin", "rules", "unload", "restart"} <= set(removed.status["changed"])  # type: ignore[arg-type]
    assert tree_digest(node.path, exclude) == before
    assert not (node.path / "var/lib/aksaudit").exists()
    # Exactly our rules left the kernel; the package's own state is back.
    assert (node.sim / "loaded.rules").read_text() == loaded_before
    assert "systemctl restart auditd" in node.calls()
    again = node.run(SCRIPT, "remove")
    assert again.returncode == 0 and again.status["changed"] == []


def test_check_on_fresh_node_reports_drift_and_changes_nothing(node_root: MakeRoot) -> None:
    node = node_root("Ubuntu2404")
    before = node.tree_hash(include_sim=False)
    result = node.run(SCRIPT, "check")
    assert result.returncode == 3
    assert result.status["compliant"] is False and result.status["ok"] is True
    assert result.status["changed"] == ["install"]
    assert result.status["installed"] is False
    assert node.tree_hash() == before
    assert not any(c.startswith("apt-get") for c in node.calls())


def test_check_detects_plugin_drift(node_root: MakeRoot) -> None:
    node = node_root("AzureLinux3")
    assert node.run(SCRIPT, "apply").returncode == 0
    plugin = node.path / PLUGIN3
    plugin.write_text(plugin.read_text().replace("active = yes", "active = no"))
    assert read_node_audit_state(node.path).ships_to_syslog  # auditd has not re-read it yet
    node.systemctl("restart")  # a reboot or an admin: now the edit counts
    assert not read_node_audit_state(node.path).plugin_active
    before = node.tree_hash()
    result = node.run(SCRIPT, "check")
    assert result.returncode == 3
    assert set(result.status["changed"]) == {"plugin", "restart"}  # type: ignore[arg-type]
    assert node.tree_hash() == before
    # apply repairs it with one restart and no reload (the rules did not change).
    node.clear_calls()
    fixed = node.run(SCRIPT, "apply")
    assert fixed.status["changed"] == ["plugin", "restart"]
    assert read_node_audit_state(node.path).ships_to_syslog


def test_azure_linux_uses_usr_sbin_plugin_path(node_root: MakeRoot) -> None:
    node = node_root("AzureLinux3")
    assert node.run(SCRIPT, "apply").returncode == 0
    assert "path = /usr/sbin/audisp-syslog" in node.read(PLUGIN3)
    assert not (node.path / "sbin").is_symlink()


def test_audit2_node_gets_builtin_plugin(node_root: MakeRoot) -> None:
    node = node_root("Ubuntu1804", auditd_installed=True)
    result = node.run(SCRIPT, "apply")
    assert result.status["audit_version"] == "2.8.2"
    assert result.status["plugin_path"] == "/etc/audisp/plugins.d/syslog.conf"
    text = node.read(PLUGIN2)
    assert "path = builtin_syslog" in text and "type = builtin" in text
    assert "args = LOG_INFO LOG_AUTHPRIV" in text
    assert not (node.path / PLUGIN3).exists()
    assert "install" not in result.status["changed"]  # type: ignore[operator]
    assert read_node_audit_state(node.path).ships_to_syslog


def test_audit4_also_restarts_the_rules_unit(node_root: MakeRoot) -> None:
    node = node_root("Ubuntu2404")
    (node.sim / "candidate-auditd").write_text("1:4.0.2-2ubuntu1\n")
    result = node.run(SCRIPT, "apply")
    assert result.status["audit_version"] == "4.0.2"
    assert "systemctl restart audit-rules.service" in node.calls()


@pytest.mark.parametrize("shell", [("dash",), ("busybox", "sh")])
def test_flatcar_is_skipped_with_reason(node_root: MakeRoot, shell: tuple[str, ...]) -> None:
    node = node_root("Flatcar")
    before = node.tree_hash(include_sim=True)
    result = node.run(SCRIPT, "apply", shell=shell)
    assert result.returncode == 0
    status = parse_node_status(result.stdout)
    assert status is not None and status.skipped and status.ok
    assert status.skip_reason is not None and "immutable" in status.skip_reason
    assert status.changed == [] and not status.installed
    assert node.tree_hash(include_sim=True) == before


@pytest.mark.parametrize("sku", ["Ubuntu2204", "AzureLinux3"])
def test_no_egress_is_reported_clearly(node_root: MakeRoot, sku: str) -> None:
    node = node_root(sku, no_egress=True)
    result = node.run(SCRIPT, "apply")
    assert result.returncode == 1
    status = parse_node_status(result.stdout)
    assert status is not None and not status.ok and not status.installed
    assert len(status.errors) == 1
    assert "cannot reach its package repository" in status.errors[0]
    if sku == "Ubuntu2204":
        assert "E: Unable to fetch some archives" in status.errors[0]
    assert not (node.path / RULES_FILE).exists()


def test_watch_rules_rejected_by_auditctl_without_filter(node_root: MakeRoot) -> None:
    """The stand-in behaves like auditctl -R: a watch in a missing directory stops the load."""
    node = node_root("Ubuntu2404", auditd_installed=True)
    bad = node.path / "bad.rules"
    bad.write_text("-w /etc/passwd -p wa -k a\n-w /nope/x -p wa -k b\n-w /etc/group -p wa -k c\n")
    proc = subprocess.run(
        ["auditctl", "-R", str(bad)], env=node.env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1 and "line 2" in proc.stderr
    assert read_node_audit_state(node.path).rule_keys == {"a"}


def test_rendering_is_deterministic_and_validated() -> None:
    assert render_node_script(RULES, "authpriv") == SCRIPT
    assert render_node_script(RULES, "LOG_AUTHPRIV", "LOG_INFO") == SCRIPT
    assert 'FACILITY="local3"' in render_node_script(RULES, "local3", "notice", "check")
    assert 'MODE="${1:-check}"' in render_node_script(RULES, "local3", "notice", "check")
    for bad in ({"facility": "kern"}, {"severity": "loud"}, {"mode": "wipe"}):
        args = {"facility": "authpriv", "severity": "info", "mode": "apply", **bad}
        with pytest.raises(ValueError):
            render_node_script(RULES, **args)
    with pytest.raises(ValueError, match="reserved"):
        render_node_script("AKSAUDIT_RULES_EOF\n", "authpriv")


def test_rendered_script_is_shellcheck_clean(tmp_path: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    path = tmp_path / "node.sh"
    path.write_text(SCRIPT)
    proc = subprocess.run(
        ["shellcheck", "-s", "sh", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout


def test_standins_are_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    files = sorted(str(p) for p in standins_dir().iterdir() if p.is_file())
    proc = subprocess.run(
        ["shellcheck", "-x", "-s", "sh", *files],
        capture_output=True,
        text=True,
        cwd=standins_dir(),
        check=False,
    )
    assert proc.returncode == 0, proc.stdout


def test_standins_refuse_the_real_root(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(standins_dir() / "systemctl"), "restart", "auditd"],
        env={"PATH": "/usr/bin:/bin", "AKSAUDIT_ROOT": "/"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 97 and "not /" in proc.stderr


def test_rules_text_is_data_not_code(node_root: MakeRoot, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    rules = f"# $(touch {marker}) `touch {marker}` '\"\n-w /etc/passwd -p wa -k id\n"
    node = node_root("Ubuntu2404")
    result = node.run(render_node_script(rules, "authpriv"), "apply")
    assert result.returncode == 0, result.stdout
    assert not marker.exists()
    assert node.read(RULES_FILE) == rules


def test_dpkg_lock_held_is_reported(node_root: MakeRoot) -> None:
    node = node_root("Ubuntu2204")
    (node.sim / "dpkg-locked").write_text("")
    result = node.run(SCRIPT, "apply")
    assert result.returncode == 1
    status = parse_node_status(result.stdout)
    assert status is not None and not status.installed
    assert "Could not get lock" in status.errors[0] or "dpkg frontend lock" in status.errors[0]


@pytest.mark.parametrize("shell", SHELLS, ids=["sh", "dash", "busybox"])
def test_script_read_from_stdin_survives_commands_reading_stdin(
    node_root: MakeRoot, tmp_path: Path, shell: tuple[str, ...]
) -> None:
    """As the pods run it (`nsenter ... -- sh -s -- MODE < node.sh`), here through a pipe and
    with an apt-get that drains its stdin, as a prompting dpkg would."""
    greedy = tmp_path / "greedy"
    greedy.mkdir()
    (greedy / "apt-get").write_text(
        f'#!/bin/sh\n# aksaudit-standin\ncat >/dev/null\nexec "{standins_dir() / "apt-get"}" "$@"\n'
    )
    (greedy / "apt-get").chmod(0o755)
    node = node_root("Ubuntu2404")
    env = {**node.env, "PATH": f"{greedy}:{node.env['PATH']}"}
    proc = subprocess.run(
        ["nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--", *shell, "-s", "--", "apply"],
        input=SCRIPT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = parse_node_status(proc.stdout)
    assert status is not None and status.ok and "install" in status.changed
    assert proc.stdout.count('{"aksaudit": 1') == 1


@pytest.mark.parametrize("sku", ["Ubuntu2204", "Ubuntu2404", "AzureLinux3", "Ubuntu1804"])
def test_every_shipped_preset_through_the_node_script(
    node_root: MakeRoot, request: pytest.FixtureRequest, sku: str
) -> None:
    from aksaudit_tui.presets import load_presets, render_rules

    names = sorted(n for n, p in load_presets().items() if p.kind != "base")
    rules = render_rules(names)
    node = _make(node_root, sku, _deb_for(sku, request))
    result = node.run(render_node_script(rules, "authpriv"), "apply")
    assert result.returncode == 0, result.stdout
    status = result.status
    written = node.read(RULES_FILE)
    rule_lines = [ln for ln in written.splitlines() if ln.startswith(("-a ", "-w "))]
    # Every rule line written was loaded (no "Rule exists", no missing directory).
    assert status["rules_loaded"] == len(rule_lines) > 20
    for watch in status["skipped_watches"]:  # type: ignore[attr-defined]
        assert f"-w {watch} " not in written
    assert "-e 2" not in written
    keys = read_node_audit_state(node.path).rule_keys
    assert {"aksaudit-memfd", "aksaudit-ns"} <= keys
    again = node.run(render_node_script(rules, "authpriv"), "apply")
    assert again.status["changed"] == []


def test_unknown_mode_is_an_error_line(node_root: MakeRoot) -> None:
    node = node_root("Ubuntu2404")
    before = node.tree_hash(include_sim=True)
    result = node.run(SCRIPT, "wipe")
    assert result.returncode == 1
    status = parse_node_status(result.stdout)
    assert status is not None and not status.ok
    assert status.errors == ["unknown mode; use apply, check or remove"]
    assert node.tree_hash(include_sim=True) == before


def test_rules_deleted_from_the_kernel_are_drift(node_root: MakeRoot) -> None:
    node = node_root("Ubuntu2404")
    assert node.run(SCRIPT, "apply").returncode == 0
    subprocess.run(["auditctl", "-D"], env=node.env, check=True, capture_output=True)
    assert read_node_audit_state(node.path).rule_count == 0
    before = node.tree_hash()
    check = node.run(SCRIPT, "check")
    assert check.returncode == 3 and check.status["changed"] == ["load"]
    assert node.tree_hash() == before
    node.clear_calls()
    fixed = node.run(SCRIPT, "apply")
    assert fixed.status["changed"] == ["load"]
    assert _restarts(node.calls()) == []
    assert {"aks_exec", "identity"} <= read_node_audit_state(node.path).rule_keys
    assert node.run(SCRIPT, "check").returncode == 0


@pytest.mark.parametrize("sku", ["Ubuntu2204", "AzureLinux3"])
def test_interrupted_install_is_repaired_by_the_next_apply(
    node_root: MakeRoot, request: pytest.FixtureRequest, sku: str
) -> None:
    """The apply pod killed during apt-get/dnf leaves files on disk and the package unpacked
    (dpkg) or unrecorded (rpm), with no unit systemd knows: the next apply must repair it."""
    node = _make(node_root, sku, _deb_for(sku, request))
    (node.sim / "interrupt-install").write_text("")
    first = node.run(SCRIPT, "apply")
    assert first.returncode == 1 and first.status["installed"] is False, first.stdout
    assert any((node.path / d / "auditd").exists() for d in ("sbin", "usr/sbin"))
    assert not read_node_audit_state(node.path).installed

    check = node.run(SCRIPT, "check")
    assert check.returncode == 3 and "install" in check.status["changed"]  # type: ignore[operator]

    node.clear_calls()
    second = node.run(SCRIPT, "apply")
    assert second.returncode == 0, second.stdout + second.stderr
    status = second.status
    assert status["ok"] is True and status["errors"] == []
    assert status["installed"] is True and status["running"] is True
    assert status["plugin_active"] is True and "install" in status["changed"]  # type: ignore[operator]
    calls = node.calls()
    if sku.startswith("Ubuntu"):
        configure = calls.index("dpkg --configure -a")
        install = next(i for i, c in enumerate(calls) if c.startswith("apt-get") and "install" in c)
        assert configure < install and "DPkg::Lock::Timeout=120" in calls[install]
        assert "Status: install ok installed" in node.read("var/lib/dpkg/status")
    else:
        assert any(c.startswith("tdnf install -y audit") for c in calls), calls

    assert node.run(SCRIPT, "check").status["compliant"] is True
    assert read_node_audit_state(node.path).ships_to_syslog


HEARTBEAT_RULES = RULES + "-w /var/lib/aksaudit/heartbeat -p wa -k aksaudit-heartbeat\n"


def test_heartbeat_watched_touched_by_apply_and_compliant_check_removed_by_remove(
    node_root: MakeRoot,
) -> None:
    """Apply creates the heartbeat's directory before filtering watches (so the heartbeat watch
    is kept and loaded) and touches the file; a compliant check (the keeper's, every interval)
    touches it again; a check that finds drift does not; remove deletes it."""
    import os

    script = render_node_script(HEARTBEAT_RULES, "authpriv", "info")
    node = node_root("Ubuntu2404")
    beat = node.path / "var/lib/aksaudit/heartbeat"
    applied = node.run(script, "apply")
    assert applied.returncode == 0, applied.stdout
    assert "/var/lib/aksaudit" not in applied.status["skipped_watches"]  # type: ignore[operator]
    assert "-k aksaudit-heartbeat" in node.read(RULES_FILE)
    assert "aksaudit-heartbeat" in read_node_audit_state(node.path).rule_keys
    assert beat.is_file()
    os.utime(beat, (1_000_000, 1_000_000))
    check = node.run(script, "check")
    assert check.returncode == 0 and check.status["compliant"] is True
    assert beat.stat().st_mtime > 1_000_000
    # drift: the check reports it and leaves the heartbeat alone (the pipeline is not as planned)
    os.utime(beat, (1_000_000, 1_000_000))
    plugin = node.path / PLUGIN3
    plugin.write_text(plugin.read_text().replace("active = yes", "active = no"))
    drift = node.run(script, "check")
    assert drift.returncode == 3
    assert beat.stat().st_mtime == 1_000_000
    assert node.run(script, "remove").returncode == 0
    assert not beat.exists() and not (node.path / "var/lib/aksaudit").exists()


def test_check_on_fresh_node_writes_no_heartbeat(node_root: MakeRoot) -> None:
    script = render_node_script(HEARTBEAT_RULES, "authpriv", "info")
    node = node_root("AzureLinux3")
    assert node.run(script, "check").returncode == 3
    assert not (node.path / "var/lib/aksaudit").exists()


@pytest.mark.parametrize("sku", ["Ubuntu2404", "AzureLinux3", "Ubuntu1804"])
def test_plugin_written_but_auditd_not_restarted_is_restarted(
    node_root: MakeRoot, sku: str
) -> None:
    """An apply stopped between writing the plugin file and restarting auditd (its pod deleted)
    leaves the right file that the running daemon never read: auditd reads plugins.d only at
    start. The next check must call it drift and the next apply restart auditd, though the file
    itself needs no change (the daemon's pid file, written at its start, is older than it)."""
    done = node_root(sku, auditd_installed=True)
    assert done.run(SCRIPT, "apply").returncode == 0
    plugin = PLUGIN2 if sku == "Ubuntu1804" else PLUGIN3
    node = node_root(sku, auditd_installed=True)
    (node.path / plugin).write_text(done.read(plugin))  # what the stopped apply wrote
    assert not read_node_audit_state(node.path).plugin_active  # the daemon has the old file

    check = node.run(SCRIPT, "check")
    assert check.returncode == 3 and check.status["plugin_active"] is False
    assert "restart" in check.status["changed"]  # type: ignore[operator]
    assert "plugin" not in check.status["changed"]  # type: ignore[operator]
    node.clear_calls()
    fixed = node.run(SCRIPT, "apply")
    assert fixed.returncode == 0 and "restart" in fixed.status["changed"]  # type: ignore[operator]
    assert len(_restarts(node.calls())) == 1
    assert read_node_audit_state(node.path).ships_to_syslog
    node.clear_calls()
    again = node.run(SCRIPT, "apply")  # read now: no further restart
    assert again.status["changed"] == [] and _restarts(node.calls()) == []
    assert node.run(SCRIPT, "check").status["compliant"] is True


@pytest.mark.parametrize("shell", SHELLS, ids=["sh", "dash", "busybox"])
def test_a_terminated_script_leaves_no_scratch_dir(
    node_root: MakeRoot, tmp_path: Path, shell: tuple[str, ...]
) -> None:
    """A pod's deletion sends TERM to the script's process group mid-run (here while apt-get
    installs): the script's scratch dir under TMPDIR goes with it, as it does on a normal end."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    started = tmp_path / "apt-started"
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "apt-get").write_text(
        f'#!/bin/sh\n# aksaudit-standin\n: >"{started}"\nsleep 30\n'
        f'exec "{standins_dir() / "apt-get"}" "$@"\n'
    )
    (slow / "apt-get").chmod(0o755)
    node = node_root("Ubuntu2404")
    node.env["TMPDIR"] = str(scratch)
    env = {**node.env, "PATH": f"{slow}:{node.env['PATH']}"}
    proc = subprocess.Popen(
        [*shell, "-s", "--", "apply"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
        start_new_session=True,
    )
    assert proc.stdin is not None
    proc.stdin.write(SCRIPT)
    proc.stdin.close()
    deadline = time.monotonic() + 60
    while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert started.exists(), "the script never reached apt-get"
    assert len(list(scratch.glob("aksaudit.*"))) == 1  # the scratch dir, mid-run
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    assert proc.stdout is not None
    proc.stdout.close()
    assert list(scratch.iterdir()) == []
    assert node.run(SCRIPT, "check").returncode == 3  # a normal end (drift found) too
    assert list(scratch.iterdir()) == []

"""Reading node roots as audit would (emulator ingestion), the status line parser and the CLI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from aksaudit_emulator.noderoot import OS_SKUS, build_node_root, standins_dir
from aksaudit_emulator.nodestate import parse_plugin_conf, read_node_audit_state
from aksaudit_tui.cli.main import main
from aksaudit_tui.nodes.script import render_node_script
from aksaudit_tui.nodes.status import parse_node_status
from fixtures.noderoot import NodeRoot

MakeRoot = Callable[..., NodeRoot]
PLUGIN3 = "etc/audit/plugins.d/syslog.conf"
GOOD3 = (
    "active = yes\ndirection = out\npath = /sbin/audisp-syslog\ntype = always\n"
    "args = LOG_INFO LOG_AUTHPRIV\nformat = string\n"
)


@pytest.fixture
def configured(node_root: MakeRoot) -> NodeRoot:
    """An Ubuntu 24.04 root with auditd installed and running (synthetic 3.1.2 package), its
    plugin file written and auditd restarted to read it."""
    node = node_root("Ubuntu2404", auditd_installed=True)
    (node.path / PLUGIN3).write_text(GOOD3)
    node.systemctl("restart")
    return node


def test_fresh_images_have_no_auditd(tmp_path: Path) -> None:
    for sku in OS_SKUS:
        root = build_node_root(tmp_path / sku, sku, "aks-x-12345678-vmss000000")
        state = read_node_audit_state(root)
        assert not state.installed and not state.running and not state.ships_to_syslog
        assert (root / "etc/hostname").read_text() == "aks-x-12345678-vmss000000\n"
    with pytest.raises(ValueError, match="unknown os_sku"):
        build_node_root(tmp_path / "w", "Windows2022", "x")
    with pytest.raises(ValueError, match="not empty"):
        build_node_root(tmp_path / "Flatcar", "Flatcar", "x")


def test_installed_package_ships_inactive_plugin(node_root: MakeRoot) -> None:
    node = node_root("Ubuntu2204", auditd_installed=True)
    state = read_node_audit_state(node.path)
    assert state.installed and state.running and state.audit_version == "3.0.7"
    assert not state.plugin_active
    assert any("active is not 'yes'" in p for p in state.problems)


def test_correct_3x_plugin_is_active(configured: NodeRoot) -> None:
    state = read_node_audit_state(configured.path)
    assert state.ships_to_syslog
    assert (state.plugin_facility, state.plugin_priority) == ("authpriv", "info")
    assert state.audit_version == "3.1.2"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (GOOD3.replace("active = yes", "active=yes"), "spaces around '='"),
        (GOOD3.replace("path = /sbin/audisp-syslog", "path = builtin_syslog"), "no builtin_syslog"),
        (GOOD3.replace("type = always", "type = builtin"), "type must be 'always'"),
        (GOOD3.replace("LOG_INFO LOG_AUTHPRIV", "LOG_INFO LOG_AUTHPRIV interpret"), "at most 2"),
        (GOOD3.replace("LOG_AUTHPRIV", "LOG_KERN"), "unknown facility"),
        (GOOD3.replace("LOG_INFO", "INFO"), "unknown priority"),
        (GOOD3.replace("/sbin/audisp-syslog", "/usr/local/sbin/audisp-syslog"), "does not exist"),
        (GOOD3.replace("format = string", "format = binary"), "format must be 'string'"),
        (GOOD3 + "bogus = 1\n", "unknown keyword"),
    ],
)
def test_wrong_3x_plugin_is_not_active(configured: NodeRoot, text: str, problem: str) -> None:
    (configured.path / PLUGIN3).write_text(text)
    configured.systemctl("restart")
    state = read_node_audit_state(configured.path)
    assert not state.plugin_active and not state.ships_to_syslog
    assert any(problem in p for p in state.problems), state.problems


def test_2x_style_file_on_3x_node_is_ignored(configured: NodeRoot) -> None:
    """What the original guide wrote: audit 3.x never reads /etc/audisp/plugins.d."""
    (configured.path / PLUGIN3).write_text(GOOD3.replace("active = yes", "active = no"))
    legacy = configured.path / "etc/audisp/plugins.d/syslog.conf"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(
        "active = yes\ndirection = out\npath = builtin_syslog\ntype = builtin\n"
        "args = LOG_INFO LOG_AUTHPRIV\nformat = string\n"
    )
    configured.systemctl("restart")
    assert not read_node_audit_state(configured.path).plugin_active


def test_world_writable_plugin_is_skipped(configured: NodeRoot) -> None:
    (configured.path / PLUGIN3).chmod(0o666)
    configured.systemctl("restart")
    state = read_node_audit_state(configured.path)
    assert not state.plugin_active and any("world writable" in p for p in state.problems)


def test_default_facility_is_user(configured: NodeRoot) -> None:
    (configured.path / PLUGIN3).write_text(GOOD3.replace(" LOG_AUTHPRIV", ""))
    configured.systemctl("reload")  # SIGHUP: auditd re-reads its plugin files
    state = read_node_audit_state(configured.path)
    assert state.plugin_active and state.plugin_facility == "user"


def test_a_plugin_edit_counts_only_after_auditd_restarts_or_reloads(configured: NodeRoot) -> None:
    """auditd reads plugins.d at start and on SIGHUP (reload): an edit alone changes nothing
    for the running daemon; a stopped daemon will read the files as they are now."""
    conf = configured.path / PLUGIN3
    conf.write_text(GOOD3.replace("active = yes", "active = no"))
    assert read_node_audit_state(configured.path).ships_to_syslog  # still the old file
    configured.systemctl("reload")
    assert not read_node_audit_state(configured.path).plugin_active
    conf.write_text(GOOD3.replace("LOG_AUTHPRIV", "LOG_LOCAL3"))
    assert not read_node_audit_state(configured.path).plugin_active  # not re-read yet
    configured.systemctl("restart")
    state = read_node_audit_state(configured.path)
    assert state.ships_to_syslog and state.plugin_facility == "local3"
    configured.systemctl("stop")
    conf.write_text(GOOD3)
    state = read_node_audit_state(configured.path)
    assert not state.running and state.plugin_facility == "authpriv"  # what a start would read


def test_stopped_service_does_not_ship(configured: NodeRoot) -> None:
    (configured.sim / "services/auditd").write_text("inactive\n")
    state = read_node_audit_state(configured.path)
    assert state.plugin_active and not state.running and not state.ships_to_syslog


def test_2x_builtin_plugin_on_2x_node(node_root: MakeRoot) -> None:
    node = node_root("Ubuntu1804", auditd_installed=True)
    conf = node.path / "etc/audisp/plugins.d/syslog.conf"
    assert not read_node_audit_state(node.path).plugin_active
    conf.write_text(conf.read_text().replace("active = no", "active = yes"))
    node.systemctl("restart")
    state = read_node_audit_state(node.path)
    assert state.audit_version == "2.8.2" and state.ships_to_syslog
    assert (state.plugin_facility, state.plugin_priority) == ("user", "info")


def test_rule_keys_from_both_key_forms(configured: NodeRoot) -> None:
    (configured.sim / "loaded.rules").write_text(
        "-a always,exit -F arch=b64 -S execve -k k1\n"
        "-a always,exit -F arch=b64 -S execve -F key=k2\n-w /etc/passwd -p wa\n"
    )
    state = read_node_audit_state(configured.path)
    assert state.rule_keys == {"k1", "k2"} and state.rule_count == 3


def test_parse_plugin_conf_reports_lines() -> None:
    settings, errors = parse_plugin_conf("# c\nactive = yes\npath=/x\n\nargs = A B\n")
    assert settings == {"active": "yes", "args": "A B"}
    assert errors == ["line 3: expected 'key = value' with spaces around '='"]


def test_parse_node_status_takes_last_json_line() -> None:
    first = {"aksaudit": 1, "mode": "check", "node": "n1", "ok": True, "compliant": False}
    last = {
        "aksaudit": 1,
        "mode": "apply",
        "node": "n1",
        "os": "ubuntu",
        "supported": True,
        "rules_loaded": 12,
        "changed": ["rules", 3],
        "skipped_watches": ["/etc/x"],
        "errors": [],
        "ok": True,
    }
    log = "\n".join(
        [
            "aksaudit-launcher: running",
            json.dumps(first),
            "aksaudit: wrote x",
            json.dumps(last),
            '{"aksaudit": 1, "mode": "apply", "trunc',
            '{"other": 1}',
        ]
    )
    status = parse_node_status(log)
    assert status is not None
    assert status.mode == "apply" and status.rules_loaded == 12 and status.ok
    assert status.changed == ["rules"] and status.skipped_watches == ["/etc/x"]
    assert status.compliant and not status.skipped
    assert parse_node_status("no json here\n") is None
    assert parse_node_status("") is None


def test_parse_node_status_of_a_real_run(node_root: MakeRoot) -> None:
    node = node_root("AzureLinux3")
    run = node.run(render_node_script("-w /etc/passwd -p wa -k id\n", "local3", "notice"))
    status = parse_node_status(run.stdout + run.stderr)
    assert status is not None and status.ok
    assert status.os == "azurelinux" and status.os_version == "3.0"
    assert (status.facility, status.severity) == ("local3", "notice")
    state = read_node_audit_state(node.path)
    assert (state.plugin_facility, state.plugin_priority) == ("local3", "notice")


def test_cli_node_script_prints_the_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    custom = tmp_path / "custom.rules"
    custom.write_text("-w /etc/passwd -p wa -k identity\n")
    code = main(["node-script", "--custom", str(custom), "--facility", "authpriv"])
    out = capsys.readouterr().out
    assert code == 0
    assert out == render_node_script(custom.read_text(), "authpriv", "info", "apply")
    assert main(["node-script", "--custom", str(custom), "--facility", "local9"]) == 2
    assert "unknown syslog facility 'local9'" in capsys.readouterr().err
    assert main(["node-script", "--custom", str(tmp_path / "nope"), "--facility", "user"]) == 2
    assert "cannot read --custom" in capsys.readouterr().err
    custom.write_text("-e 2\n")
    assert main(["node-script", "--custom", str(custom), "--facility", "user"]) == 2
    err = capsys.readouterr().err
    assert "-e 2" in err and err.count("\n") == 1
    assert main(["node-script", "--facility", "user"]) == 2


@pytest.mark.parametrize(
    ("os_release", "reason"),
    [
        ('NAME="Azure Container Linux"\nID=flatcar\nVERSION_ID=1\n', "immutable"),
        (
            'NAME="Microsoft Azure Linux"\nID=azurelinux\nVARIANT_ID=osguard\nVERSION_ID="3.0"\n',
            "OS Guard",
        ),
        ('NAME="Windows"\nID=windows\n', "only Ubuntu and Azure Linux"),
    ],
)
def test_other_immutable_or_unknown_systems_are_skipped(
    node_root: MakeRoot, os_release: str, reason: str
) -> None:
    node = node_root("Ubuntu2204")
    (node.path / "etc/os-release").write_text(os_release)
    for mode in ("apply", "check", "remove"):
        run = node.run(render_node_script("-w /etc/passwd -p wa\n", "authpriv"), mode)
        status = parse_node_status(run.stdout)
        assert run.returncode == 0 and status is not None
        assert status.skipped and status.ok and reason in (status.skip_reason or "")
    assert not any(c.startswith("apt-get") for c in node.calls())


def test_standins_dir_has_every_command() -> None:
    names = {p.name for p in standins_dir().iterdir()}
    assert {
        "apt-get",
        "dpkg-query",
        "dnf",
        "tdnf",
        "systemctl",
        "augenrules",
        "auditctl",
        "nsenter",
        "service",
    } <= names


def test_nsenter_and_dpkg_query_standins(node_root: MakeRoot) -> None:
    node = node_root("Ubuntu2204", auditd_installed=True)
    out = subprocess.run(
        [
            "nsenter",
            "-t",
            "1",
            "-m",
            "-u",
            "-i",
            "-n",
            "-p",
            "--",
            "sh",
            "-c",
            "echo $AKSAUDIT_ROOT",
        ],
        env=node.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == str(node.path)
    version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "auditd"],
        env=node.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert version == "1:3.0.7-1build1"
    missing = subprocess.run(
        ["dpkg-query", "-W", "nope"], env=node.env, capture_output=True, text=True, check=False
    )
    assert missing.returncode == 1 and "no packages found matching nope" in missing.stderr


def test_cli_node_script_with_shipped_presets(capsys: pytest.CaptureFixture[str]) -> None:
    from aksaudit_tui.presets import render_rules

    args = ["node-script", "--presets", "container-escape,identity-and-config"]
    assert main([*args, "--facility", "local5", "--severity", "notice", "--mode", "check"]) == 0
    out = capsys.readouterr().out
    rules = render_rules(["container-escape", "identity-and-config"])
    assert out == render_node_script(rules, "local5", "notice", "check")
    assert main(["node-script", "--presets", "nope", "--facility", "user"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err


def test_standins_dir_makes_an_executable_copy_when_needed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An installed wheel may drop the executable bit on package data."""
    import os

    import aksaudit_emulator.noderoot as noderoot

    packaged = noderoot.standins_dir()
    monkeypatch.setattr(noderoot.tempfile, "gettempdir", lambda: str(tmp_path))
    real_access = os.access
    monkeypatch.setattr(
        noderoot.os,
        "access",
        lambda p, mode: False if str(p).startswith(str(packaged)) else real_access(p, mode),
    )
    copy = noderoot.standins_dir()
    assert copy != packaged and copy.parent == tmp_path
    assert noderoot.standins_dir() == copy  # reused, keyed by content
    root = build_node_root(tmp_path / "n", "Ubuntu2404", "h")
    env = {"AKSAUDIT_ROOT": str(root), "PATH": f"{copy}:/usr/bin:/bin"}
    proc = subprocess.run(
        [str(copy / "systemctl"), "is-active", "auditd"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3 and proc.stdout.strip() == "inactive"

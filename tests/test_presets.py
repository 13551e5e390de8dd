"""Shipped presets, loading from user dirs, rendering the rules file, volume estimates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aksaudit_tui.errors import UsageError
from aksaudit_tui.presets import (
    Preset,
    estimate_volume,
    load_base,
    load_presets,
    render_rules,
    shipped_dir,
    user_dir,
    validate_rules,
)
from aksaudit_tui.presets.volume import BYTES_PER_LINE, LINES_PER_EXEC, SYSLOG_ROW_OVERHEAD

REQUIRED = {
    "identity-and-config",
    "kernel-and-privilege",
    "container-escape",
    "cis-scoped",
    "procmon-sessions",
    "procmon-all",
    "network",
}
TARGETS = [(a, v) for a in ("x86_64", "aarch64") for v in ("3.0", "3.1")]


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test may read the real user's config dir."""
    config = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return config


def _user_presets(config: Path) -> Path:
    directory = config / "aksaudit" / "presets"
    directory.mkdir(parents=True)
    return directory


def test_shipped_presets_are_complete() -> None:
    presets = load_presets()
    assert set(presets) >= REQUIRED
    assert len(presets) >= 7
    assert "base" not in presets
    for preset in presets.values():
        assert preset.source.parent == shipped_dir()
        assert preset.volume in ("low", "medium", "high", "very high")
        assert preset.scope in ("containers-and-sessions", "sessions-only")
        assert preset.tags and all(re.match(r"^T\d{4}(\.\d{3})?$", t) for t in preset.tags)
        assert preset.keys and all(k.startswith("aksaudit-") and len(k) <= 31 for k in preset.keys)
        assert preset.title and preset.description and preset.volume_reason
    # the scope claims match the rules: sessions-only syscall rules all filter on auid
    for name in ("procmon-sessions", "cis-scoped"):
        syscall_rules = [r for r in presets[name].rules if " -S " in r]
        assert syscall_rules and all("auid" in r for r in syscall_rules)
    assert presets["procmon-all"].volume == "high"
    assert presets["network"].volume == "very high"
    assert not any("auid" in r for r in presets["procmon-all"].rules)


@pytest.mark.parametrize("name", sorted(REQUIRED | {"procmon-all-quiet"}))
@pytest.mark.parametrize(("arch", "version"), TARGETS)
def test_every_preset_renders_valid_for_every_target(name: str, arch: str, version: str) -> None:
    text = render_rules([name])
    assert validate_rules(text, "50-aksaudit.rules", arch=arch, audit_version=version) == []
    # the raw preset is valid on at least one architecture for every syscall it names
    preset = load_presets()[name]
    assert validate_rules(preset.rules_text, name, arch="any", audit_version=version) == []


def test_render_layout_base_once_header_custom_last() -> None:
    custom = "# mine\n-w /etc/motd -p wa -k my-motd\n"
    text = render_rules(["procmon-sessions", "identity-and-config"], custom, "extra.rules")
    lines = text.splitlines()
    assert lines[0].startswith("## 50-aksaudit.rules")
    assert lines[1] == "## Presets: procmon-sessions, identity-and-config"
    assert "## Custom rules: extra.rules" in lines
    assert text.count("-b 8192\n") == 1
    assert text.count("--backlog_wait_time 60000\n") == 1
    assert text.count("-f 1\n") == 1
    assert lines.index("-b 8192") < lines.index(
        "## procmon-sessions: " + _title("procmon-sessions")
    )
    order = [lines.index(line) for line in lines if line.startswith("## ") and ":" in line[3:]]
    assert order == sorted(order)
    assert lines[-1] == "-w /etc/motd -p wa -k my-motd"
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "-e " not in text


def _title(name: str) -> str:
    preset = load_presets()[name]
    return f"{preset.title} [{preset.scope}]"


def test_render_is_deterministic_and_keeps_given_order() -> None:
    a = render_rules(["network", "procmon-all"])
    assert a == render_rules(["network", "procmon-all"])
    assert a == render_rules(["network", "procmon-all", "network"])  # repeats ignored
    b = render_rules(["procmon-all", "network"])
    assert a != b
    assert sorted(a.splitlines()[2:]) == sorted(b.splitlines()[2:])


def test_render_dedupes_identical_lines() -> None:
    both = render_rules(["identity-and-config", "cis-scoped"])
    assert both.count("-w /etc/passwd -p wa -k aksaudit-identity\n") == 1
    assert both.count("-w /etc/sudoers -p wa -k aksaudit-sudoers\n") == 1
    single = render_rules(["cis-scoped"])
    assert single.count("-w /etc/passwd -p wa -k aksaudit-identity\n") == 1


def test_render_splits_single_arch_syscalls() -> None:
    cis = render_rules(["cis-scoped"])
    scope = "-F auid>=1000 -F auid!=unset -k aksaudit-cis-perm"
    assert f"-a always,exit -F arch=b64 -S fchmod,fchmodat,452 {scope}\n" in cis
    assert f"-a always,exit -F arch=x86_64 -S chmod {scope}\n" in cis
    assert f"-a always,exit -F arch=b32 -S chmod,fchmod,fchmodat,452 {scope}\n" in cis
    assert "-F arch=i386 -S create_module,query_module" in cis
    kernel = render_rules(["kernel-and-privilege"])
    assert "-a always,exit -F arch=i386 -S sys_kexec_load -k aksaudit-kexec\n" in kernel
    assert "-a always,exit -F arch=armv7l -S kexec_load,kexec_file_load -k aksaudit-kexec\n" in (
        kernel
    )
    net = render_rules(["network"])
    assert "-a always,exit -F arch=armv7l -S accept -F success=1 -k aksaudit-net-accept\n" in net


def test_unknown_preset_lists_known_names() -> None:
    with pytest.raises(UsageError) as info:
        render_rules(["procmon-all", "no-such-preset"])
    message = str(info.value)
    assert "unknown preset 'no-such-preset'" in message
    for name in REQUIRED:
        assert name in message
    with pytest.raises(UsageError, match="unknown preset 'base'"):
        render_rules(["base"])
    with pytest.raises(UsageError, match="nothing to render"):
        render_rules([], "# only a comment\n")


def test_bad_custom_rule_names_file_and_line() -> None:
    custom = "# header\n-w /etc/motd -p wa -k ok\n-a always,exit -F arch=b64 -S execve -k lone\n"
    with pytest.raises(UsageError, match=r"^mine\.rules:3: .*no 32-bit twin"):
        render_rules(["procmon-sessions"], custom, "mine.rules")
    with pytest.raises(UsageError, match=r"^custom\.rules:1: .*-e 2 locks"):
        render_rules(["procmon-sessions"], "-e 2\n")
    # a custom rule naming an x86_64-only syscall is split, not refused
    pair = "-a always,exit -F arch={} -S chmod -F auid>=1000 -F auid!=unset -k mine\n"
    text = render_rules([], pair.format("b64") + pair.format("b32"))
    assert "-a always,exit -F arch=x86_64 -S chmod -F auid>=1000" in text
    assert "-F arch=b64 -S chmod" not in text


PRESET_YAML = """\
name: {name}
title: My preset
description: Watches the message of the day.
volume: low
volume_reason: Nobody edits it.
scope: containers-and-sessions
tags: [T1098]
estimate:
  per_hour: 5
rules:
  - -w /etc/motd -p wa -k my-motd
  - {rule}
"""


def test_user_config_dir_presets(_isolated_config: Path) -> None:
    directory = _user_presets(_isolated_config)
    assert user_dir() == directory
    rule = "-w /etc/issue -p wa -k my-issue"
    (directory / "motd.yaml").write_text(PRESET_YAML.format(name="motd", rule=rule))
    presets = load_presets()
    assert presets["motd"].source == directory / "motd.yaml"
    assert presets["motd"].keys == ("my-motd", "my-issue")
    assert set(presets) >= REQUIRED
    assert "-w /etc/issue -p wa -k my-issue\n" in render_rules(["motd"])
    assert estimate_volume(["motd"]).lines_per_node_hour == 20.0


def test_user_preset_with_bad_rule_names_yaml_line(_isolated_config: Path) -> None:
    directory = _user_presets(_isolated_config)
    path = directory / "broken.yaml"
    path.write_text(PRESET_YAML.format(name="broken", rule="-a always,exit -S execve -k x"))
    with pytest.raises(UsageError) as info:
        load_presets()
    assert str(info.value).startswith(f"{path}:12: -S without -F arch=")


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda t: t.replace("volume: low", "volume: huge"), "bad volume 'huge'"),
        (lambda t: t.replace("scope: containers-and-sessions", "scope: pods"), "bad scope"),
        (lambda t: t.replace("[T1098]", "[persistence]"), "bad tag 'persistence'"),
        (lambda t: t.replace("title: My preset\n", ""), "missing 'title'"),
        (lambda t: t.replace("per_hour: 5", "per_day: 5"), "bad estimate entry"),
        (lambda t: t.replace("  - -w /etc/motd -p wa -k my-motd\n", "  - 7\n"), "auditctl line"),
        (lambda t: t.replace("-k my-motd", ""), "no key"),
        (lambda t: t + "  - [unclosed\n", "not valid YAML"),
    ],
)
def test_user_preset_schema_errors(_isolated_config: Path, edit, fragment) -> None:  # type: ignore[no-untyped-def]
    directory = _user_presets(_isolated_config)
    text = PRESET_YAML.format(name="mine", rule="-w /etc/issue -p wa -k my-issue")
    (directory / "mine.yaml").write_text(edit(text))
    with pytest.raises(UsageError, match=re.escape(fragment)):
        load_presets()


def test_user_preset_overrides_shipped_and_extra_dirs(
    _isolated_config: Path, tmp_path: Path
) -> None:
    directory = _user_presets(_isolated_config)
    rule = "-w /etc/issue -p wa -k my-issue"
    (directory / "network.yaml").write_text(PRESET_YAML.format(name="network", rule=rule))
    assert load_presets()["network"].source == directory / "network.yaml"
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "team.yaml").write_text(PRESET_YAML.format(name="team", rule=rule))
    presets = load_presets([extra])
    assert presets["team"].source == extra / "team.yaml"
    assert "team" not in load_presets()


def test_presets_mapping_can_be_passed_in() -> None:
    presets = load_presets()
    only = {"procmon-all": presets["procmon-all"]}
    assert render_rules(["procmon-all"], presets=only) == render_rules(["procmon-all"])
    with pytest.raises(UsageError, match=r"known presets: procmon-all$"):
        render_rules(["network"], presets=only)


def test_hand_built_preset_with_bad_rule_is_refused() -> None:
    bad = Preset(
        name="bad",
        title="t",
        description="d",
        volume="low",
        volume_reason="r",
        scope="sessions-only",
        tags=(),
        rules=("-a always,exit -F arch=b64 -S nosuchcall -k k",),
        source=Path("bad.yaml"),
    )
    with pytest.raises(UsageError, match="nosuchcall"):
        render_rules(["bad"], presets={"bad": bad})


def test_base_fragment() -> None:
    base = load_base()
    assert base.rules == (
        "-b 8192",
        "--backlog_wait_time 60000",
        "-f 1",
        "-w /var/lib/aksaudit/heartbeat -p wa -k aksaudit-heartbeat",
    )
    assert base.source == shipped_dir() / "base.yaml"


def test_volume_estimates() -> None:
    one = estimate_volume(["procmon-all"])
    assert one.lines_per_node_hour == 10 * 3600 * LINES_PER_EXEC
    gb_per_day = one.bytes_per_node_day / 1e9
    assert 2.0 <= gb_per_day <= 3.0  # FACTS.md: 10 execs/s is about 2-3 GB/day
    assert one.bytes_per_node_day == pytest.approx(
        one.lines_per_node_hour * 24 * (BYTES_PER_LINE + SYSLOG_ROW_OVERHEAD)
    )
    assert "10 program starts/s" in one.assumptions
    double = estimate_volume(["procmon-all"], execs_per_s=20)
    assert double.lines_per_node_hour == 2 * one.lines_per_node_hour
    quiet = estimate_volume(["procmon-all-quiet"]).lines_per_node_hour
    assert quiet < one.lines_per_node_hour
    sessions = estimate_volume(["procmon-sessions"]).lines_per_node_hour
    assert sessions < estimate_volume(["kernel-and-privilege"]).lines_per_node_hour
    both = estimate_volume(["procmon-all", "network"]).lines_per_node_hour
    assert both == one.lines_per_node_hour + estimate_volume(["network"]).lines_per_node_hour
    assert estimate_volume(["network"], connects_per_s=0, accepts_per_s=0).lines_per_node_hour == 0
    # the volume classes agree with the estimates at the default rates
    by_class: dict[str, list[float]] = {}
    for name, preset in load_presets().items():
        by_class.setdefault(preset.volume, []).append(estimate_volume([name]).lines_per_node_hour)
    assert max(by_class["low"]) < min(by_class["medium"]) < min(by_class["high"])
    assert max(by_class["high"]) < min(by_class["very high"])
    with pytest.raises(UsageError, match="unknown preset"):
        estimate_volume(["nope"])


def test_every_rules_file_carries_the_heartbeat_watch() -> None:
    """The base fragment watches the heartbeat file with its key, whatever the presets."""
    for names in (["identity-and-config"], ["network", "procmon-all"]):
        text = render_rules(names)
        assert text.count("-w /var/lib/aksaudit/heartbeat -p wa -k aksaudit-heartbeat\n") == 1
    custom_only = render_rules([], custom_text="-w /etc/passwd -p wa -k pw\n")
    assert "-k aksaudit-heartbeat" in custom_only


def test_heartbeat_volume_is_tiny_and_follows_the_interval() -> None:
    from aksaudit_tui.presets import heartbeat_volume

    hb = heartbeat_volume()
    assert hb.lines_per_node_hour == 60.0  # 12 touches per hour, 5 lines each
    assert hb.bytes_per_node_day == pytest.approx(60 * 24 * (BYTES_PER_LINE + SYSLOG_ROW_OVERHEAD))
    assert hb.bytes_per_node_day < 1e6
    assert heartbeat_volume(60).lines_per_node_hour == 5 * hb.lines_per_node_hour

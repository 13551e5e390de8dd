"""``aksaudit presets list|show|render`` through the real argument parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aksaudit_tui.cli.main import main
from aksaudit_tui.presets import estimate_volume, load_presets, render_rules


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def test_list_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets", "list"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "TITLE", "VOLUME", "SCOPE", "LINES/NODE/H"]
    presets = load_presets()
    assert len(lines) == 1 + len(presets)
    row = next(line for line in lines if line.startswith("procmon-all "))
    assert "high" in row and "containers-and-sessions" in row
    assert row.rstrip().endswith(f"{estimate_volume(['procmon-all']).lines_per_node_hour:,.0f}")
    assert "program starts/s" in err


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_name = {item["name"]: item for item in data}
    assert set(by_name) == set(load_presets())
    net = by_name["network"]
    assert net["volume"] == "very high" and net["scope"] == "containers-and-sessions"
    assert "T1071" in net["tags"] and "aksaudit-net-connect" in net["keys"]
    expected = estimate_volume(["network"])
    assert net["estimate"] == {
        "lines_per_node_hour": expected.lines_per_node_hour,
        "bytes_per_node_day": expected.bytes_per_node_day,
        "assumptions": expected.assumptions,
        # the audit heartbeat's own figure, beside every preset: 12 touches x 5 lines per hour
        "heartbeat_lines_per_node_hour": 60.0,
        "heartbeat_bytes_per_node_day": 60.0 * 24 * (218 + 150),
    }


def test_list_shows_the_heartbeat_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets", "list"]) == 0
    err = capsys.readouterr().err
    assert "The audit heartbeat adds 60 lines/node/hour (0.53 MB/node/day" in err


def test_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets", "show", "procmon-sessions"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("procmon-sessions: Programs started in human sessions\n")
    assert "scope: sessions-only" in out
    for rule in load_presets()["procmon-sessions"].rules:
        assert f"\n{rule}\n" in out


def test_show_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets", "show", "nope"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "unknown preset 'nope'" in err


def test_render_prints_exactly_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    custom = tmp_path / "site.rules"
    custom.write_text("-w /etc/motd -p wa -k site-motd\n")
    argv = ["presets", "render", "identity-and-config", "procmon-all", "--custom", str(custom)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    expected = render_rules(["identity-and-config", "procmon-all"], custom.read_text(), str(custom))
    assert out == expected


def test_render_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.rules"
    bad.write_text("-w /etc/motd -p wa -k ok\n-e 2\n")
    assert main(["presets", "render", "procmon-all", "--custom", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"aksaudit: error: {bad}:2: -e 2 locks the audit configuration until " + (
        "reboot (remove and re-apply would fail); use -e 1\n"
    )
    assert main(["presets", "render", "procmon-all", "--custom", str(tmp_path / "none")]) == 2
    assert "cannot read --custom" in capsys.readouterr().err
    assert main(["presets", "render", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aksaudit: error: unknown preset 'nope'; known presets: ")
    assert err.count("\n") == 1

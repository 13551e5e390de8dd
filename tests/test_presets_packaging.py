"""The shipped presets are found in an installed wheel as well as in this checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from aksaudit_tui.presets import shipped_dir

REPO = Path(__file__).resolve().parents[1]


def test_checkout_uses_repo_rule_presets() -> None:
    assert shipped_dir() == REPO / "rule_presets"


def test_wheel_ships_presets_as_package_data() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    force = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert force["rule_presets"] == "aksaudit_tui/rule_presets"


def test_installed_layout_is_preferred(tmp_path: Path) -> None:
    """Lay the package out as the wheel does (package + aksaudit_tui/rule_presets, no repo
    around it) and load presets from a fresh interpreter."""
    site = tmp_path / "site"
    shutil.copytree(
        REPO / "src" / "aksaudit_tui",
        site / "aksaudit_tui",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copytree(REPO / "rule_presets", site / "aksaudit_tui" / "rule_presets")
    code = (
        "import aksaudit_tui.presets as p; "
        "print(p.shipped_dir()); print(len(p.load_presets())); "
        "print(p.render_rules(['procmon-all']).count('aksaudit-exec'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PATH": ""},
    ).stdout.split()
    assert out[0] == str(site / "aksaudit_tui" / "rule_presets")
    assert int(out[1]) >= 7
    assert out[2] == "2"

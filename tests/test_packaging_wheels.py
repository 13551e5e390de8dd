"""The product wheel and the emulator wheel are two distributions: built for real, then read back.

The product (`aksaudit-tui`) must not carry the emulator, its stand-in scripts or `trustme`; it
names the emulator only in its `demo` extra. The emulator (`aksaudit-emulator`) carries its
scenarios and stand-ins and nothing of the product. Wheels are built with hatchling's PEP 517
hook (the backend both pyproject.toml files name), into a temporary directory.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STANDINS = ("apt-get", "dpkg", "systemctl", "auditctl", "nsenter", "tdnf", "rpm")


def _build_wheel(project: Path, out: Path) -> Path:
    code = "import sys, hatchling.build as b; print(b.build_wheel(sys.argv[1]))"
    res = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    return out / res.stdout.strip().splitlines()[-1]


def _metadata(wheel: zipfile.ZipFile) -> tuple[str, list[str]]:
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    meta = Parser().parsestr(wheel.read(name).decode())
    # Requires-Dist markers quote either way; one spelling makes the checks below simple.
    requires = [str(r).replace("'", '"') for r in meta.get_all("Requires-Dist") or []]
    return str(meta["Name"]), requires


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    return {
        "product": _build_wheel(REPO, out),
        "emulator": _build_wheel(REPO / "emulator", out),
    }


def test_product_wheel_has_no_emulator_standins_or_trustme(wheels: dict[str, Path]) -> None:
    with zipfile.ZipFile(wheels["product"]) as wheel:
        files = wheel.namelist()
        name, requires = _metadata(wheel)
    assert name == "aksaudit-tui"
    assert "aksaudit_tui/cli/main.py" in files  # the product itself is there
    assert any(f.startswith("aksaudit_tui/rule_presets/") for f in files)
    assert not [f for f in files if "emulator" in f.split("/")[0] or "/emulator/" in f]
    assert not [f for f in files if "standins" in f or Path(f).name in STANDINS]
    assert not [f for f in files if f.endswith(".yaml") and "scenario" in f]
    base = [r for r in requires if "extra ==" not in r]
    assert not [r for r in base if r.lower().startswith(("trustme", "aksaudit-emulator"))]
    demo = [r for r in requires if 'extra == "demo"' in r]
    assert demo and demo[0].startswith("aksaudit-emulator>=0.1")


def test_emulator_wheel_carries_scenarios_standins_and_trustme(wheels: dict[str, Path]) -> None:
    with zipfile.ZipFile(wheels["emulator"]) as wheel:
        files = wheel.namelist()
        name, requires = _metadata(wheel)
    assert name == "aksaudit-emulator"
    assert not [f for f in files if f.startswith("aksaudit_tui")]
    for standin in STANDINS:
        assert f"aksaudit_emulator/standins/{standin}" in files
    assert "aksaudit_emulator/scenarios/default.yaml" in files
    assert "aksaudit_emulator/scenarios/faults.yaml" in files
    assert "aksaudit_emulator/py.typed" in files
    assert any(r.startswith("trustme>=") for r in requires)
    assert not [r for r in requires if r.startswith("aksaudit")]

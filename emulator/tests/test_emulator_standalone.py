"""The emulator runs with the product absent: nothing of ``aksaudit_tui`` is imported, not even
lazily (import-linter sees static imports only; this starts the server and serves a call)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_WITHOUT_PRODUCT = """
import json, ssl, sys, urllib.request
sys.modules["aksaudit_tui"] = None  # what Python reports when the product is not installed
from aksaudit_emulator import Emulator, load_scenario
from aksaudit_emulator.errors import ScenarioError

try:
    load_scenario({})
except ScenarioError as exc:
    print("scenario error:", exc)
with Emulator(load_scenario(None), state_dir=sys.argv[1]) as emu:
    info = emu.info
    req = urllib.request.Request(
        info.arm_endpoint + "subscriptions?api-version=2022-12-01",
        headers={"Authorization": "Bearer " + info.token},
    )
    ctx = ssl.create_default_context(cafile=info.ca_bundle)
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        print("subscriptions:", len(json.loads(resp.read())["value"]))
loaded = [m for m, v in sys.modules.items() if m.startswith("aksaudit_tui") and v is not None]
print("product modules:", sorted(loaded))
"""


def test_emulator_serves_without_the_product(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-c", _WITHOUT_PRODUCT, str(tmp_path / "emu")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert "scenario error:" in lines[0] and "at least one subscription" in lines[0]
    assert "subscriptions: 2" in lines
    assert "product modules: []" in lines

"""The workspace key (legacy-oms path) is registered with the redactor the moment it is fetched:
when a later Azure call fails with a message that echoes it (here the instance upgrade after the
extension install, an error the code does not know to scrub for the key), it still reaches no
journal, log file, plan, stdout/stderr line or exception text. Real CLI subprocess, real SDK,
emulator on loopback."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import aksaudit_cmd, cli_env, scenario, workspace_of
from fixtures.emulator import make_emulator  # noqa: F401  (pytest fixture)

KEY = "V09SS1NQQUNFLUtFWS1USEFULU1VTVC1ORVZFUi1MRUFL"  # recognisable workspace key

pytestmark = pytest.mark.timeout(300)


def test_the_workspace_key_reaches_no_journal_log_plan_or_error(
    make_emulator: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    def mutate(data: dict[str, Any]) -> None:
        workspace_of(data, "law-dev-neu")["primary_key"] = KEY
        # Azure answers the instance upgrade with an error text that echoes the key
        data.setdefault("faults", []).append(
            {
                "kind": "server_error",
                "status": 400,
                "method": "POST",
                "path": "/manualupgrade",
                "message": f"upgrade refused: extension settings workspaceKey={KEY} invalid",
            }
        )

    emu = make_emulator(scenario(mutate))
    work = tmp_path / "work"
    work.mkdir()
    env = cli_env(emu, work / "state")
    env["AKSAUDIT_LOG_FILE"] = str(work / "aksaudit.log")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*aksaudit_cmd(), *args], env=env, cwd=work, capture_output=True, text=True,
            timeout=240, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip

    p = run(
        "plan", "--cluster", "aks-dev-neu", "--workspace", "law-dev-neu",
        "--log-path", "legacy-oms", "--delivery", "one-shot", "--out", "plan.yaml",
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    applied = run("--verbose", "apply", "plan.yaml", "--yes", "--json")
    assert applied.returncode != 0, applied.stdout[-2000:]
    said = applied.stdout + applied.stderr
    # the failing call was reached, and its echo of the key was scrubbed
    assert "updating instances of" in said, said[-3000:]
    assert "workspaceKey=" in said
    assert KEY not in said
    written = [f for f in work.rglob("*") if f.is_file()]
    assert any(f.suffix == ".json" for f in written)  # the journal
    assert (work / "aksaudit.log").is_file()
    for f in written:
        assert KEY not in f.read_text(errors="replace"), f
    # the key did go to Azure, in the extension's protected settings
    assert KEY in str(emu.state.secrets)

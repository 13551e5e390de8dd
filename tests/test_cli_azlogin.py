"""Signed in through `az login` (a fake `az` that prints the emulator's token and counts its
calls): the real AzureCliCredential in the real chain, against the emulator, with no
AKSAUDIT_ACCESS_TOKEN. The chain asks `az` once per scope, however many SDK clients there are."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from engine_helpers import aksaudit_cmd, cli_env
from test_cli_signin import PROFILE


def az_logged_in(tmp: Path, token: str) -> tuple[dict[str, str], Path]:
    """A HOME whose az profile has an account, and an `az` that prints ``token``."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    calls = tmp / "az-calls"
    az = bin_dir / "az"
    az.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{calls}"\n'
        "exp=$(( $(/bin/date +%s) + 3600 ))\n"
        f'printf \'{{"accessToken": "{token}", "expires_on": %s, "tokenType": "Bearer"}}\' '
        '"$exp"\n'
    )
    az.chmod(0o755)
    home = tmp / "home"
    (home / ".azure").mkdir(parents=True)
    (home / ".azure" / "azureProfile.json").write_text(json.dumps(PROFILE))
    return {"HOME": str(home), "PATH": os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"])}, calls


def run(env: dict[str, str], *args: str) -> Any:
    return subprocess.run(
        [*aksaudit_cmd(), *args], env=env, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


def test_az_login_signs_in_and_az_runs_once_per_scope(emulator: Any, tmp_path: Path) -> None:
    env = cli_env(emulator, tmp_path / "state")
    del env["AKSAUDIT_ACCESS_TOKEN"]
    extra, calls = az_logged_in(tmp_path, emulator.info.token)
    env.update(extra, AKSAUDIT_LOG_FILE=str(tmp_path / "aksaudit.log"))
    p = run(env, "whoami")
    assert p.returncode == 0, p.stderr
    assert "through: the Azure CLI's login (az login)" in p.stdout
    assert "signed in with a token that names nobody (not a JWT)" in p.stdout
    assert "subscriptions readable: 2" in p.stdout
    assert emulator.info.token not in p.stdout + p.stderr
    calls.unlink()
    p = run(env, "discover", "--json")
    assert p.returncode == 0, p.stderr
    assert len(json.loads(p.stdout)["clusters"]) == 3
    lines = calls.read_text().splitlines()
    print(f"az calls for one discover: {len(lines)}")
    assert len(lines) == 1, lines  # one ARM token for every client of the discovery
    assert all("account get-access-token" in line for line in lines)

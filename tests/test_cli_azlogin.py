"""Signed in through `az login` (a fake `az` that prints the emulator's token and counts its
calls): the real AzureCliCredential in the real chain, against the emulator, with no
AKSAUDIT_ACCESS_TOKEN. The chain asks `az` once per scope, however many SDK clients there are."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aksaudit_tui.cloud.credentials import (
    StaticTokenCredential,
    refuse_foreign_endpoints,
    sync_credential,
)
from aksaudit_tui.cloud.settings import CloudSettings
from aksaudit_tui.errors import UsageError
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


def test_a_token_from_the_sign_in_goes_to_no_foreign_endpoint(
    emulator: Any, tmp_path: Path
) -> None:
    env = cli_env(emulator, tmp_path / "state")
    del env["AKSAUDIT_ACCESS_TOKEN"]
    extra, calls = az_logged_in(tmp_path, emulator.info.token)
    env.update(extra, AKSAUDIT_LOG_FILE=str(tmp_path / "aksaudit.log"))
    for flag, var in (
        ("--arm-endpoint", "AKSAUDIT_ARM_ENDPOINT"),
        ("--logs-endpoint", "AKSAUDIT_LOGS_ENDPOINT"),
    ):
        p = run({**env, var: "https://management.azure.com.example.net"}, "discover", "--json")
        assert p.returncode == 2, p.stderr
        assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
        assert (
            f"{flag} https://management.azure.com.example.net is not an endpoint of a known "
            "Azure cloud (public, US Government, China) nor loopback" in p.stderr
        ), p.stderr
        assert "set AKSAUDIT_ACCESS_TOKEN" in p.stderr
        assert not calls.exists()  # az was never asked for a token
    # the emulator is on loopback: the same sign-in works there
    p = run(env, "discover", "--json")
    assert p.returncode == 0, p.stderr
    assert calls.exists()


def test_known_clouds_and_loopback_take_the_sign_in_and_a_static_token_goes_anywhere() -> None:
    for arm, logs in (
        ("https://management.azure.com", "https://api.loganalytics.io"),
        ("https://management.usgovcloudapi.net", "https://api.loganalytics.us"),
        ("https://management.chinacloudapi.cn", "https://api.loganalytics.azure.cn"),
        ("https://127.0.0.1:8443", "https://[::1]:9443"),
        ("https://localhost:8443", None),
    ):
        refuse_foreign_endpoints(CloudSettings(arm_endpoint=arm, logs_endpoint=logs))
    foreign = CloudSettings(arm_endpoint="https://10.0.0.4:443")
    with pytest.raises(UsageError, match=re.escape("--arm-endpoint https://10.0.0.4:443 is not")):
        refuse_foreign_endpoints(foreign)
    with pytest.raises(UsageError):
        sync_credential(foreign, env={}, which=lambda _: "/usr/bin/az")
    given = CloudSettings(arm_endpoint="https://10.0.0.4:443", access_token="tok")
    assert isinstance(sync_credential(given), StaticTokenCredential)

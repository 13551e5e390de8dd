"""Signing in from a terminal: not signed in, a failing az login, the chain's contents, whoami.

Subprocesses run the real `aksaudit` with no AZURE_*/AKSAUDIT_* variables, a HOME without an
Azure CLI profile, and a PATH whose only `az` (when there is one) is a script of the test's
that records being run. Where `unshare -n` works they run in an empty network namespace, so
even a mistake cannot reach Azure or 169.254.169.254. No test asks a real Azure credential for
a token: the chain is checked on its objects.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from aksaudit_tui.cloud.credentials import (
    NOT_SIGNED_IN,
    AsyncStaticTokenCredential,
    NotSignedInError,
    async_credential,
    cli_accounts,
    sign_in_sources,
    sync_credential,
)
from aksaudit_tui.cloud.identity import principal_from_token, token_claims
from aksaudit_tui.cloud.settings import CloudSettings
from engine_helpers import aksaudit_cmd, cli_env

SUB = "11111111-2222-3333-4444-555555555555"
PROFILE = {
    "installationId": "x",
    "subscriptions": [
        {
            "id": SUB,
            "name": "Contoso Dev",
            "isDefault": True,
            "tenantId": "tenant-1",
            "user": {"name": "alice@contoso.example", "type": "user"},
        }
    ],
}


def _can_unshare() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return probe.returncode == 0


# absolute: the subprocesses' PATH is the test's own
UNSHARE = [str(shutil.which("unshare")), "-n"] if _can_unshare() else []


def fake_az(bin_dir: Path, marker: Path, stderr: str = "", token: str | None = None) -> None:
    """An `az` that records each call in ``marker`` and fails (or prints a token)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    az = bin_dir / "az"
    body = f"echo called >> '{marker}'\n" + (
        f"echo '{stderr}' >&2\nexit 1\n" if token is None else f"echo '{token}'\n"
    )
    az.write_text("#!/bin/sh\n" + body)
    az.chmod(0o755)


def bare_env(tmp: Path, path_dirs: list[Path]) -> dict[str, str]:
    """No Azure variables, no az profile, only ``path_dirs`` on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AKSAUDIT_", "AZURE_", "IDENTITY_", "MSI_", "KUBECONFIG"))
    }
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        PATH=os.pathsep.join(str(p) for p in path_dirs),
        AKSAUDIT_STATE_DIR=str(tmp / "state"),
        AKSAUDIT_LOG_FILE=str(tmp / "aksaudit.log"),
        KUBECONFIG=str(tmp / "no-kubeconfig"),
        PYTHONUNBUFFERED="1",
    )
    return env


def sh(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*UNSHARE, *aksaudit_cmd(), *args], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=120, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def _plan_file(tmp: Path) -> Path:
    from test_cli_contact import valid_plan

    path = tmp / "plan.yaml"
    path.write_text(valid_plan())
    return path


@pytest.mark.parametrize("with_az", [False, True], ids=["no-az-binary", "az-not-logged-in"])
def test_not_signed_in_is_one_line_exit_1_for_every_azure_command(
    tmp_path: Path, with_az: bool
) -> None:
    bin_dir = tmp_path / "bin"
    marker = tmp_path / "az-called"
    if with_az:
        fake_az(bin_dir, marker, "ERROR: Please run 'az login' to setup account.")
    else:
        bin_dir.mkdir()
    env = bare_env(tmp_path, [bin_dir])
    plan = _plan_file(tmp_path)
    commands = [
        ["discover"],
        ["whoami"],
        ["plan", "--cluster", "aks-a", "--workspace", "law"],
        ["apply", str(plan), "--yes"],
        ["remove", str(plan), "--yes"],
        ["verify", "--plan", str(plan)],
        ["status"],
        ["resume", "--yes"],
    ]
    for argv in commands:
        t0 = time.monotonic()
        p = sh(env, *argv, cwd=tmp_path)
        took = time.monotonic() - t0
        assert p.returncode == 1, (argv, p.returncode, p.stderr)
        assert p.stderr.splitlines() == [f"aksaudit: error: {NOT_SIGNED_IN}"], (argv, p.stderr)
        assert p.stdout == ""
        print(f"{took:5.2f}s aksaudit {' '.join(argv)}")
    assert not marker.exists(), "az was run although it has no login"
    # nothing worth a log line happened: no credential was even built
    log = tmp_path / "aksaudit.log"
    assert not log.exists() or "Credential" not in log.read_text()


def test_not_signed_in_is_decided_offline_within_a_second_of_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Offline, counted rather than timed on the wall clock (the test shares its cores with
    other workers): not one name lookup, connection or child process on the way to the answer,
    and under a second of this process's CPU (a credential chain built or asked, the SDK's
    clients set up, would show in either)."""
    from aksaudit_tui.cli.main import main

    for var in [v for v in os.environ if v.startswith(("AKSAUDIT_", "AZURE_"))]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))  # no az
    monkeypatch.setenv("AKSAUDIT_LOG_FILE", str(tmp_path / "log"))
    main(["presets", "list"])  # warm the imports; the figure is the decision, not Python's start
    capfd.readouterr()
    reached: list[str] = []

    def record(what: str, real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            reached.append(what)
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(socket, "getaddrinfo", record("getaddrinfo", socket.getaddrinfo))
    monkeypatch.setattr(socket.socket, "connect", record("connect", socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", record("connect", socket.socket.connect_ex))
    monkeypatch.setattr(subprocess, "Popen", record("a child process", subprocess.Popen))
    cpu0 = time.process_time()
    code = main(["discover"])
    cpu = time.process_time() - cpu0
    assert code == 1 and capfd.readouterr().err == f"aksaudit: error: {NOT_SIGNED_IN}\n"
    assert reached == []
    assert cpu < 1.0, cpu


def test_a_failing_az_login_is_one_line_with_the_log_path_and_the_chain_noise_in_the_log(
    tmp_path: Path,
) -> None:
    bin_dir = tmp_path / "bin"
    marker = tmp_path / "az-called"
    fake_az(
        bin_dir, marker, "ERROR: AADSTS700082: The refresh token has expired due to inactivity."
    )
    env = bare_env(tmp_path, [bin_dir, Path("/usr/bin"), Path("/bin")])
    azure_dir = Path(env["HOME"]) / ".azure"
    azure_dir.mkdir()
    (azure_dir / "azureProfile.json").write_text(json.dumps(PROFILE), encoding="utf-8-sig")
    p = sh(env, "discover", cwd=tmp_path)
    lines = p.stderr.splitlines()
    assert p.returncode == 1, p.stderr
    assert len(lines) == 1, lines
    assert lines[0].startswith("aksaudit: error: ")
    assert "signing in to Azure failed" in lines[0] and "AADSTS700082" in lines[0]
    assert "run az login again" in lines[0] and "refused" not in lines[0]
    assert f"(details: {tmp_path / 'aksaudit.log'})" in lines[0]
    assert marker.read_text().count("called") >= 1  # the CLI login was really tried
    log = (tmp_path / "aksaudit.log").read_text()
    assert "ChainedTokenCredential failed to retrieve a token" in log  # the SDK's own lines


def test_verbose_also_shows_the_library_lines_on_stderr(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_az(bin_dir, tmp_path / "az-called", "ERROR: AADSTS700082: expired.")
    env = bare_env(tmp_path, [bin_dir, Path("/usr/bin"), Path("/bin")])
    azure_dir = Path(env["HOME"]) / ".azure"
    azure_dir.mkdir()
    (azure_dir / "azureProfile.json").write_text(json.dumps(PROFILE))
    p = sh(env, "discover", "--verbose", cwd=tmp_path)
    assert p.returncode == 1
    assert "aksaudit: log: azure.identity" in p.stderr
    last = p.stderr.splitlines()[-1]
    assert last.startswith("aksaudit: error: ") and "signing in to Azure failed" in last


# --- the chain, on its objects -------------------------------------------------------------------


def _types(cred: Any) -> list[str]:
    return [type(c).__name__ for c in cred.credentials]


def _az_home(tmp: Path) -> dict[str, str]:
    (tmp / ".azure").mkdir(exist_ok=True)
    (tmp / ".azure" / "azureProfile.json").write_text(json.dumps(PROFILE), encoding="utf-8-sig")
    return {"AZURE_CONFIG_DIR": str(tmp / ".azure")}


def no_az(_name: str) -> str | None:
    return None


def some_az(_name: str) -> str | None:
    return "/usr/local/bin/az"


def test_nothing_configured_builds_no_credential() -> None:
    settings = CloudSettings()
    assert sign_in_sources(settings, {}, no_az) == ()
    with pytest.raises(NotSignedInError) as err:
        sync_credential(settings, {}, no_az)
    assert str(err.value) == NOT_SIGNED_IN and err.value.exit_code == 1
    with pytest.raises(NotSignedInError):
        async_credential(settings, {}, no_az)
    # az on PATH but never logged in (no profile): not a source either
    assert sign_in_sources(settings, {"AZURE_CONFIG_DIR": "/nonexistent"}, some_az) == ()


def test_chain_order_cli_then_environment_then_workload_and_no_managed_identity(
    tmp_path: Path,
) -> None:
    env = {
        **_az_home(tmp_path),
        "AZURE_TENANT_ID": "tenant-1",
        "AZURE_CLIENT_ID": "client-1",
        "AZURE_CLIENT_SECRET": "not-a-real-secret",
        "AZURE_FEDERATED_TOKEN_FILE": str(tmp_path / "token"),
    }
    settings = CloudSettings()
    assert sign_in_sources(settings, env, some_az) == (
        "azure-cli",
        "environment",
        "workload-identity",
    )
    sync = sync_credential(settings, env, some_az)
    assert _types(sync) == [
        "AzureCliCredential",
        "ClientSecretCredential",
        "WorkloadIdentityCredential",
    ]
    asyn = async_credential(settings, env, some_az)
    assert _types(asyn) == _types(sync)
    assert all(type(c).__module__.startswith("azure.identity.aio") for c in asyn.credentials)
    for cred in (sync, asyn):
        assert not any("ManagedIdentity" in t for t in _types(cred))
    asyncio.run(asyn.close())  # type: ignore[attr-defined]
    # only the CLI: a chain of one, still no managed identity
    only_cli = sync_credential(settings, _az_home(tmp_path), some_az)
    assert _types(only_cli) == ["AzureCliCredential"]


def test_managed_identity_only_when_asked(tmp_path: Path) -> None:
    import argparse

    from aksaudit_tui.cloud.settings import add_cloud_arguments

    parser = argparse.ArgumentParser()
    add_cloud_arguments(parser)
    off = CloudSettings.from_env_and_args(parser.parse_args([]), {})
    assert not off.managed_identity
    by_flag = CloudSettings.from_env_and_args(parser.parse_args(["--managed-identity"]), {})
    by_env = CloudSettings.from_env_and_args(
        parser.parse_args([]), {"AKSAUDIT_MANAGED_IDENTITY": "1"}
    )
    for asked in (by_flag, by_env):
        assert asked.managed_identity
        assert sign_in_sources(asked, {}, no_az) == ("managed-identity",)
        # constructing it sends nothing; it is never asked for a token here
        assert _types(sync_credential(asked, {}, no_az)) == ["ManagedIdentityCredential"]
    both = sync_credential(by_flag, _az_home(tmp_path), some_az)
    assert _types(both) == ["AzureCliCredential", "ManagedIdentityCredential"]  # last


def test_a_token_wins_over_everything() -> None:
    s = CloudSettings(access_token="tok", managed_identity=True)
    assert sign_in_sources(s, {}, no_az) == ("static-token",)
    assert isinstance(async_credential(s, {}, no_az), AsyncStaticTokenCredential)


def test_cli_profile_default_account_first(tmp_path: Path) -> None:
    other = dict(PROFILE["subscriptions"][0], isDefault=False, name="Other", id="x")  # type: ignore[arg-type]
    data = {"subscriptions": [other, PROFILE["subscriptions"][0]]}
    (tmp_path / "azureProfile.json").write_text(json.dumps(data), encoding="utf-8-sig")
    accounts = cli_accounts({"AZURE_CONFIG_DIR": str(tmp_path)})
    assert [a.subscription_name for a in accounts] == ["Contoso Dev", "Other"]
    assert accounts[0].user == "alice@contoso.example" and accounts[0].tenant_id == "tenant-1"
    (tmp_path / "azureProfile.json").write_text("{not json")
    assert cli_accounts({"AZURE_CONFIG_DIR": str(tmp_path)}) == []


# --- who is signed in ----------------------------------------------------------------------------


def jwt(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def test_principal_from_claims_user_service_principal_managed_identity_static() -> None:
    user = principal_from_token(
        jwt({"tid": "t1", "oid": "o1", "upn": "alice@contoso.example", "appid": "04b07795"})
    )
    assert (user.kind, user.name, user.tenant_id) == ("user", "alice@contoso.example", "t1")
    assert user.describe() == "as user alice@contoso.example in tenant t1"
    sp = principal_from_token(
        jwt({"tid": "t1", "idtyp": "app", "appid": "a1", "app_displayname": "ci-deployer"})
    )
    assert (sp.kind, sp.name, sp.app_id) == ("service-principal", "ci-deployer", "a1")
    mi = principal_from_token(jwt({"tid": "t1", "appid": "a2", "xms_mirid": "/subs/x/mi"}))
    assert mi.kind == "managed-identity"
    static = principal_from_token("aksaudit-emulator-dev-token")
    assert static.kind == "static-token"
    assert static.describe() == "with a static token (AKSAUDIT_ACCESS_TOKEN)"
    assert token_claims("a.%%%.c") is None and token_claims("a.bm90IGpzb24.c") is None


def test_whoami_against_the_emulator(emulator: Any, tmp_path: Path) -> None:
    env = cli_env(emulator, tmp_path / "state")
    env["AKSAUDIT_LOG_FILE"] = str(tmp_path / "aksaudit.log")
    p = subprocess.run(
        [*aksaudit_cmd(), "whoami"], env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    out = p.stdout
    assert "signed in with a static token (AKSAUDIT_ACCESS_TOKEN)" in out
    assert "subscriptions readable: 2" in out
    assert "Contoso Production" in out and "Contoso Development" in out
    assert "aks-prod-weu  kube context aks-prod-weu" in out
    assert emulator.info.token not in out
    p = subprocess.run(
        [*aksaudit_cmd(), "whoami", "--json"], env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    doc = json.loads(p.stdout)
    assert doc["principal"]["kind"] == "static-token" and doc["sources"] == ["static-token"]
    assert {s["state"] for s in doc["subscriptions"]} == {"Enabled"}
    assert {c["name"]: c["kube_context"] for c in doc["clusters"]} == {
        "aks-dev-neu": "aks-dev-neu",
        "aks-payments-weu": "aks-payments-weu",
        "aks-prod-weu": "aks-prod-weu",
    }
    assert emulator.info.token not in p.stdout + p.stderr


def test_whoami_names_a_missing_context(emulator: Any, tmp_path: Path) -> None:
    """A kubeconfig without the cluster's context: whoami says how to get it."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n")
    env = cli_env(emulator, tmp_path / "state")
    env.update(KUBECONFIG=str(kubeconfig), AKSAUDIT_LOG_FILE=str(tmp_path / "log"))
    p = subprocess.run(
        [*aksaudit_cmd(), "whoami"], env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "aks-dev-neu  no kube context (az aks get-credentials -g rg-aks-dev -n aks-dev-neu)" in (
        p.stdout
    )


class CountingChain:
    """Stands in for the chain inside the cache: counts asks, never contacts anything."""

    credentials = ()

    def __init__(self, lifetime_s: int = 3600) -> None:
        self.asks = 0
        self.lifetime_s = lifetime_s

    async def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        self.asks += 1
        await asyncio.sleep(0.01)  # like a subprocess: concurrent asks overlap
        return AccessTokenInfo(f"t{self.asks}", int(time.time()) + self.lifetime_s)

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return await self.get_token_info(*scopes)

    async def close(self) -> None:
        return None


def test_the_chain_is_asked_once_per_scope_until_the_token_nears_expiry() -> None:
    from aksaudit_tui.cloud.credentials import AsyncCachedChain
    from aksaudit_tui.cloud.settings import ARM_SCOPE

    async def run() -> None:
        inner = CountingChain()
        cached = AsyncCachedChain(inner)
        infos = await asyncio.gather(*(cached.get_token_info(ARM_SCOPE) for _ in range(20)))
        assert inner.asks == 1 and {i.token for i in infos} == {"t1"}
        assert (await cached.get_token(ARM_SCOPE)).token == "t2"  # its own key, asked once
        assert (await cached.get_token(ARM_SCOPE)).token == "t2"
        await cached.get_token_info("https://api.loganalytics.io/.default")
        assert inner.asks == 3
        await cached.get_token_info(ARM_SCOPE, options={"claims": "challenge"})
        assert inner.asks == 4  # a claims challenge always asks afresh
        short = CountingChain(lifetime_s=60)  # inside the refresh margin: never reused
        cached = AsyncCachedChain(short)
        await cached.get_token_info(ARM_SCOPE)
        await cached.get_token_info(ARM_SCOPE)
        assert short.asks == 2

    asyncio.run(run())

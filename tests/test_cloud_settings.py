"""CloudSettings, credentials, the client factory and error mapping (no network)."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from aksaudit_tui.cloud.clients import AsyncClients, build_client, logs_client_kwargs
from aksaudit_tui.cloud.credentials import (
    AsyncStaticTokenCredential,
    StaticTokenCredential,
    async_credential,
    sync_credential,
)
from aksaudit_tui.cloud.errors import describe, user_error
from aksaudit_tui.cloud.settings import CloudSettings, add_cloud_arguments
from aksaudit_tui.errors import UsageError, UserError

TOKEN = "tok-SECRET-0123456789"


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_cloud_arguments(p)
    return p.parse_args(argv)


def test_flags_win_over_env_and_token_only_from_env(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    env = {
        "AKSAUDIT_ARM_ENDPOINT": "https://env.example:1/",
        "AKSAUDIT_LOGS_ENDPOINT": "https://env.example:1/logs/v1",
        "AKSAUDIT_CA_BUNDLE": str(ca),
        "AKSAUDIT_ACCESS_TOKEN": TOKEN,
        "KUBECONFIG": "/env/kubeconfig",
    }
    s = CloudSettings.from_env_and_args(
        parse(["--arm-endpoint", "https://127.0.0.1:9/", "--kubeconfig", "/flag/kc"]), env
    )
    assert s.arm_endpoint == "https://127.0.0.1:9"
    assert s.logs_endpoint == "https://env.example:1/logs/v1"
    assert s.ca_bundle == str(ca.resolve())
    assert s.kubeconfig == "/flag/kc"
    assert s.access_token == TOKEN
    # 127.0.0.1 alone is not "the emulator": the pace is Azure's unless the profile says fast
    assert s.profile == "azure" and s.effective_polling_interval == 30
    fast = CloudSettings.from_env_and_args(None, {**env, "AKSAUDIT_PROFILE": "fast"})
    assert fast.profile == "fast" and fast.effective_polling_interval == 0
    with pytest.raises(UsageError, match="AKSAUDIT_PROFILE must be one of azure, fast"):
        CloudSettings.from_env_and_args(None, {**env, "AKSAUDIT_PROFILE": "quick"})


def test_token_never_in_repr_or_str() -> None:
    s = CloudSettings(arm_endpoint="https://127.0.0.1:1", access_token=TOKEN)
    assert TOKEN not in repr(s)
    assert TOKEN not in str(s)
    assert TOKEN not in f"{s!r} {s}"
    assert TOKEN not in repr(StaticTokenCredential(TOKEN))
    assert TOKEN not in str(AsyncStaticTokenCredential(TOKEN))


@pytest.mark.parametrize(
    ("argv", "env", "needle"),
    [
        (["--arm-endpoint", "http://127.0.0.1:1"], {}, "https://"),
        (["--logs-endpoint", "127.0.0.1:1"], {}, "https://"),
        (["--ca-bundle", "/nonexistent/ca.pem"], {}, "no such file"),
        ([], {"AKSAUDIT_ACCESS_TOKEN": "two words"}, "single bearer token"),
    ],
)
def test_bad_settings_are_usage_errors(argv: list[str], env: dict[str, str], needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        CloudSettings.from_env_and_args(parse(argv), env)


def test_static_credentials_sync_and_async() -> None:
    cred = StaticTokenCredential(TOKEN)
    assert cred.get_token("https://management.azure.com/.default").token == TOKEN
    info = cred.get_token_info("scope")
    assert info.token == TOKEN and info.expires_on > 0

    async def run() -> tuple[str, str]:
        acred = AsyncStaticTokenCredential(TOKEN)
        async with acred:
            a = await acred.get_token("s")
            b = await acred.get_token_info("s")
        return a.token, b.token

    assert asyncio.run(run()) == (TOKEN, TOKEN)
    # With a token in the settings the Azure credential chain is never built.
    s = CloudSettings(access_token=TOKEN)
    assert isinstance(sync_credential(s), StaticTokenCredential)
    assert isinstance(async_credential(s), AsyncStaticTokenCredential)


def test_clients_get_endpoint_ca_scope_polling(tmp_path: Path) -> None:
    import trustme

    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    s = CloudSettings(
        arm_endpoint="https://127.0.0.1:4443",
        logs_endpoint="https://127.0.0.1:4443/logs/v1",
        ca_bundle=str(tmp_path / "ca.pem"),
        access_token=TOKEN,
        profile="fast",
    )
    cred = StaticTokenCredential(TOKEN)
    for kind in ("subscriptions", "compute", "containerservice", "loganalytics", "monitor"):
        client = build_client(kind, s, cred, "sub-1", aio=False)
        assert client._config.polling_interval == 0
        assert client._config.credential_scopes == ["https://management.azure.com/.default"]
        # TypeSpec clients keep it in the config ("{endpoint}" template), msrest ones in the client
        base = getattr(client._config, "base_url", None) or client._client._base_url
        assert base.rstrip("/") == "https://127.0.0.1:4443"
        client.close()
    # azure-monitor-query strips the whole path of an endpoint ending in /v1: we pass it apart.
    kw = logs_client_kwargs(s)
    assert kw["endpoint"] == "https://127.0.0.1:4443/logs" and kw["api_version"] == "v1"
    assert kw["connection_verify"] == s.ca_bundle

    async def run() -> str:
        async with AsyncClients(s) as clients:
            c1 = clients.compute("sub-1")
            assert clients.compute("sub-1") is c1  # cached per subscription
            logs = clients.logs()
            # one pooled session for every client, trusting the CA bundle
            assert c1._client._pipeline._transport is clients.transport()
            assert clients.transport().session.connector._ssl.verify_mode.name == "CERT_REQUIRED"
            return str(logs._endpoint)

    assert asyncio.run(run()) == "https://127.0.0.1:4443/logs"


@pytest.mark.parametrize(
    ("arm", "logs", "scope", "audience", "logs_base"),
    [
        (None, None, "https://management.azure.com/.default", "https://api.loganalytics.io", None),
        (
            "https://management.usgovcloudapi.net",
            None,
            "https://management.usgovcloudapi.net/.default",
            "https://api.loganalytics.us",
            "https://api.loganalytics.us",
        ),
        (
            "https://management.chinacloudapi.cn",
            "https://api.loganalytics.azure.cn/v1",
            "https://management.chinacloudapi.cn/.default",
            "https://api.loganalytics.azure.cn",
            "https://api.loganalytics.azure.cn",
        ),
        (  # an emulator on loopback takes public Azure's token shape, as before
            "https://127.0.0.1:4443",
            "https://127.0.0.1:4443/logs/v1",
            "https://management.azure.com/.default",
            "https://api.loganalytics.io",
            "https://127.0.0.1:4443/logs",
        ),
    ],
)
def test_token_scope_and_logs_audience_follow_the_endpoints_cloud(
    arm: str | None, logs: str | None, scope: str, audience: str, logs_base: str | None
) -> None:
    """A sovereign cloud's ARM refuses a token asked for public Azure's scope (and its Logs
    API one for public Azure's audience): both come from the cloud the endpoint belongs to."""
    s = CloudSettings.from_env_and_args(
        parse(
            [
                *(["--arm-endpoint", arm] if arm else []),
                *(["--logs-endpoint", logs] if logs else []),
            ]
        ),
        env={},
    )
    assert s.arm_scope == scope
    client = build_client("compute", s, StaticTokenCredential(TOKEN), "sub-1", aio=False)
    assert client._config.credential_scopes == [scope]
    client.close()
    kw = logs_client_kwargs(s)
    assert kw["audience"] == audience
    assert kw.get("endpoint") == logs_base


def test_importing_cloud_and_discover_cmd_imports_no_azure_sdk() -> None:
    code = (
        "import sys\n"
        "import aksaudit_tui.cloud, aksaudit_tui.cloud.settings, aksaudit_tui.cloud.discovery\n"
        "import aksaudit_tui.cloud.logpaths, aksaudit_tui.cloud.parse, aksaudit_tui.cloud.logs\n"
        "import aksaudit_tui.cli.discover_cmd\n"
        "print(sorted(m for m in sys.modules if m == 'azure' or m.startswith('azure.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def _http_error(status: int, code: str, message: str) -> Exception:
    from azure.core.exceptions import HttpResponseError, ODataV4Format

    exc = HttpResponseError(message=f"({code}) {message}\nCode: {code}\nMessage: {message}")
    exc.status_code = status
    exc.error = ODataV4Format({"code": code, "message": message})
    return exc


def test_403_says_which_permission_and_scope() -> None:
    scope = "/subscriptions/s1/resourceGroups/MC_rg_aks_westeurope/providers/Microsoft.Compute/x"
    exc = _http_error(
        403,
        "AuthorizationFailed",
        "The client 'u' with object id 'o' does not have authorization to perform action "
        f"'Microsoft.Compute/virtualMachineScaleSets/extensions/write' over scope '{scope}' or "
        "the scope is invalid.",
    )
    err = user_error(exc, doing="installing OmsAgentForLinux")
    text = str(err)
    assert isinstance(err, UserError)
    assert "\n" not in text
    assert "you lack Microsoft.Compute/virtualMachineScaleSets/extensions/write on " + scope in text
    assert "Contributor on the node resource group" in text


def test_deny_assignment_names_the_lockdown() -> None:
    exc = _http_error(
        403,
        "DenyAssignmentAuthorizationFailed",
        "The client 'u' has permission to perform action 'Microsoft.Compute/virtualMachineScaleSets"
        "/extensions/write' on scope '/subscriptions/s/resourceGroups/MC_x'; however, the access "
        "is denied because of the deny assignment with name 'AKS Node Resource Group Deny'.",
    )
    info = describe(exc)
    assert "lockdown" in info.message and "container-insights" in info.message


def test_401_and_secret_scrubbing() -> None:
    from azure.core.exceptions import ClientAuthenticationError

    assert "az login" in describe(ClientAuthenticationError(message="expired")).message
    exc = _http_error(400, "InvalidParameter", f"bad workspaceKey {TOKEN}")
    assert TOKEN not in str(user_error(exc, secrets=[TOKEN]))

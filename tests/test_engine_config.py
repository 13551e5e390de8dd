"""The engine's pace is an explicit profile: a loopback endpoint alone changes no timeout."""

from __future__ import annotations

from pathlib import Path

from aksaudit_tui.cli.tui_cmd import emulator_settings
from aksaudit_tui.cloud.clients import build_client, client_kwargs, logs_client_kwargs
from aksaudit_tui.cloud.credentials import StaticTokenCredential
from aksaudit_tui.cloud.settings import CloudSettings
from aksaudit_tui.engine.config import Timing
from aksaudit_tui.engine.service import Engine

LOOPBACK = {
    "arm_endpoint": "https://127.0.0.1:4443",
    "logs_endpoint": "https://localhost:4443/logs/v1",
    "access_token": "tok-0123456789",
}


def test_loopback_endpoint_alone_keeps_azure_pace(tmp_path: Path) -> None:
    s = CloudSettings(**LOOPBACK)  # type: ignore[arg-type]
    kw = client_kwargs(s)
    assert (kw["polling_interval"], kw["retry_backoff_factor"], kw["retry_backoff_max"]) == (
        30.0,
        0.8,
        60,
    )
    assert logs_client_kwargs(s)["retry_backoff_factor"] == 0.8
    client = build_client("compute", s, StaticTokenCredential("tok-0123456789"), "sub", aio=False)
    try:
        assert client._config.polling_interval == 30.0
    finally:
        client.close()
    eng = Engine(s, tmp_path)
    assert eng.config.timing == Timing()
    assert (eng.verify_deadline_s, eng.verify_poll_s, eng.node_deadline_s) == (900, 30, 600)


def test_fast_profile_is_explicit(tmp_path: Path) -> None:
    s = CloudSettings(**LOOPBACK, profile="fast")  # type: ignore[arg-type]
    kw = client_kwargs(s)
    assert (kw["polling_interval"], kw["retry_backoff_factor"], kw["retry_backoff_max"]) == (
        0.0,
        0.05,
        2,
    )
    assert logs_client_kwargs(s)["retry_backoff_factor"] == 0.05
    eng = Engine(s, tmp_path)
    assert eng.config.timing == Timing.fast()
    assert (eng.verify_deadline_s, eng.verify_poll_s, eng.node_deadline_s) == (60, 1, 60)
    # read-only check pods and the keeper interval are the same on both paces
    assert (eng.review_deadline_s, eng.keeper_interval_s) == (120, 300)
    # explicit verify values win over the profile, and tuning the facade tunes its config
    eng = Engine(s, tmp_path, verify_deadline_s=20, verify_poll_s=0.3)
    eng.node_deadline_s = 4
    assert eng.config.timing == Timing(verify_deadline_s=20, verify_poll_s=0.3, node_deadline_s=4)
    # and a fast profile pointed at a real Azure endpoint is still fast: nothing is guessed
    far = CloudSettings(arm_endpoint="https://management.azure.com", profile="fast")
    assert Engine(far, tmp_path).config.timing == Timing.fast()


def test_demo_settings_ask_for_the_fast_profile(tmp_path: Path) -> None:
    class Info:
        arm_endpoint = "https://127.0.0.1:1"
        logs_endpoint = "https://127.0.0.1:1/logs/v1"
        ca_bundle = tmp_path / "ca.pem"
        token = "tok-0123456789"
        kubeconfig = tmp_path / "kubeconfig"
        registry_endpoint = "https://127.0.0.1:1"

    s = emulator_settings(Info())  # type: ignore[arg-type]
    assert s.profile == "fast"
    assert Engine(s, tmp_path).config.timing == Timing.fast()

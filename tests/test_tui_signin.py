"""The start screen when nobody is signed in: it says how, and retries on `s` (Pilot)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import OptionList, Static

from aksaudit_tui.cloud.settings import CloudSettings
from aksaudit_tui.tui.app import AksauditApp
from test_tui_units import FIXED_NOW, settle
from tui_fakes import FakeEngine


class SettingsEngine(FakeEngine):
    # real Azure, no token: the sign-in comes from the environment
    settings = CloudSettings(kubeconfig=FakeEngine.settings.kubeconfig)


async def test_not_signed_in_says_how_and_retries_after_sign_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in [v for v in os.environ if v.startswith(("AKSAUDIT_", "AZURE_"))]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))  # no az
    app = AksauditApp(
        SettingsEngine(runs=[]), identity="", signed_in=False, keymap={}, animations=False,
        clock=lambda: FIXED_NOW,
    )  # fmt: skip
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        ident = str(screen.query_one("#identity", Static).content)
        assert ident.startswith("Not signed in to Azure. In another terminal run `az login`")
        assert "press s here to try again" in ident
        actions = screen.query_one("#start-actions", OptionList)
        assert actions.get_option_at_index(0).id == "sign_in"
        assert not app.state.subscriptions  # nothing was discovered without a sign-in
        await pilot.press("s")
        await settle(pilot)
        msg = str(screen.query_one("#nav-message", Static).content)
        assert msg.startswith("Still not signed in")
        # the user signs in elsewhere (here: a service principal in the environment)
        monkeypatch.setenv("AZURE_TENANT_ID", "t1")
        monkeypatch.setenv("AZURE_CLIENT_ID", "c1")
        monkeypatch.setenv("AZURE_CLIENT_SECRET", "not-a-real-secret")
        await pilot.press("s")
        await settle(pilot)
        assert app.signed_in
        ident = str(screen.query_one("#identity", Static).content)
        assert ident.startswith("Signed in: service principal c1 (tenant t1)")
        assert "not-a-real-secret" not in ident
        assert {s.name for s in app.state.subscriptions} == {
            "prod-subscription",
            "dev-subscription",
        }
        assert screen.query_one("#start-actions", OptionList).get_option_at_index(0).id == "new"
        contexts = str(screen.query_one("#kube-contexts", Static).content)
        assert contexts == (
            "Kube contexts: found for 1 of 2 cluster(s); none for aks-[dev] "
            "(az aks get-credentials -g rg-aks-[dev] -n aks-[dev])"
        )

"""Container Insights with the data collection rule exactly as `az aks enable-addons -a monitoring
--enable-syslog` creates it: every facility (authpriv included) at every level, Debug to
Emergency. The product must find nothing to change there, beside the default scenario's rule that
lacks authpriv (``test_cloud_logpaths``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aksaudit_emulator import load_scenario
from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.cloud.discovery import discover_all
from aksaudit_tui.cloud.logpaths import get_log_path
from fixtures.cloud import credential_for, requests, settings_for, writes

ALL_LEVELS = {"Debug", "Info", "Notice", "Warning", "Error", "Critical", "Alert", "Emergency"}


def _az_cli_default() -> dict[str, Any]:
    data = load_scenario(None)
    for sub in data["subscriptions"]:
        for rg in sub["resource_groups"]:
            for cl in rg.get("clusters", []):
                mon = cl.get("monitoring")
                if cl["name"] == "aks-prod-weu" and mon:
                    # What the az CLI writes: no facility or level list of our own.
                    mon.pop("syslog_facilities", None)
                    mon.pop("syslog_levels", None)
    return data


def test_the_az_cli_default_rule_already_carries_authpriv(
    make_emulator: Callable[..., Any],
) -> None:
    emu = make_emulator(_az_cli_default())
    inv = asyncio.run(discover_all(settings_for(emu), credential=credential_for(emu)))
    prod = next(c for c in inv.clusters if c.name == "aks-prod-weu")
    law = next(w for w in inv.workspaces if w.name == "law-prod-weu")
    assert prod.monitoring is not None and prod.monitoring.dcr_id
    assert prod.monitoring.dcr_id.rsplit("/", 1)[-1] == "MSCI-westeurope-aks-prod-weu"
    (src,) = prod.monitoring.syslog
    assert "authpriv" in src.facilities and set(src.levels) == ALL_LEVELS

    async def probe_and_apply(severity: str) -> tuple[Any, Any]:
        async with AsyncClients(settings_for(emu), credential_for(emu)) as clients:
            path = get_log_path("container-insights", clients)
            probe = await path.probe(prod, law, "authpriv", severity)
            return probe, await path.apply(prod, law, "authpriv", severity)

    for severity in ("info", "debug"):
        snap = requests(emu)
        probe, changes = asyncio.run(probe_and_apply(severity))
        assert probe.ok and probe.changes == [] and probe.blocking is None, probe
        assert changes == []
        assert writes(snap, requests(emu)) == {}  # nothing written to Azure

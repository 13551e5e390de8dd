"""Writes of data collection rules and of the managed cluster carry the resource's ETag
(``If-Match``; ``If-None-Match: *`` to create): someone else's change between our read and our
write makes ARM answer 412, and the adapter reads again, builds its change on top of theirs and
writes once more; a second 412 is one clear line. The emulator enforces ETags on both resources
(the ``concurrent_write`` fault writes the resource, a tag and a new ETag, just before our
request lands). Real SDK clients over HTTPS to the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from aksaudit_emulator import load_scenario
from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.cloud.discovery import discover_all
from aksaudit_tui.cloud.logpaths import LogPath, get_log_path
from aksaudit_tui.errors import UserError
from fixtures.cloud import credential_for, settings_for
from fixtures.emulator import make_emulator  # noqa: F401  (pytest fixture)

pytestmark = pytest.mark.timeout(300)
DCR = "/dataCollectionRules/MSCI-northeurope-aks-dev-neu"
CLUSTER = "/managedClusters/aks-dev-neu$"


def _scenario(count: int) -> dict[str, Any]:
    data = load_scenario(None)
    data["faults"] = [
        {"kind": "concurrent_write", "method": "PUT", "path": DCR, "count": count},
        {"kind": "concurrent_write", "method": "PUT", "path": CLUSTER, "count": count},
    ]
    return data


def _run(emu: Any, fn: Callable[[LogPath, Any, Any], Any], path: str = "container-insights") -> Any:
    async def go() -> Any:
        inv = await discover_all(settings_for(emu), credential=credential_for(emu))
        dev = next(c for c in inv.clusters if c.name == "aks-dev-neu")
        law = next(w for w in inv.workspaces if w.name == "law-dev-neu")
        async with AsyncClients(settings_for(emu), credential_for(emu)) as clients:
            return await fn(get_log_path(path, clients), dev, law)

    return asyncio.run(go())


def _resource(emu: Any, suffix: str) -> dict[str, Any]:
    with emu.state.lock:
        return next(b for rid, b in emu.state.arm.items() if rid.endswith(suffix.lower()))


def test_a_write_racing_someone_else_is_retried_on_their_version(
    make_emulator: Any,  # noqa: F811
) -> None:
    emu = make_emulator(_scenario(1))
    # the rule does not exist yet: created with If-None-Match: *, no race possible on it
    _run(emu, lambda p, c, w: p.apply(c, w, "authpriv", "warning"))
    cluster = _resource(emu, "/managedclusters/aks-dev-neu")
    # someone else tagged the cluster just before our write: the 412 made us read again, and
    # our change went in on top of theirs (their tag kept, the add-on on)
    assert cluster["tags"]["changed-by"].startswith("someone-else"), cluster["tags"]
    addon = cluster["properties"]["addonProfiles"]["omsagent"]
    assert addon["enabled"] is True
    # now the rule exists: a second facility edits it, racing someone else once
    _run(emu, lambda p, c, w: p.apply(c, w, "auth", "warning"))
    rule = _resource(emu, DCR)
    assert rule["tags"]["changed-by"].startswith("someone-else"), rule.get("tags")
    names = {f for s in rule["properties"]["dataSources"]["syslog"] for f in s["facilityNames"]}
    assert {"authpriv", "auth"} <= names
    # exactly what was written: the rule once on create and twice on the edit (412, retry),
    # the cluster twice (412, retry), the association once; our source has the levels asked
    with emu.state.lock:
        puts = {k: n for k, n in emu.state.requests.items() if k.startswith("PUT")}
    assert puts == {"PUT dcr": 3, "PUT cluster": 2, "PUT association": 1}, puts
    ours = [s for s in rule["properties"]["dataSources"]["syslog"] if "auth" in s["facilityNames"]]
    assert ours and set(ours[0]["logLevels"]) >= {"Warning", "Error", "Critical"}, ours


def _theirs(workspace_id: str) -> dict[str, Any]:
    """A rule someone else creates under the same name just before our create lands: perf
    counters to their destination, no syslog."""
    return {
        "location": "northeurope",
        "kind": "Linux",
        "tags": {"owner": "someone-else"},
        "properties": {
            "dataSources": {
                "performanceCounters": [
                    {
                        "name": "theirs-perf",
                        "streams": ["Microsoft-Perf"],
                        "samplingFrequencyInSeconds": 60,
                        "counterSpecifiers": ["\\Processor(_Total)\\% Processor Time"],
                    }
                ]
            },
            "destinations": {
                "logAnalytics": [{"workspaceResourceId": workspace_id, "name": "theirs"}]
            },
            "dataFlows": [{"streams": ["Microsoft-Perf"], "destinations": ["theirs"]}],
        },
    }


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("container-insights", DCR),
        ("ama", "/dataCollectionRules/aksaudit-syslog-law-dev-neu"),
    ],
)
def test_a_create_that_lost_the_race_never_journals_the_rule_as_ours(
    make_emulator: Any,  # noqa: F811
    path: str,
    rule: str,
) -> None:
    """Someone else creates the rule between our read (absent) and our create: If-None-Match
    fails, we build on their rule, and the journal must not claim the rule: remove later
    takes back only our syslog part, never their rule."""
    data = load_scenario(None)
    law_id = next(
        f"/subscriptions/{s['id']}/resourceGroups/{rg['name']}"
        f"/providers/Microsoft.OperationalInsights/workspaces/{w['name']}"
        for s in data["subscriptions"]
        for rg in s["resource_groups"]
        for w in rg.get("workspaces") or []
        if w["name"] == "law-dev-neu"
    )
    data["faults"] = [
        {
            "kind": "concurrent_write",
            "method": "PUT",
            "path": rule + "$",
            "count": 1,
            "body": _theirs(law_id),
        }
    ]
    emu = make_emulator(data)
    changes = _run(emu, lambda p, c, w: p.apply(c, w, "authpriv", "warning"), path)
    undo = [x.undo for x in changes if x.undo]
    assert not any(u.startswith("dcr|") for u in undo), changes
    assert not any(c.description.startswith("created data collection rule") for c in changes)
    written = _resource(emu, rule)
    assert written["tags"]["owner"] == "someone-else"
    sources = written["properties"]["dataSources"]
    assert sources["performanceCounters"][0]["name"] == "theirs-perf"
    assert any("authpriv" in s["facilityNames"] for s in sources["syslog"]), sources
    _run(emu, lambda p, c, w: p.remove(c, w, undo), path)
    after = _resource(emu, rule)  # still there: their rule, with their data flow
    assert after["properties"]["dataSources"]["performanceCounters"][0]["name"] == "theirs-perf"
    assert {"streams": ["Microsoft-Perf"], "destinations": ["theirs"]} in after["properties"][
        "dataFlows"
    ]


def test_a_second_race_is_one_clear_error(make_emulator: Any) -> None:  # noqa: F811
    emu = make_emulator(_scenario(2))
    with pytest.raises(UserError) as info:
        _run(emu, lambda p, c, w: p.apply(c, w, "authpriv", "warning"))
    msg = str(info.value)
    assert msg == (
        "cluster aks-dev-neu was changed by someone else while aksaudit wrote it, twice "
        "(HTTP 412, ETag mismatch); nothing of theirs was overwritten: run again"
    )
    cluster = _resource(emu, "/managedclusters/aks-dev-neu")
    assert not (cluster["properties"].get("addonProfiles") or {}).get("omsagent", {}).get("enabled")


def test_an_add_on_someone_else_enabled_during_our_write_is_never_journaled_as_ours(
    make_emulator: Any,  # noqa: F811
) -> None:
    """Someone else enables the monitoring add-on between our read (off) and our write: the
    412 makes us build on their cluster, and the journal must not say we enabled it, or remove
    would later turn off their add-on."""
    data = load_scenario(None)
    addon = {"enabled": True, "config": {"useAADAuth": "true"}}
    data["faults"] = [
        {
            "kind": "concurrent_write",
            "method": "PUT",
            "path": CLUSTER,
            "count": 1,
            "patch": {"properties": {"addonProfiles": {"omsagent": addon}}},
        }
    ]
    emu = make_emulator(data)
    changes = _run(emu, lambda p, c, w: p.apply(c, w, "authpriv", "warning"))
    assert not [c for c in changes if (c.undo or "").startswith("addon")], changes
    assert any("enabled meanwhile by someone else" in c.description for c in changes), changes
    cluster = _resource(emu, "/managedclusters/aks-dev-neu")
    assert cluster["properties"]["addonProfiles"]["omsagent"]["enabled"] is True
    _run(emu, lambda p, c, w: p.remove(c, w, [x.undo for x in changes if x.undo]))
    cluster = _resource(emu, "/managedclusters/aks-dev-neu")
    assert cluster["properties"]["addonProfiles"]["omsagent"]["enabled"] is True  # still theirs

"""The three log-path adapters against the emulator: probe says "will change", apply, probe says
ok, a second apply writes nothing; lockdown denies are clear; the workspace key never leaks."""

from __future__ import annotations

import asyncio
import base64
import logging
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from aksaudit_emulator import load_scenario
from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.cloud.discovery import discover_all
from aksaudit_tui.cloud.logpaths import LeftAlone, LogPath, get_log_path
from aksaudit_tui.cloud.logpaths.dcr import OWNER_TAG, created_by_us
from aksaudit_tui.cloud.models import Cluster, Workspace
from aksaudit_tui.errors import UsageError, UserError
from aksaudit_tui.syslog import dcr_levels_from, severities_from
from engine_helpers import dcr_bodies
from fixtures.cloud import credential_for, requests, settings_for, writes

# Recognisable, valid base64 (the emulator hands it out from sharedKeys).
KEY = base64.b64encode(b"AKSAUDIT-RECOGNISABLE-WORKSPACE-KEY-0123456789-abcdef").decode()


def scenario_with_key(*faults: dict[str, Any]) -> dict[str, Any]:
    data = load_scenario(None)
    for sub in data["subscriptions"]:
        for rg in sub["resource_groups"]:
            for ws in rg.get("workspaces", []):
                ws["primary_key"] = KEY
    data["faults"] = list(faults)
    return data


def world(emu: Any) -> tuple[dict[str, Cluster], dict[str, Workspace]]:
    inv = asyncio.run(discover_all(settings_for(emu), credential=credential_for(emu)))
    return {c.name: c for c in inv.clusters}, {w.name: w for w in inv.workspaces}


def run(emu: Any, path: str, fn: Callable[[LogPath], Any]) -> Any:
    async def go() -> Any:
        async with AsyncClients(settings_for(emu), credential_for(emu)) as clients:
            return await fn(get_log_path(path, clients))

    return asyncio.run(go())


def test_severity_vocabulary() -> None:
    assert severities_from("info") == (
        "emerg",
        "alert",
        "crit",
        "err",
        "warning",
        "notice",
        "info",
    )
    assert severities_from("error") == ("emerg", "alert", "crit", "err")
    assert dcr_levels_from("warning") == ("Warning", "Error", "Critical", "Alert", "Emergency")
    assert dcr_levels_from("debug")[0] == "Debug"
    with pytest.raises(UsageError, match="unknown syslog severity"):
        severities_from("loud")


# --- container insights ----------------------------------------------------------------------


def test_container_insights_adds_the_facility_idempotently(emulator: Any) -> None:
    clusters, ws = world(emulator)
    prod, law = clusters["aks-prod-weu"], ws["law-prod-weu"]
    before = run(emulator, "container-insights", lambda p: p.probe(prod, law, "authpriv", "info"))
    assert not before.ok and before.blocking is None
    assert any("add syslog authpriv" in c for c in before.changes)
    assert not any("enable the monitoring add-on" in c for c in before.changes)

    snap = requests(emulator)
    changes = run(emulator, "container-insights", lambda p: p.apply(prod, law, "authpriv", "info"))
    assert [c.description for c in changes]
    assert all(c.undo for c in changes)
    assert list(writes(snap, requests(emulator))) == ["PUT dcr"]  # only the rule changed

    after = run(emulator, "container-insights", lambda p: p.probe(prod, law, "authpriv", "info"))
    assert after.ok and after.changes == []
    # The other facilities are kept.
    c2, _ = world(emulator)
    facs = {f for s in c2["aks-prod-weu"].monitoring.syslog for f in s.facilities}
    assert facs == {"auth", "cron", "daemon", "kern", "syslog", "user", "authpriv"}

    snap = requests(emulator)
    again = run(emulator, "container-insights", lambda p: p.apply(prod, law, "authpriv", "info"))
    assert again == []
    assert writes(snap, requests(emulator)) == {}

    # remove undoes only what apply added
    undo = [c.undo for c in changes if c.undo]
    run(emulator, "container-insights", lambda p: p.remove(prod, law, undo))
    c3, _ = world(emulator)
    facs = {f for s in c3["aks-prod-weu"].monitoring.syslog for f in s.facilities}
    assert facs == {"auth", "cron", "daemon", "kern", "syslog", "user"}
    assert c3["aks-prod-weu"].monitoring.addon_enabled


def test_container_insights_enables_monitoring_where_absent(emulator: Any) -> None:
    clusters, ws = world(emulator)
    dev, law = clusters["aks-dev-neu"], ws["law-dev-neu"]
    probe = run(emulator, "container-insights", lambda p: p.probe(dev, law, "authpriv", "warning"))
    text = "\n".join(probe.changes)
    assert "create data collection rule MSCI-northeurope-aks-dev-neu" in text
    assert "associate" in text and "enable the monitoring add-on" in text

    changes = run(
        emulator, "container-insights", lambda p: p.apply(dev, law, "authpriv", "warning")
    )
    assert {c.undo.split("|")[0] for c in changes if c.undo} == {"dcr", "dcra", "addon"}
    assert run(
        emulator, "container-insights", lambda p: p.probe(dev, law, "authpriv", "warning")
    ).ok

    c2, _ = world(emulator)
    mon = c2["aks-dev-neu"].monitoring
    assert mon.addon_enabled and mon.msi_auth and mon.syslog_enabled and mon.dcr_associated
    assert mon.workspace_id == law.id
    (src,) = mon.syslog
    assert src.facilities == ("authpriv",)
    assert set(src.levels) == {"Warning", "Error", "Critical", "Alert", "Emergency"}

    undo = [c.undo for c in changes if c.undo]
    run(emulator, "container-insights", lambda p: p.remove(dev, law, undo))
    c3, _ = world(emulator)
    assert not c3["aks-dev-neu"].monitoring.addon_enabled
    assert c3["aks-dev-neu"].monitoring.dcr_id is None


def test_container_insights_refuses_a_second_workspace(emulator: Any) -> None:
    clusters, ws = world(emulator)
    probe = run(
        emulator,
        "container-insights",
        lambda p: p.probe(clusters["aks-prod-weu"], ws["law-dev-neu"], "authpriv", "info"),
    )
    assert not probe.ok and probe.blocking and "law-prod-weu" in probe.blocking
    with pytest.raises(UserError, match="law-prod-weu"):
        run(
            emulator,
            "container-insights",
            lambda p: p.apply(clusters["aks-prod-weu"], ws["law-dev-neu"], "authpriv", "info"),
        )


# --- legacy agent ----------------------------------------------------------------------------


def test_legacy_oms_key_only_in_protected_settings_and_never_leaks(
    make_emulator: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emu = make_emulator(scenario_with_key())
    clusters, ws = world(emu)
    dev, law = clusters["aks-dev-neu"], ws["law-dev-neu"]
    probe = run(emu, "legacy-oms", lambda p: p.probe(dev, law, "authpriv", "info"))
    assert not probe.ok and probe.blocking is None and probe.warnings
    text = "\n".join(probe.changes)
    azl = next(s for s in dev.scale_sets if s.pool == "azl")
    np1 = next(s for s in dev.scale_sets if s.pool == "nodepool1")
    assert f"install OmsAgentForLinux on {azl.name}" in text
    assert np1.name not in text  # already has the agent for this workspace, model applied
    assert "add LinuxSyslog data source authpriv" in text

    snap = requests(emu)
    changes = run(emu, "legacy-oms", lambda p: p.apply(dev, law, "authpriv", "info"))
    w = writes(snap, requests(emu))
    assert w.get("POST shared_keys") == 1
    assert sum(v for k, v in w.items() if k.startswith("PUT")) == 2  # extension + data source
    assert any(k.startswith("POST") and "upgrade" in k for k in w)

    after = run(emu, "legacy-oms", lambda p: p.probe(dev, law, "authpriv", "info"))
    assert after.ok, after.changes
    snap = requests(emu)
    assert run(emu, "legacy-oms", lambda p: p.apply(dev, law, "authpriv", "info")) == []
    assert writes(snap, requests(emu)) == {}  # not even the key is fetched again

    # The key went to the agent in protectedSettings, and nowhere else we can see.
    with emu.state.lock:
        secret_blobs = repr(emu.state.secrets)
        public = repr(emu.state.arm)
    assert KEY in secret_blobs and KEY not in public
    inv_text = repr(world(emu))
    seen = repr(probe) + repr(after) + repr(changes) + inv_text + caplog.text
    assert KEY not in seen
    assert all(c.undo is None or KEY not in c.undo for c in changes)
    # workspace data source: every severity from info up
    (src,) = [
        s for s in world(emu)[1]["law-dev-neu"].syslog_sources if s.facilities == ("authpriv",)
    ]
    assert src.levels == severities_from("info")

    # the data source it created is tagged as ours; one with our name that someone else made
    # (no tag), named in an undo token, is left and said
    ours = _data_source(emu, "aksaudit-syslog-authpriv")
    assert created_by_us(ours) and set(ours["tags"]) == {OWNER_TAG}, ours  # no plan here
    theirs = {"kind": "LinuxSyslog", "properties": {"syslogName": "cron", "syslogSeverities": []}}

    async def put_theirs() -> None:
        async with AsyncClients(settings_for(emu), credential_for(emu)) as clients:
            la = clients.loganalytics(law.subscription_id)
            await la.data_sources.create_or_update(
                law.resource_group, law.name, "aksaudit-syslog-cron", theirs
            )

    asyncio.run(put_theirs())
    undo = [f"ds|{law.id}|aksaudit-syslog-cron", *(c.undo for c in changes if c.undo)]
    out = run(emu, "legacy-oms", lambda p: p.remove(dev, law, undo))
    assert any("removed OmsAgentForLinux" in line for line in out)
    (left,) = [ln for ln in out if isinstance(ln, LeftAlone)]
    assert "left data source aksaudit-syslog-cron of law-dev-neu as it is" in left
    with emu.state.lock:
        emu.state.delete(_data_source(emu, "aksaudit-syslog-cron")["id"])
    c3, w3 = world(emu)
    azl3 = next(s for s in c3["aks-dev-neu"].scale_sets if s.pool == "azl")
    np3 = next(s for s in c3["aks-dev-neu"].scale_sets if s.pool == "nodepool1")
    assert not any(e.type == "OmsAgentForLinux" for e in azl3.extensions)
    assert any(e.type == "OmsAgentForLinux" for e in np3.extensions)  # not ours: kept
    assert [s.facilities for s in w3["law-dev-neu"].syslog_sources] == [("syslog",)]


def _data_source(emu: Any, name: str) -> dict[str, Any]:
    with emu.state.lock:
        (body,) = [
            b
            for b in emu.state.arm.values()
            if str(b.get("type", "")).lower().endswith("workspaces/datasources")
            and b.get("name") == name
        ]
    return body


def test_legacy_oms_error_never_carries_the_key(
    make_emulator: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emu = make_emulator(
        scenario_with_key(
            {
                "kind": "server_error",
                "path": "/extensions/OmsAgentForLinux$",
                "method": "PUT",
                "status": 500,
            }
        )
    )
    clusters, ws = world(emu)
    with pytest.raises(UserError) as info:
        run(
            emu,
            "legacy-oms",
            lambda p: p.apply(clusters["aks-dev-neu"], ws["law-dev-neu"], "authpriv", "info"),
        )
    err = info.value
    assert "installing OmsAgentForLinux" in str(err)
    rendered = "".join(traceback.format_exception(err)) + repr(err.__dict__) + caplog.text
    assert KEY not in rendered
    assert err.__cause__ is None and err.__context__ is None


def test_legacy_oms_lockdown_is_reported(make_emulator: Callable[..., Any]) -> None:
    emu = make_emulator(scenario_with_key())
    clusters, ws = world(emu)
    pay, law = clusters["aks-payments-weu"], ws["law-prod-weu"]
    probe = run(emu, "legacy-oms", lambda p: p.probe(pay, law, "authpriv", "info"))
    assert (
        probe.blocking
        and "locked down" in probe.blocking
        and "container-insights" in probe.blocking
    )
    with pytest.raises(UserError) as info:
        run(emu, "legacy-oms", lambda p: p.apply(pay, law, "authpriv", "info"))
    text = str(info.value)
    assert "lockdown" in text and "deny assignment" in text and "\n" not in text
    assert KEY not in "".join(traceback.format_exception(info.value))


# --- Azure Monitor Agent -----------------------------------------------------------------------


def test_ama_installs_agent_rule_and_associations(emulator: Any) -> None:
    clusters, ws = world(emulator)
    dev, law = clusters["aks-dev-neu"], ws["law-dev-neu"]
    probe = run(emulator, "ama", lambda p: p.probe(dev, law, "authpriv", "notice"))
    text = "\n".join(probe.changes)
    assert "create data collection rule aksaudit-syslog-law-dev-neu" in text
    assert text.count("install AzureMonitorLinuxAgent") == 2
    assert text.count("associate aksaudit-syslog-law-dev-neu") == 2

    changes = run(emulator, "ama", lambda p: p.apply(dev, law, "authpriv", "notice"))
    kinds = sorted(c.undo.split("|")[0] for c in changes if c.undo)
    assert kinds == ["dcr", "dcra", "dcra", "vmss-ext", "vmss-ext"]
    assert any("updated" in c.description for c in changes)

    after = run(emulator, "ama", lambda p: p.probe(dev, law, "authpriv", "notice"))
    assert after.ok, after.changes
    snap = requests(emulator)
    assert run(emulator, "ama", lambda p: p.apply(dev, law, "authpriv", "notice")) == []
    assert writes(snap, requests(emulator)) == {}

    c2, _ = world(emulator)
    for s in c2["aks-dev-neu"].scale_sets:
        ext = [e for e in s.extensions if e.type == "AzureMonitorLinuxAgent"]
        assert len(ext) == 1 and ext[0].publisher == "Microsoft.Azure.Monitor"
        assert all(i.latest_model_applied for i in s.instances)

    undo = [c.undo for c in changes if c.undo]
    run(emulator, "ama", lambda p: p.remove(dev, law, undo))
    assert not run(emulator, "ama", lambda p: p.probe(dev, law, "authpriv", "notice")).ok
    c3, _ = world(emulator)
    assert not any(
        e.type == "AzureMonitorLinuxAgent"
        for s in c3["aks-dev-neu"].scale_sets
        for e in s.extensions
    )


def test_ama_remove_leaves_our_rule_while_another_cluster_still_uses_it(emulator: Any) -> None:
    """Our rule is one per workspace in the cluster's resource group: another cluster there
    may be associated with it. A remove of the first deletes its own associations, and the
    rule only once nothing is associated with it any more."""
    clusters, ws = world(emulator)
    dev, law = clusters["aks-dev-neu"], ws["law-dev-neu"]
    changes = run(emulator, "ama", lambda p: p.apply(dev, law, "authpriv", "notice"))
    rule_id = next(c.undo for c in changes if (c.undo or "").startswith("dcr|")).split("|")[1]
    other = clusters["aks-prod-weu"].id  # stands in for another cluster using the rule

    async def associate(delete: bool) -> None:
        async with AsyncClients(settings_for(emulator), credential_for(emulator)) as clients:
            assocs = clients.monitor(dev.subscription_id).data_collection_rule_associations
            if delete:
                await assocs.delete(other, "theirs")
            else:
                body = {"properties": {"dataCollectionRuleId": rule_id}}
                await assocs.create(other, "theirs", body)

    asyncio.run(associate(delete=False))
    undo = [c.undo for c in changes if c.undo]
    out = run(emulator, "ama", lambda p: p.remove(dev, law, undo))
    left = [ln for ln in out if isinstance(ln, LeftAlone)]
    assert len(left) == 1 and "1 resource(s) still use it (aks-prod-weu)" in left[0], out
    names = {b["name"] for b in dcr_bodies(emulator)}
    assert "aksaudit-syslog-law-dev-neu" in names

    asyncio.run(associate(delete=True))
    out = run(emulator, "ama", lambda p: p.remove(dev, law, undo))
    assert not [ln for ln in out if isinstance(ln, LeftAlone)], out
    assert "aksaudit-syslog-law-dev-neu" not in {b["name"] for b in dcr_bodies(emulator)}


def test_ama_skips_windows_and_reports_lockdown(emulator: Any) -> None:
    clusters, ws = world(emulator)
    prod = run(
        emulator,
        "ama",
        lambda p: p.probe(clusters["aks-prod-weu"], ws["law-prod-weu"], "authpriv", "info"),
    )
    win = next(s for s in clusters["aks-prod-weu"].scale_sets if s.os == "Windows")
    assert "skipped" in prod.details[win.name]
    assert win.name not in "\n".join(prod.changes)
    pay = run(
        emulator,
        "ama",
        lambda p: p.probe(clusters["aks-payments-weu"], ws["law-prod-weu"], "authpriv", "info"),
    )
    assert pay.blocking and "ReadOnly" in pay.blocking


def test_failed_long_running_operation_is_clear_and_keyless(
    make_emulator: Callable[..., Any],
) -> None:
    emu = make_emulator(
        scenario_with_key({"kind": "lro_fail", "path": "/extensions/OmsAgentForLinux$", "count": 1})
    )
    clusters, ws = world(emu)
    dev, law = clusters["aks-dev-neu"], ws["law-dev-neu"]
    with pytest.raises(UserError) as info:
        run(emu, "legacy-oms", lambda p: p.apply(dev, law, "authpriv", "info"))
    assert "installing OmsAgentForLinux" in str(info.value)
    assert KEY not in "".join(traceback.format_exception(info.value)) + repr(info.value.__dict__)
    # the fault is spent: a second apply completes the path (resume semantics), and still
    # owns the extension the failed attempt left behind
    changes = run(emu, "legacy-oms", lambda p: p.apply(dev, law, "authpriv", "info"))
    assert any((c.undo or "").startswith("vmss-ext|") for c in changes)
    assert run(emu, "legacy-oms", lambda p: p.probe(dev, law, "authpriv", "info")).ok

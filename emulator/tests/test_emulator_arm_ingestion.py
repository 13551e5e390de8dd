"""Ingestion: audit rows reach the workspace only when the whole path holds for a node.

Node roots are laid out by the node-root builder and read back with the real
``read_node_audit_state``; the cloud side is changed through the real SDK clients.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aksaudit_emulator import ingestion
from aksaudit_emulator.noderoot import build_node_root, standin_env, standins_dir
from fixtures.emulator import StaticTokenCredential
from test_emulator_arm import DEV, PROD, PROD_NODE_RG, PROD_RG, WS_PROD, sdk

PLUGIN = (
    "active = yes\ndirection = out\npath = /sbin/audisp-syslog\ntype = always\n"
    "args = LOG_INFO LOG_AUTHPRIV\nformat = string\n"
)
RULES = "-a always,exit -F arch=b64 -S execve -k aksaudit_exec\n-w /etc/passwd -p wa -k identity\n"


def configure_node(
    emulator: Any,
    node_name: str,
    *,
    plugin: str = PLUGIN,
    running: bool = True,
    rsyslog: bool | None = None,
    rules: str = RULES,
) -> Path:
    """Make a node root look like the node script has run on it (auditd 3.x, plugin, rules)."""
    node = emulator.state.node(node_name)
    root = Path(node.root)
    shutil.rmtree(root)
    build_node_root(root, node.os_sku, node.name, auditd_installed=True, rsyslog=rsyslog)
    conf = root / "etc/audit/plugins.d/syslog.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(plugin)
    rules_file = root / "etc/audit/rules.d/50-aksaudit.rules"  # what a restart loads again
    rules_file.parent.mkdir(parents=True, exist_ok=True)
    rules_file.write_text(rules)
    sim = root / "var/lib/aksaudit-sim"
    (sim / "services").mkdir(parents=True, exist_ok=True)
    if running:
        systemctl(root, "restart")  # as the node script does: auditd reads plugins at start
    else:
        (sim / "services/auditd").write_text("inactive\n")
    (sim / "loaded.rules").write_text(rules)
    return root


def systemctl(root: Path, verb: str, unit: str = "auditd") -> None:
    """The systemctl stand-in on a node root (``restart``, ``reload``, ``stop`` a unit)."""
    subprocess.run(
        [str(standins_dir() / "systemctl"), verb, unit],
        env=standin_env(root),
        check=True,
        capture_output=True,
    )


def set_running(root: Path, running: bool) -> None:
    (root / "var/lib/aksaudit-sim/services/auditd").write_text(
        "active\n" if running else "inactive\n"
    )


def node_of(emulator: Any, cluster: str, pool: str, index: int = 0) -> str:
    for n in emulator.state.clusters[cluster].nodes.values():
        if n.pool == pool and n.instance_id == str(index):
            return str(n.name)
    raise AssertionError((cluster, pool, index))


def query_rows(emulator: Any, customer_id: str, node: str) -> list[Any]:
    from azure.monitor.query import LogsQueryClient

    client = LogsQueryClient(
        StaticTokenCredential(emulator.info.token),
        endpoint=emulator.info.logs_endpoint,
        audience="https://api.loganalytics.io",
        connection_verify=emulator.info.ca_bundle,
    )
    res = client.query_workspace(
        customer_id,
        f"Syslog | where Computer == '{node}' | where ProcessName in ('audispd', 'audisp-syslog')"
        " | where SyslogMessage has 'msg=audit(' | order by TimeGenerated desc",
        timespan=timedelta(minutes=30),
    )
    return list(res.tables[0].rows)


def wait_rows(emulator: Any, customer_id: str, node: str, timeout: float = 5.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = query_rows(emulator, customer_id, node)
        if rows:
            return rows
        time.sleep(0.1)
    return []


def assert_no_new_rows(emulator: Any, customer_id: str, node: str) -> None:
    """Clear the table, let several ingestion rounds pass, and expect nothing for this node."""
    with emulator.state.lock:
        emulator.state.syslog[customer_id] = []
    time.sleep(0.6)  # ingestion runs every 0.1 s in tests
    assert query_rows(emulator, customer_id, node) == []


def cid(emulator: Any, name: str) -> str:
    return next(w["customer_id"] for w in emulator.info.workspaces if w["name"] == name)


def test_container_insights_path(emulator: Any) -> None:
    az = sdk(emulator.info)
    node = node_of(emulator, "aks-prod-weu", "system")
    other = node_of(emulator, "aks-prod-weu", "apps")
    ws = cid(emulator, WS_PROD)
    root = configure_node(emulator, node)
    # the MSCI rule lacks authpriv: nothing arrives, and the emulator says why
    assert any("container-insights" in why for why in ingestion.explain(emulator.state, node))
    assert_no_new_rows(emulator, ws, node)
    # add authpriv to the rule's syslog source (what the tool's CI path does)
    rule = az.mon.data_collection_rules.get(PROD_RG, "MSCI-westeurope-aks-prod-weu")
    rule.data_sources.syslog[0].facility_names.append("authpriv")
    az.mon.data_collection_rules.create(PROD_RG, rule.name, rule)
    assert ingestion.explain(emulator.state, node) == []
    rows = wait_rows(emulator, ws, node)
    assert rows, "rows expected once the whole path holds"
    row = rows[0]
    assert row["Facility"] == "authpriv" and row["SeverityLevel"] == "info"
    assert row["ProcessName"] == "audispd" and row["SourceSystem"] == "Linux"
    assert row["HostName"] == node and row["HostIP"].startswith("10.224.")
    assert any(
        'key="aksaudit_exec"' in r["SyslogMessage"] or 'key="identity"' in r["SyslogMessage"]
        for r in rows
    )
    assert row["_ResourceId"].endswith("/managedclusters/aks-prod-weu")
    # an unconfigured node in the same cluster sends nothing
    assert query_rows(emulator, ws, other) == []
    # auditd stopped: no new rows
    set_running(root, False)
    assert "auditd not running" in ingestion.explain(emulator.state, node)
    assert_no_new_rows(emulator, ws, node)
    set_running(root, True)
    assert wait_rows(emulator, ws, node)
    # node NotReady: no new rows
    emulator.state.node(node).ready = False
    assert_no_new_rows(emulator, ws, node)


def test_user_facility_uses_audisp_syslog_process(emulator: Any) -> None:
    node = node_of(emulator, "aks-prod-weu", "apps", 1)
    configure_node(emulator, node, plugin=PLUGIN.replace("LOG_AUTHPRIV", "LOG_USER"))
    rows = wait_rows(emulator, cid(emulator, WS_PROD), node)  # the MSCI rule collects user
    assert rows and rows[0]["ProcessName"] == "audisp-syslog" and rows[0]["Facility"] == "user"


def test_legacy_agent_path(emulator: Any) -> None:
    dev = sdk(emulator.info, DEV)
    node = node_of(emulator, "aks-dev-neu", "nodepool1")
    ws = cid(emulator, "law-dev-neu")
    configure_node(emulator, node)
    # the OMS extension is there with the key, but no LinuxSyslog source for authpriv
    assert any("LinuxSyslog" in w for w in ingestion.explain(emulator.state, node))
    assert_no_new_rows(emulator, ws, node)
    sevs = [{"severity": s} for s in ("emerg", "alert", "crit", "err", "warning", "notice", "info")]
    dev.la.data_sources.create_or_update(
        "rg-aks-dev",
        "law-dev-neu",
        "DataSource_LinuxSyslog_authpriv",
        {"kind": "LinuxSyslog", "properties": {"syslogName": "authpriv", "syslogSeverities": sevs}},
    )
    rows = wait_rows(emulator, ws, node)
    assert rows and rows[0]["_ResourceId"].endswith("-vmss")
    # a new extension changes the model: until the instance is upgraded, nothing arrives
    vmss = next(
        v
        for v in dev.compute.virtual_machine_scale_sets.list(
            emulator.state.clusters["aks-dev-neu"].node_resource_group
        )
        if v.tags["aks-managed-poolName"] == "nodepool1"
    )
    node_rg = emulator.state.clusters["aks-dev-neu"].node_resource_group
    body = {
        "properties": {
            "publisher": "Microsoft.Azure.Extensions",
            "type": "CustomScript",
            "typeHandlerVersion": "2.1",
            "settings": {},
        }
    }
    dev.compute.virtual_machine_scale_set_extensions.begin_create_or_update(
        node_rg, vmss.name, "extra", body
    ).result()
    assert any("latest model" in w for w in ingestion.explain(emulator.state, node))
    assert_no_new_rows(emulator, ws, node)
    dev.compute.virtual_machine_scale_sets.begin_update_instances(
        node_rg, vmss.name, {"instanceIds": ["0", "1"]}
    ).result()
    assert wait_rows(emulator, ws, node)


def test_ama_path(emulator: Any) -> None:
    az = sdk(emulator.info, PROD)
    node = node_of(emulator, "aks-prod-weu", "apps", 2)
    ws_id = az.la.workspaces.get(PROD_RG, WS_PROD).id
    ws = cid(emulator, WS_PROD)
    configure_node(emulator, node, plugin=PLUGIN.replace("LOG_AUTHPRIV", "LOG_LOCAL6"))
    vmss = next(
        v
        for v in az.compute.virtual_machine_scale_sets.list(PROD_NODE_RG)
        if v.tags["aks-managed-poolName"] == "apps"
    )
    ama = {
        "properties": {
            "publisher": "Microsoft.Azure.Monitor",
            "type": "AzureMonitorLinuxAgent",
            "typeHandlerVersion": "1.33",
            "autoUpgradeMinorVersion": True,
        }
    }
    az.compute.virtual_machine_scale_set_extensions.begin_create_or_update(
        PROD_NODE_RG, vmss.name, "AzureMonitorLinuxAgent", ama
    ).result()
    az.compute.virtual_machine_scale_sets.begin_update_instances(
        PROD_NODE_RG, vmss.name, {"instanceIds": ["0", "1", "2"]}
    ).result()
    levels = ["Info", "Notice", "Warning", "Error", "Critical", "Alert", "Emergency"]
    rule = az.mon.data_collection_rules.create(
        PROD_RG,
        "dcr-audit",
        {
            "location": "westeurope",
            "properties": {
                "dataSources": {
                    "syslog": [
                        {
                            "name": "s",
                            "streams": ["Microsoft-Syslog"],
                            "facilityNames": ["local6"],
                            "logLevels": levels,
                        }
                    ]
                },
                "destinations": {"logAnalytics": [{"workspaceResourceId": ws_id, "name": "la"}]},
                "dataFlows": [{"streams": ["Microsoft-Syslog"], "destinations": ["la"]}],
            },
        },
    )
    # rule exists but is not associated with the scale set yet
    assert_no_new_rows(emulator, ws, node)
    az.mon.data_collection_rule_associations.create(
        vmss.id, "dcr-audit-assoc", {"properties": {"dataCollectionRuleId": rule.id}}
    )
    rows = wait_rows(emulator, ws, node)
    assert rows and rows[0]["Facility"] == "local6"
    # the rule stops collecting local6: nothing new
    body = rule.as_dict()
    az.mon.data_collection_rules.create(
        PROD_RG,
        "dcr-audit",
        {
            "location": "westeurope",
            "properties": {
                "dataSources": {
                    "syslog": [
                        {
                            "name": "s",
                            "streams": ["Microsoft-Syslog"],
                            "facilityNames": ["auth"],
                            "logLevels": levels,
                        }
                    ]
                },
                "destinations": {"logAnalytics": [{"workspaceResourceId": ws_id, "name": "la"}]},
                "dataFlows": [{"streams": ["Microsoft-Syslog"], "destinations": ["la"]}],
            },
        },
    )
    assert body["name"] == "dcr-audit"
    assert_no_new_rows(emulator, ws, node)


def test_real_syslog_feed(emulator: Any) -> None:
    az = sdk(emulator.info)
    node = node_of(emulator, "aks-prod-weu", "system", 1)
    ws = cid(emulator, WS_PROD)
    line = (
        "<86>Jan 12 09:30:00 myhost audispd[812]: type=SYSCALL msg=audit(1768210200.001:77): "
        'arch=c000003e syscall=59 success=yes exit=0 comm="id" exe="/usr/bin/id" '
        'key="aksaudit_exec"'
    )
    # logged while the rule does not collect authpriv: lost, as on a real node
    assert emulator.state.feed_syslog(node, [line]) == 0
    rule = az.mon.data_collection_rules.get(PROD_RG, "MSCI-westeurope-aks-prod-weu")
    rule.data_sources.syslog[0].facility_names.append("authpriv")
    az.mon.data_collection_rules.create(PROD_RG, rule.name, rule)
    assert emulator.state.feed_syslog(node, [line, line]) == 2
    rows = wait_rows(emulator, ws, node)
    assert len(rows) == 2  # only the fed lines: a fed node gets no synthetic rows
    assert rows[0]["SyslogMessage"].startswith("type=SYSCALL msg=audit(1768210200.001:77)")
    assert rows[0]["Facility"] == "authpriv" and rows[0]["ProcessID"] == 812
    with pytest.raises(ValueError):
        emulator.state.feed_syslog("no-such-node", [line])


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "<86>Jan 12 09:30:00 h audispd[9]: type=EXECVE msg=audit(1.0:2): argc=1",
            ("authpriv", "info", "audispd", 9),
        ),
        (
            "<14>Jan 12 09:30:00 h audisp-syslog: type=SYSCALL msg=audit(1.0:2): x=1",
            ("user", "info", "audisp-syslog", 0),
        ),
        ("type=SYSCALL msg=audit(1.0:2): x=1", (None, None, "audispd", 0)),
    ],
)
def test_parse_syslog_line(line: str, expected: tuple[Any, ...]) -> None:
    fac, sev, proc, pid, msg = ingestion.parse_syslog_line(line)
    assert (fac, sev, proc, pid) == expected
    assert msg.startswith("type=")


def test_ingestion_delay(make_emulator: Any) -> None:
    emu = make_emulator(None)
    emu.state.faults.append({"kind": "ingestion_delay", "seconds": 3600})
    node = node_of(emu, "aks-prod-weu", "apps", 1)
    configure_node(emu, node, plugin=PLUGIN.replace("LOG_AUTHPRIV", "LOG_USER"))
    assert ingestion.explain(emu.state, node) == []
    time.sleep(0.5)
    assert emu.state.syslog_rows(cid(emu, WS_PROD))  # ingested...
    assert query_rows(emu, cid(emu, WS_PROD), node) == []  # ...but not visible yet


def test_a_plugin_edit_arrives_only_after_auditd_restarts(emulator: Any) -> None:
    """auditd reads its plugin files when it starts (or reloads): switching the facility in the
    file changes nothing until then, as on a node."""
    node = node_of(emulator, "aks-prod-weu", "apps", 2)
    ws = cid(emulator, WS_PROD)
    # user: collected by the MSCI rule; authpriv: not (the default scenario's rule lacks it).
    root = configure_node(emulator, node, plugin=PLUGIN.replace("LOG_AUTHPRIV", "LOG_USER"))
    assert wait_rows(emulator, ws, node)
    conf = root / "etc/audit/plugins.d/syslog.conf"
    conf.write_text(PLUGIN)  # authpriv now, but the running daemon still has user
    with emulator.state.lock:
        emulator.state.syslog[ws] = []
    rows = wait_rows(emulator, ws, node)
    assert rows and {r["Facility"] for r in rows} == {"user"}
    systemctl(root, "restart")  # now it reads authpriv, which this rule does not collect
    assert_no_new_rows(emulator, ws, node)
    conf.write_text(PLUGIN.replace("LOG_AUTHPRIV", "LOG_USER"))
    assert_no_new_rows(emulator, ws, node)  # edited, not yet re-read
    systemctl(root, "reload")  # SIGHUP: auditd re-reads its plugins
    assert wait_rows(emulator, ws, node)


def test_nothing_arrives_from_a_node_whose_rsyslog_does_not_run(emulator: Any) -> None:
    """audisp-syslog -> journald -> rsyslog -> agent: Container Insights' node watcher forwards
    through rsyslog, so a configured node whose rsyslog stops sends nothing (silently, as on a
    node), and the emulator says why; it arrives again once rsyslog runs."""
    node = node_of(emulator, "aks-prod-weu", "apps", 1)
    ws = cid(emulator, WS_PROD)
    # user: collected by the default scenario's MSCI rule
    root = configure_node(emulator, node, plugin=PLUGIN.replace("LOG_AUTHPRIV", "LOG_USER"))
    assert wait_rows(emulator, ws, node)
    systemctl(root, "stop", "rsyslog")
    assert any("rsyslog not running" in why for why in ingestion.explain(emulator.state, node))
    assert_no_new_rows(emulator, ws, node)
    systemctl(root, "start", "rsyslog")
    assert ingestion.explain(emulator.state, node) == []
    assert wait_rows(emulator, ws, node)


def test_nothing_arrives_from_a_node_image_without_rsyslog(emulator: Any) -> None:
    node = node_of(emulator, "aks-prod-weu", "apps", 2)
    ws = cid(emulator, WS_PROD)
    root = configure_node(
        emulator, node, plugin=PLUGIN.replace("LOG_AUTHPRIV", "LOG_USER"), rsyslog=False
    )
    assert not (root / "usr/sbin/rsyslogd").exists() and not (root / "etc/rsyslog.d").exists()
    assert ingestion.explain(emulator.state, node) == [
        "rsyslog not running on the node: no agent receives its syslog"
    ]
    assert_no_new_rows(emulator, ws, node)

"""Status of the whole fleet from the sources of truth (issue 11), beyond test_status_truth.py:
the default scenario's cluster enabled from another machine, as `aksaudit emulator` starts it;
drift the keeper reports before it repairs it; why AMA and legacy-agent nodes are silent.
Real SDK and kubernetes clients against the emulator; the reading machine has no journal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from kubernetes import client

from aksaudit_tui.cloud.activity import ComputerActivity
from aksaudit_tui.cloud.arm import ArmId, rest
from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.engine.fleet import FleetStats, fleet_status
from aksaudit_tui.engine.plan import PlanRequest
from aksaudit_tui.engine.rules import rules_sha256
from aksaudit_tui.engine.service import Engine
from aksaudit_tui.engine.truth import NodeFacts, classify
from aksaudit_tui.nodes.kube import NodeInfo, ReadBounds, load_api
from aksaudit_tui.nodes.observe import ClusterView, KeeperPod
from aksaudit_tui.nodes.record import AppliedRecord, record_configmap_manifest
from aksaudit_tui.nodes.script import render_node_script, script_sha256
from aksaudit_tui.nodes.status import parse_node_status
from engine_helpers import add_fault, aksaudit_cmd, engine_for, scenario, settings_for
from record_samples import sample_record

PAYMENTS = "aks-payments-weu"
PROD = "aks-prod-weu"
COLLEAGUE = "maria.garcia@contoso.com"


def _env_from(env_file: Path, state_dir: Path) -> dict[str, str]:
    """This machine: the emulator's endpoints from its env file, an empty state dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AKSAUDIT_", "AZURE_"))}
    for line in env_file.read_text().splitlines():
        key, _, value = shlex.split(line.removeprefix("export "))[0].partition("=")
        env[key] = value
    env["AKSAUDIT_STATE_DIR"] = str(state_dir)
    return env


def test_default_emulator_has_a_cluster_enabled_elsewhere_and_status_shows_it(
    tmp_path: Path,
) -> None:
    """`aksaudit emulator` (default scenario) starts with aks-payments-weu enabled by a
    colleague; `aksaudit status` on a machine with no journal shows its real coverage and who
    enabled it, and the other clusters at 0 % "not enabled"."""
    proc = subprocess.Popen(
        [*aksaudit_cmd(), "emulator", "--state-dir", str(tmp_path / "emu")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("AKSAUDIT_", "AZURE_"))},
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        env = _env_from(Path(info["env_file"]), tmp_path / "fresh")
        deadline = time.monotonic() + 90
        while True:  # heartbeats take a few seconds to be ingested
            res = subprocess.run(
                [*aksaudit_cmd(), "status", "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert res.returncode in (0, 5), res.stderr
            by_name = {c["name"]: c for c in json.loads(res.stdout)["clusters"]}
            if by_name[PAYMENTS]["coverage"] == 1.0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        pay = by_name[PAYMENTS]
        states = {n["node"]: n["state"] for n in pay["nodes"]}
        assert pay["enabled"] is True and pay["enabled_by"] == COLLEAGUE, pay
        assert pay["coverage"] == 1.0 and set(states.values()) == {"covered"}, states
        assert len(states) == 4  # 2 Azure Linux + 2 arm64 Ubuntu
        assert pay["delivery"] == "keeper" and pay["log_path"] == "container-insights"
        assert pay["workspace"] == "law-prod-weu" and pay["last_heartbeat"]
        for other in ("aks-prod-weu", "aks-dev-neu"):
            c = by_name[other]
            assert c["enabled"] is False and c["coverage"] == 0.0, c
            linux = [n for n in c["nodes"] if n["state"] != "skipped"]
            assert linux and {n["state"] for n in linux} == {"not enabled"}
        assert res.returncode == 5  # not every cluster is covered
        # nothing of it is in this machine's journal, and the text view names the colleague
        assert list((tmp_path / "fresh").rglob("*.json")) == []
        one = subprocess.run(
            [*aksaudit_cmd(), "status", "--cluster", PAYMENTS],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert one.returncode == 0, one.stdout + one.stderr
        assert "100% covered" in one.stdout and f"enabled by {COLLEAGUE}" in one.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert f"{PAYMENTS}: enabled by {COLLEAGUE}" in err, err


# --- drift the keeper reports ---------------------------------------------------------------

RULES = "-w /etc/passwd -p wa -k identity\n"


def _record(**kw: Any) -> AppliedRecord:
    """The sample record of an apply of RULES (its rules and script hashes are real)."""
    base: dict[str, Any] = dict(
        plan_hash="p" * 64,
        presets=("identity",),
        rules_sha256=rules_sha256(RULES),
        script_sha256=script_sha256(render_node_script(RULES, "authpriv", "info")),
        applied_at="2026-01-01T00:00:00+00:00",
    )
    return sample_record(**{**base, **kw})


def _verdict(run_output: str, rec: AppliedRecord, *, ready: bool = True, restarts: int = 0) -> Any:
    """classify() on what a keeper pod's log ends with (the node script's real status line)."""
    st = parse_node_status(run_output)
    assert st is not None
    node = NodeInfo("aks-n-1", "apps", "Ubuntu2404", "linux", "amd64", True, False, (), "", None)
    pod = KeeperPod("aksaudit-keeper-x", ready, "Running", rec.script_sha256, st, restarts)
    view = ClusterView(nodes=[node], record=rec, keeper=True, pods={node.name: pod})
    now = datetime.now(UTC)
    beat = ComputerActivity(records=5, last_seen=now, heartbeats=5, last_heartbeat=now)
    return classify(NodeFacts(node, rec, view, beat, (), None, None, now))


def test_drift_the_keeper_reported_is_named_and_says_the_keeper_will_repair_it(
    node_root: Callable[..., Any],
) -> None:
    """The real node script on a simulated node: applied as the record says (covered); someone
    changes the rules file: the keeper's check line reports other rules than the record ->
    drift, "keeper will repair at next interval"; after its re-apply -> covered again. A
    keeper whose configuration is not the recorded one (other rules, other facility) is drift
    no pass repairs."""
    node = node_root("Ubuntu2404")
    rec = _record()
    applied = node.run(render_node_script(RULES, "authpriv", "info"))
    assert _verdict(applied.stdout, rec).state == "covered"

    rules_file = node.path / "etc/audit/rules.d/50-aksaudit.rules"
    rules_file.write_text("-w /etc/shadow -p wa -k someone-else\n")
    check = node.run(render_node_script(RULES, "authpriv", "info", "check"))
    v = _verdict(check.stdout, rec)
    assert v.state == "drift", v
    assert "the keeper will repair at next interval (every 300 s)" in v.reason, v
    assert f"rules {rules_sha256(rules_file.read_text())[:12]}" in v.reason, v
    assert f"the record says {rec.rules_sha256[:12]}" in v.reason, v
    # the keeper crash-looping on it: said, with the apply command
    stuck = _verdict(check.stdout, rec, ready=False, restarts=3)
    assert stuck.state == "drift" and "has not repaired it" in stuck.reason, stuck

    repaired = node.run(render_node_script(RULES, "authpriv", "info"))
    assert _verdict(repaired.stdout, rec).state == "covered"

    # the record names other rules / another facility than the keeper runs: not repairable
    other = _verdict(repaired.stdout, _record(rules_sha256="9" * 64))
    assert other.state == "drift" and "another configuration" in other.reason, other
    assert "rules " in other.reason and "the record says 999999999999" in other.reason
    assert "aksaudit apply" in other.fix
    fac = _verdict(repaired.stdout, _record(facility="local3"))
    assert fac.state == "drift" and "facility authpriv (the record says local3)" in fac.reason


# --- why AMA and legacy-agent nodes are silent (the log path's adapter names the link) --------

DEV = "aks-dev-neu"


async def _enabled_elsewhere(emu: Any, tmp: Path, log_path: str) -> Engine:
    """aks-dev-neu enabled from "another machine" on this log path, keeper every 8 s (so a
    heartbeat older than 16 s counts as missing)."""
    other = engine_for(emu, tmp / "someone-else")
    other.keeper_interval_s = 8
    plan = await other.plan_from_names(
        PlanRequest(clusters=[DEV], workspace="law-dev-neu", log_path=log_path)
    )
    result = await other.apply(plan)
    assert result.outcome == "ok", result.message
    return engine_for(emu, tmp / "fresh")


async def _status_until(me: Engine, want: Callable[[Any], bool], wait_s: float = 60) -> Any:
    end = time.monotonic() + wait_s
    while True:
        c = next(c for c in (await me.status(cluster_name=DEV)).clusters if c.name == DEV)
        if want(c) or time.monotonic() > end:
            return c
        await asyncio.sleep(1.0)


def _vmss_of(emu: Any, pool: str) -> tuple[str, str]:
    """(name, ARM id) of the pool's scale set."""
    c = emu.state.clusters[DEV]
    name = next(n.vmss_name for n in c.nodes.values() if n.pool == pool)
    return name, (
        f"/subscriptions/{c.subscription_id}/resourceGroups/{c.node_resource_group}"
        f"/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"
    )


async def test_ama_scale_set_without_its_rule_association_is_silent_with_that_reason(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu = make_emulator(scenario())
    me = await _enabled_elsewhere(emu, tmp_path, "ama")
    await _status_until(me, lambda c: c.coverage == 1.0)
    vmss, vmss_id = _vmss_of(emu, "nodepool1")
    async with AsyncClients(settings_for(emu)) as clients:  # as a person in the portal would
        monitor = clients.monitor(ArmId.parse(vmss_id).subscription)
        await monitor.data_collection_rule_associations.delete(vmss_id, "aksaudit-syslog")
    pool1 = set(n.name for n in emu.state.clusters[DEV].nodes.values() if n.pool == "nodepool1")
    c = await _status_until(
        me, lambda c: {n.state for n in c.nodes if n.node in pool1} == {"silent"}
    )
    rows = {n.node: n for n in c.nodes}
    for name in pool1:
        assert rows[name].state == "silent", rows[name]
        assert f"scale set {vmss} is associated with no data collection rule" in (
            rows[name].reason
        ), rows[name]
        assert "aksaudit apply" in rows[name].fix and "aksaudit-syslog-law-dev-neu" in (
            rows[name].fix
        )
    others = {n.state for n in c.nodes if n.node not in pool1 and n.state != "skipped"}
    assert others == {"covered"}  # the other pool's scale set keeps its association


async def test_legacy_agent_without_the_workspace_facility_is_silent_with_that_reason(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu = make_emulator(scenario())
    me = await _enabled_elsewhere(emu, tmp_path, "legacy-oms")
    await _status_until(me, lambda c: c.coverage == 1.0)
    ws_id = next(
        w["id"] for w in emu.info.workspaces if w["name"] == "law-dev-neu"
    )  # the workspace's ARM id
    rid = ArmId.parse(ws_id)
    async with AsyncClients(settings_for(emu)) as clients:  # the portal's Agents > Syslog
        la = clients.loganalytics(rid.subscription)
        sources = [
            rest(d)
            async for d in la.data_sources.list_by_workspace(
                rid.resource_group, rid.name, filter="kind='LinuxSyslog'"
            )
        ]
        for d in sources:
            if d["properties"]["syslogName"] == "authpriv":
                await la.data_sources.delete(rid.resource_group, rid.name, d["name"])
    c = await _status_until(
        me, lambda c: {n.state for n in c.nodes if n.state != "skipped"} == {"silent"}
    )
    linux = [n for n in c.nodes if n.state != "skipped"]
    assert linux and {n.state for n in linux} == {"silent"}, [(n.node, n.state) for n in linux]
    for n in linux:
        assert "workspace law-dev-neu collects no authpriv syslog" in n.reason, n
        assert "aksaudit apply" in n.fix


async def test_a_workspace_that_cannot_be_queried_leaves_its_nodes_unknown_naming_it(
    make_emulator: Any, tmp_path: Path
) -> None:
    """The one KQL query of a recorded workspace fails (403): the cluster is still reported,
    its nodes are unknown with the workspace's name and the fix, and the run says it once."""
    emu = make_emulator(scenario())  # aks-prod-weu: Container Insights into law-prod-weu
    ws = next(w for w in emu.info.workspaces if w["name"] == "law-prod-weu")
    rec = _record(
        workspace_id=ws["customer_id"],
        workspace_name="law-prod-weu",
        facility="auth",  # one its Container Insights rule collects: the path is whole
        delivery="one-shot",
        applied_at=datetime.now(UTC).isoformat(),  # after the nodes joined: none is "new"
    )
    api = load_api(emu.info.kubeconfig, PROD)
    try:  # the record as an apply from another machine wrote it
        cm = record_configmap_manifest(rec)
        client.CoreV1Api(api).create_namespaced_config_map(cm["metadata"]["namespace"], cm)
    finally:
        api.close()
    add_fault(emu, {"kind": "query_error", "workspace": "law-prod-weu", "status": 403})
    report = await engine_for(emu, tmp_path / "fresh").status(cluster_name=PROD)
    assert report.queries == 1
    said = [w for w in report.warnings if "could not be queried" in w]
    assert len(said) == 1 and said[0].startswith("workspace law-prod-weu could not be queried")
    (c,) = report.clusters
    assert c.enabled and c.workspace == "law-prod-weu"
    linux = [n for n in c.nodes if n.state != "skipped"]
    assert linux and {n.state for n in linux} == {"unknown"}
    for n in linux:
        assert "workspace law-prod-weu could not be queried" in n.reason, n
        assert "Log Analytics Reader" in n.fix


# --- a cluster whose API server never answers starves no other --------------------------------


def _kubeconfig_pointing(src: str, ports: dict[str, int], dest: Path) -> str:
    """A copy of ``src`` whose clusters named in ``ports`` point at 127.0.0.1:port."""
    kc = yaml.safe_load(Path(src).read_text())
    for entry in kc["clusters"]:
        if entry["name"] in ports:
            url = urlsplit(entry["cluster"]["server"])
            netloc = f"127.0.0.1:{ports[entry['name']]}"
            entry["cluster"]["server"] = url._replace(netloc=netloc).geturl()
    dest.write_text(yaml.safe_dump(kc))
    return str(dest)


async def test_a_dead_api_server_is_unknown_quickly_and_never_starves_the_others(
    make_emulator: Any, tmp_path: Path
) -> None:
    """aks-prod-weu's kube context points at a server that accepts connections and never
    answers (not even the TLS handshake), aks-dev-neu's at a closed port. With one cluster
    read at a time and one API call each, the two dead ones would hold the only slot for
    ever without bounds: each is now unknown within its timeouts with a one-line reason, and
    aks-payments-weu is still read and judged."""
    emu = make_emulator(scenario())
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections complete in the backlog; nothing is ever read or sent
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    ports = {PROD: silent.getsockname()[1], DEV: closed_port}
    kubeconfig = _kubeconfig_pointing(emu.info.kubeconfig, ports, tmp_path / "kubeconfig")
    settings = dataclasses.replace(settings_for(emu), kubeconfig=kubeconfig)
    bounds = ReadBounds(in_flight=1, connect_s=1.0, read_s=1.0)
    stats = FleetStats()
    try:
        t0 = time.monotonic()
        report = await fleet_status(settings, max_clusters=1, kube_bounds=bounds, stats=stats)
        took = time.monotonic() - t0
    finally:
        silent.close()
    by = {c.name: c for c in report.clusters}
    assert set(by) == {PROD, DEV, PAYMENTS}
    said = {
        PROD: "the API server accepted the connection but did not answer in time "
        "(1 s to connect, 1 s to answer)",
        DEV: "the API server refused the connection (nothing listens at its address)",
    }
    for name, reason in said.items():
        c = by[name]
        assert c.error == f"cannot read the cluster: {reason}", c.error
        linux = [n for n in c.nodes if n.state != "skipped"]
        assert linux and {n.state for n in linux} == {"unknown"}
        assert all(n.reason == c.error for n in linux)
    pay = by[PAYMENTS]
    assert pay.error is None and pay.enabled is False  # read: it holds no record
    linux = [n for n in pay.nodes if n.state != "skipped"]
    assert linux and {n.state for n in linux} == {"not enabled"}, pay.nodes
    # each dead call gave up at its timeout (no retry): the dead servers cost ~1 s each, far
    # from the unbounded wait they cost before; generous for a loaded machine
    assert took < 30, took
    assert stats.kube_calls.get("list_configmaps_all") == 3  # one call each, none sent again

"""Status from the sources of truth (issue 11), against the emulator with the real SDK and
kubernetes clients: every discovered cluster, read-only, no local journal needed.

Each test applies with one Engine (one state dir: "someone else's machine") and reads status
with another whose state dir is empty.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aksaudit_emulator.noderoot import build_node_root, standin_env, standins_dir
from aksaudit_tui.engine.coverage import ClusterCoverage, StatusReport
from aksaudit_tui.engine.plan import PlanRequest
from aksaudit_tui.engine.service import Engine
from engine_helpers import (
    add_fault,
    aksaudit_cmd,
    clear_faults,
    cli_env,
    drop_dcr_facility,
    engine_for,
    linux_nodes,
    node_root,
    scenario,
)

PROD, DEV = "aks-prod-weu", "aks-dev-neu"


async def _apply_elsewhere(emu: Any, tmp: Path, cluster: str = PROD, **kw: Any) -> Engine:
    """Apply from "another machine" (its own journal), keeper delivery by default."""
    other = engine_for(emu, tmp / "someone-else")
    for k, v in kw.pop("engine", {}).items():
        setattr(other, k, v)
    ws = {"aks-prod-weu": "law-prod-weu", "aks-dev-neu": "law-dev-neu"}[cluster]
    plan = await other.plan_from_names(PlanRequest(clusters=[cluster], workspace=ws, **kw))
    result = await other.apply(plan)
    assert result.outcome == "ok", result.message
    return other


def _cluster(report: StatusReport, name: str) -> ClusterCoverage:
    return next(c for c in report.clusters if c.name == name)


async def _status_until(
    eng: Engine, cluster: str, want: Any, wait_s: float = 30.0, **kw: Any
) -> StatusReport:
    """Status again until ``want(cluster coverage)`` holds (ingestion takes seconds)."""
    end = time.monotonic() + wait_s
    while True:
        report = await eng.status(**kw)
        c = _cluster(report, cluster)
        if want(c) or time.monotonic() > end:
            return report
        await asyncio.sleep(1.0)


def _states(c: ClusterCoverage) -> dict[str, str]:
    return {n.node: str(n.state) for n in c.nodes}


def _writes(before: Counter[str], after: Counter[str]) -> dict[str, int]:
    """Requests between two snapshots of the emulator's counters that are not reads."""
    diff = after - before
    # queries: POSTs that only read (a Resource Graph query the quota turned away included)
    reads = ("POST logs_query", "POST resourcegraph_query", "POST resourcegraph throttled")
    return {k: v for k, v in diff.items() if not k.startswith("GET ") and k not in reads}


async def test_fresh_machine_sees_every_cluster_read_only(
    make_emulator: Any, tmp_path: Path
) -> None:
    """A cluster enabled by someone else shows its real coverage and who enabled it; the
    never-enabled ones show 0 % "not enabled"; status creates no pod and writes nothing."""
    emu = make_emulator(scenario())
    await _apply_elsewhere(emu, tmp_path)
    me = engine_for(emu, tmp_path / "fresh")
    assert me.journal.list_runs() == []
    before = Counter(emu.state.requests)
    report = await _status_until(me, PROD, lambda c: c.coverage == 1.0)
    writes = _writes(before, Counter(emu.state.requests))
    assert writes == {}, writes  # no pod, no ConfigMap, no ARM write
    names = {c.name for c in report.clusters}
    assert {PROD, DEV, "aks-payments-weu"} <= names  # every cluster discovery found

    prod = _cluster(report, PROD)
    assert prod.enabled is True and prod.coverage == 1.0, _states(prod)
    assert prod.enabled_by and prod.applied_at and prod.delivery == "keeper"
    assert prod.log_path == "container-insights" and prod.workspace == "law-prod-weu"
    assert prod.last_heartbeat is not None and prod.drift_count == 0
    linux = set(linux_nodes(emu, PROD))
    assert {n.node for n in prod.nodes if n.state == "covered"} == linux
    assert {n.state for n in prod.nodes if n.node not in linux} == {"skipped"}  # Windows
    assert all(n.last_heartbeat and n.reason.startswith("heartbeat") for n in prod.nodes
               if n.node in linux)  # fmt: skip
    assert sum(prod.hourly) > 0 and len(prod.hourly) == 24

    dev = _cluster(report, DEV)
    assert dev.enabled is False and dev.coverage == 0.0
    assert {n.state for n in dev.linux_nodes} == {"not enabled"}
    assert report.queries == 1  # one workspace recorded: one query
    assert not report.fully_covered  # dev is not covered: exit 5

    # the CLI: --json keeps the shape and adds state and reason; exit 5 (not all covered)
    proc = await asyncio.to_thread(
        subprocess.run,
        [*aksaudit_cmd(), "status", "--json"],
        env=cli_env(emu, tmp_path / "fresh-cli"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 5, proc.stderr
    data = json.loads(proc.stdout)
    by_name = {c["name"]: c for c in data["clusters"]}
    assert by_name[PROD]["coverage"] == 1.0 and by_name[PROD]["enabled_by"]
    node = next(n for n in by_name[PROD]["nodes"] if n["state"] == "covered")
    assert {"node", "pool", "os", "last_seen", "state", "reason", "fix"} <= set(node)
    assert by_name[DEV]["coverage"] == 0.0 and by_name[DEV]["enabled"] is False
    one = await asyncio.to_thread(
        subprocess.run,
        [*aksaudit_cmd(), "status", "--cluster", PROD],
        env=cli_env(emu, tmp_path / "fresh-cli"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert one.returncode == 0, one.stdout + one.stderr
    assert "100% covered" in one.stdout and "enabled by" in one.stdout
    assert _writes(before, Counter(emu.state.requests)) == {}


def _new_node_name(emu: Any, cluster: str, pool: str) -> str:
    template = next(n for n in emu.state.clusters[cluster].nodes.values() if n.pool == pool)
    return str(template.name[:-6] + "00000z")


def _add_node(emu: Any, cluster: str, pool: str) -> str:
    """Scale a pool out by one node (a new simulated host; the control plane adds its Node)."""
    nodes = emu.state.clusters[cluster].nodes
    template = next(n for n in nodes.values() if n.pool == pool)
    name = _new_node_name(emu, cluster, pool)
    root = Path(template.root).parent / name
    build_node_root(root, template.os_sku, name)
    labels = dict(template.labels, **{"kubernetes.io/hostname": name})
    node = dataclasses.replace(
        template,
        name=name,
        instance_id="35",
        provider_id=template.provider_id.rsplit("/", 1)[0] + "/35",
        root=root,
        labels=labels,
    )
    with emu.state.lock:
        nodes[name] = node
    return name


async def test_node_added_after_apply_is_new_then_covered(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu = make_emulator(scenario())
    await _apply_elsewhere(emu, tmp_path)
    me = engine_for(emu, tmp_path / "fresh")
    await _status_until(me, PROD, lambda c: c.coverage == 1.0, cluster_name=PROD)
    # hold the keeper pod on the new node for a moment: the node is there, the keeper not yet
    name = _new_node_name(emu, PROD, "apps")
    add_fault(emu, {"kind": "pod-pending", "cluster": PROD, "node": name, "ack": False})
    added = _add_node(emu, PROD, "apps")
    report = await _status_until(me, PROD, lambda c: added in _states(c), cluster_name=PROD)
    row = next(n for n in _cluster(report, PROD).nodes if n.node == added)
    assert row.state == "new", row
    assert "joined after the apply" in row.reason or "not reported" in row.reason, row
    clear_faults(emu)
    report = await _status_until(
        me, PROD, lambda c: _states(c).get(added) == "covered", wait_s=60, cluster_name=PROD
    )
    assert _states(_cluster(report, PROD))[added] == "covered"


async def test_dcr_without_the_facility_turns_nodes_silent_with_that_reason(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu = make_emulator(scenario())
    # a short keeper interval: heartbeats older than 2 intervals (16 s) count as missing
    await _apply_elsewhere(emu, tmp_path, engine={"keeper_interval_s": 8})
    me = engine_for(emu, tmp_path / "fresh")
    await _status_until(me, PROD, lambda c: c.coverage == 1.0, cluster_name=PROD)
    await drop_dcr_facility(emu, "authpriv")  # as a person in the portal would
    linux = set(linux_nodes(emu, PROD))
    report = await _status_until(
        me,
        PROD,
        lambda c: {n.state for n in c.nodes if n.node in linux} == {"silent"},
        wait_s=60,
        cluster_name=PROD,
    )
    c = _cluster(report, PROD)
    rows = [n for n in c.nodes if n.node in linux]
    assert {n.state for n in rows} == {"silent"}, _states(c)
    for n in rows:
        assert "data collection rule MSCI-" in n.reason, n
        assert "lacks the authpriv facility" in n.reason, n
        assert "aksaudit apply" in n.fix
    assert c.coverage == 0.0


async def test_rules_changed_on_one_node_is_drift(make_emulator: Any, tmp_path: Path) -> None:
    """Someone loads another preset on one node and breaks rule loading there: the keeper's
    check finds the difference, cannot repair it, and status names that node drift."""
    emu = make_emulator(scenario())
    await _apply_elsewhere(emu, tmp_path, engine={"keeper_interval_s": 8})
    me = engine_for(emu, tmp_path / "fresh")
    victim = linux_nodes(emu, PROD)[0]
    root = node_root(emu, PROD, victim)
    rules = root / "etc/audit/rules.d/50-aksaudit.rules"
    rules.write_text("-a always,exit -F arch=b64 -S execve -k someone-elses\n")
    # and a local rules file that makes every load fail (a watch under a missing directory)
    (root / "etc/audit/rules.d/60-local.rules").write_text("-w /no/such/dir/x -p wa -k local\n")
    await asyncio.to_thread(
        subprocess.run,
        [str(Path(standins_dir()) / "augenrules"), "--load"],
        env=standin_env(root),
        capture_output=True,
        check=False,
    )
    report = await _status_until(
        me, PROD, lambda c: _states(c).get(victim) == "drift", wait_s=60, cluster_name=PROD
    )
    c = _cluster(report, PROD)
    row = next(n for n in c.nodes if n.node == victim)
    assert row.state == "drift", (row, _states(c))
    assert "differ" in row.reason, row
    assert c.drift_count == 1
    others = {n.state for n in c.nodes if n.node != victim and n.node in linux_nodes(emu, PROD)}
    assert others == {"covered"}


async def test_verify_after_apply_counts_only_records_since_the_run_started(
    make_emulator: Any, tmp_path: Path
) -> None:
    """A second apply whose new lines do not arrive (ingestion held back) does not pass on the
    lines the first run's nodes sent before it started."""
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "state")
    eng.keeper_interval_s = 2
    plan = await eng.plan_from_names(
        PlanRequest(clusters=[DEV], workspace="law-dev-neu", log_path="ama")
    )
    first = await eng.apply(plan)
    assert first.outcome == "ok" and first.summary["verified"] is True, first.message
    add_fault(emu, {"kind": "ingestion_delay", "seconds": 600})
    eng.verify_deadline_s = 3
    second = await eng.apply(plan)
    assert second.summary["verified"] is False, second.summary.get("verify")
    nodes = second.summary["verify"]["nodes"]
    assert nodes and not any(n["arrived"] for n in nodes)
    # A plain `aksaudit verify --since 15m` used to pass on the first run's lines (any record
    # within --since). On a keeper cluster it now needs a heartbeat within 2 keeper intervals,
    # and ingestion holds every new one back: no node passes on its older lines.
    report = await eng.verify(plan, deadline_s=0.1)
    assert "heartbeat within 2 keeper intervals (4 s)" in report.rule, report.rule
    assert report.nodes and not any(n.arrived for n in report.nodes), report.to_json()


def _pods_created(emu: Any) -> int:
    return sum(store.creations["pods"] for store in emu.state.kube.values())


async def test_plan_review_status_and_verify_create_no_pod(
    make_emulator: Any, tmp_path: Path
) -> None:
    """Issue 10 point 3: nothing privileged starts before the user says yes. Pod creations are
    counted by the emulated API server; a live probe is the explicit --probe-nodes."""
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "state")
    keeper = await eng.plan_from_names(PlanRequest(clusters=[PROD], workspace="law-prod-weu"))
    oneshot = await eng.plan_from_names(
        PlanRequest(clusters=[DEV], workspace="law-dev-neu", log_path="ama", delivery="one-shot")
    )
    before = _pods_created(emu)
    for plan in (keeper, oneshot):
        changes = await eng.review(plan)
        assert any(c.step == "delivery" and c.status == "will change" for c in changes)
    await eng.status()
    report = await eng.verify(oneshot, deadline_s=0.1)
    assert not report.ok and all("not probed" in n.reason or "log path" in n.reason
                                 for n in report.missing), report.to_json()  # fmt: skip
    assert _pods_created(emu) == before, "a read-only command created a pod"
    # after an apply (the user said yes), the same commands still create none
    assert (await eng.apply(oneshot)).outcome == "ok"
    assert (await eng.apply(keeper)).outcome == "ok"
    after_apply = _pods_created(emu)
    for plan in (keeper, oneshot):
        await eng.review(plan)
        await eng.verify(plan, deadline_s=0.1)
    await eng.status()
    assert _pods_created(emu) == after_apply
    # the explicit probe does start check pods
    await eng.review(oneshot, probe_nodes=True)
    assert _pods_created(emu) > after_apply

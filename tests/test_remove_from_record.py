"""Remove from the cluster's own record (issue: remove must not need this machine's journal).

A cluster enabled from "another machine" (an engine with state dir A) is removed by the real
`aksaudit remove --cluster` CLI from an empty state dir B: nodes restored, the record and our
objects gone, no privileged pod left, the log path undone only with --log-path, and undone
only where the record names this cluster's own resources (a token someone slipped into the
record naming another rule is refused and said). The record holds the undo tokens and no secret.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

from aksaudit_tui.cloud.logpaths import ama, container_insights, legacy_oms, undo
from aksaudit_tui.cloud.logpaths.undo import UndoScope, out_of_scope, recordable, withheld
from aksaudit_tui.cloud.parse import CI_ASSOCIATION
from aksaudit_tui.engine.plan import DEFAULT_IMAGE, ClusterTarget, PlanRequest, WorkspaceRef
from aksaudit_tui.engine.recorded import RecordedCluster, undo_from_record, untrusted
from aksaudit_tui.engine.steps.kubeops import open_kube
from aksaudit_tui.errors import EXIT_OK, EXIT_USAGE
from aksaudit_tui.nodes.image import parse_image
from aksaudit_tui.nodes.record import RECORD_KEY, AppliedRecord, parse_record
from engine_helpers import (
    aksaudit_cmd,
    cli_env,
    dcr_bodies,
    engine_for,
    linux_nodes,
    node_root,
    oneshot_pods,
    scenario,
)

CLUSTER, WORKSPACE = "aks-dev-neu", "law-dev-neu"
OUR_RULE = "aksaudit-syslog-law-dev-neu"  # the AMA path's rule (cloud/logpaths/ama.py)


def _sh(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*aksaudit_cmd(), *args], env=env, capture_output=True, text=True, timeout=600,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def _records(emu: Any, cluster: str) -> list[dict[str, Any]]:
    store = emu.state.kube[cluster]
    return [cm for cm in store.list("configmaps") if cm["metadata"]["name"] == "aksaudit-applied"]


def _rule_names(emu: Any) -> set[str]:
    return {str(b["name"]) for b in dcr_bodies(emu)}


def _ama_extensions(emu: Any) -> list[str]:
    with emu.state.lock:
        return [
            str(b["id"])
            for b in emu.state.arm.values()
            if str(b.get("type", "")).lower().endswith("virtualmachinescalesets/extensions")
            and "AzureMonitorLinuxAgent" in str(b.get("name", ""))
        ]


def _ours_left(emu: Any, cluster: str) -> list[str]:
    store = emu.state.kube[cluster]
    left = [
        f"{kind}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
        for kind in ("daemonsets", "configmaps", "namespaces", "pods")
        for o in store.list(kind)
        if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by") == "aksaudit"
    ]
    return left + oneshot_pods(emu, cluster)


async def _enable_elsewhere(emu: Any, state_a: Path) -> None:
    other = engine_for(emu, state_a)
    other.verify_after_apply = False
    plan = await other.plan_from_names(
        PlanRequest(clusters=[CLUSTER], workspace=WORKSPACE, log_path="ama", delivery="one-shot")
    )
    result = await other.apply(plan)
    assert result.outcome == "ok", result.message


async def _slip_token_into_record(emu: Any, token: str) -> None:
    """Someone who may write ConfigMaps in kube-system adds a token to the record."""
    kube = await asyncio.to_thread(open_kube, emu.info.kubeconfig, CLUSTER)
    try:
        cm = await kube.get_configmap("kube-system", "aksaudit-applied")
        assert cm is not None
        doc = json.loads(cm["data"][RECORD_KEY])
        doc["log_path_undo"] = [*doc["log_path_undo"], token]
        await kube.ensure_configmap(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": "aksaudit-applied",
                    "namespace": "kube-system",
                    "labels": cm["metadata"]["labels"],
                },
                "data": {RECORD_KEY: json.dumps(doc)},
            }
        )
    finally:
        kube.close()


def test_remove_from_the_record_with_an_empty_state_dir(make_emulator: Any, tmp_path: Path) -> None:
    emu = make_emulator(scenario())
    nodes = linux_nodes(emu, CLUSTER)
    asyncio.run(_enable_elsewhere(emu, tmp_path / "A"))

    # the record carries the log path's undo tokens: ids and names only, no secret
    (cm,) = _records(emu, CLUSTER)
    rec = parse_record(cm)
    assert rec is not None and rec.image and "@sha256:" in rec.image
    kinds = {t.split("|", 1)[0] for t in rec.log_path_undo}
    assert {"dcr", "dcra", "vmss-ext"} <= kinds, rec.log_path_undo
    assert all(recordable(t) for t in rec.log_path_undo) and rec.undo_withheld == ()
    assert emu.info.token not in json.dumps(cm)
    assert OUR_RULE in _rule_names(emu) and _ama_extensions(emu)

    env = cli_env(emu, tmp_path / "B")  # this machine: no journal at all
    # exactly one of PLAN or --cluster; a cluster without a record: one line, nothing changed
    for args, says in (
        (["remove", "--yes"], "exactly one of PLAN"),
        (["remove", "plan.yaml", "--cluster", CLUSTER, "--yes"], "exactly one of PLAN"),
        (["remove", "--subscription", "x", "plan.yaml", "--yes"], "--subscription goes with"),
        (["remove", "--cluster", "aks-prod-weu", "--yes"], "holds no aksaudit record"),
        (["remove", "--cluster", "aks-nope", "--yes"], "no such cluster"),
        (["remove", "--cluster", CLUSTER], "without --yes (no terminal to confirm on)"),
    ):
        res = _sh(env, *args)
        assert res.returncode == EXIT_USAGE, (args, res.stderr)
        assert res.stderr.count("\n") == 1 and says in res.stderr, res.stderr
    assert not list((tmp_path / "B").rglob("*.json"))

    # with --log-path; a token naming someone else's rule was slipped into the record
    foreign = next(b for b in dcr_bodies(emu) if b["name"] != OUR_RULE)
    asyncio.run(_slip_token_into_record(emu, f"dcr|{foreign['id']}"))
    res = _sh(env, "remove", "--cluster", CLUSTER, "--log-path", "--yes")
    assert res.returncode == EXIT_OK, res.stderr[-3000:]
    assert OUR_RULE not in _rule_names(emu) and _ama_extensions(emu) == []
    assert foreign["name"] in _rule_names(emu)  # not this cluster's: refused, and said
    assert f"names {foreign['name']}, which is not this cluster's own" in res.stderr
    assert _records(emu, CLUSTER) == [] and _ours_left(emu, CLUSTER) == []
    for n in nodes:
        assert not (node_root(emu, CLUSTER, n) / "var/lib/aksaudit").exists(), n

    # enabled again elsewhere, removed without --log-path: the log path stays
    asyncio.run(_enable_elsewhere(emu, tmp_path / "A"))
    res = _sh(env, "remove", "--cluster", CLUSTER, "--yes", "--json")
    assert res.returncode == EXIT_OK, res.stderr[-3000:]
    assert f"{CLUSTER}: enabled by " in res.stderr and "(from the cluster)" in res.stderr
    assert "--log-path undoes them" in res.stderr
    events = [json.loads(ln) for ln in res.stdout.splitlines() if ln.strip()]
    warned = [e["message"] for e in events if e["kind"] == "RunWarning"]
    assert any("kept only in this machine's journal" in w for w in warned), warned
    assert events[-1]["kind"] == "RunResult" and events[-1]["outcome"] == "ok"
    final = {e["node"]: e["phase"] for e in events if e["kind"] == "NodeUpdate"}
    assert {n: final.get(n) for n in nodes} == dict.fromkeys(nodes, "removed")
    for n in nodes:
        assert not (node_root(emu, CLUSTER, n) / "var/lib/aksaudit").exists(), n
    assert _records(emu, CLUSTER) == [] and _ours_left(emu, CLUSTER) == []
    assert OUR_RULE in _rule_names(emu) and _ama_extensions(emu)  # log path untouched
    runs = [json.loads(p.read_text()) for p in (tmp_path / "B" / "runs").glob("*.json")]
    assert [r["kind"] for r in runs] == ["remove", "remove"]


SUB = "/subscriptions/s1"
WS = f"{SUB}/resourceGroups/rg-law/providers/Microsoft.OperationalInsights/workspaces/w"
RULE = f"{SUB}/resourceGroups/rg-aks/providers/Microsoft.Insights/dataCollectionRules/r"
MSCI = f"{SUB}/resourceGroups/rg-aks/providers/Microsoft.Insights/dataCollectionRules/MSCI-c"
SCOPE = UndoScope(
    cluster_id=f"{SUB}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/c",
    subscription_id="s1",
    resource_group="rg-aks",
    node_resource_group="MC_rg-aks_c",
    workspace_ids=(WS,),  # what discovery read: the cluster's agents send there
    rule_ids=(MSCI,),  # associated with the cluster now
    cluster_name="c",
)
VMSS = f"{SUB}/resourceGroups/MC_rg-aks_c/providers/Microsoft.Compute/virtualMachineScaleSets/v"
OURS = RULE.rsplit("/", 1)[0] + "/aksaudit-syslog-w"


def test_tokens_from_a_record_undo_only_this_clusters_own_resources() -> None:
    other_rg = RULE.replace("rg-aks", "rg-other")
    other_sub = RULE.replace("/s1/", "/s2/")
    mine = [
        f"addon|{SCOPE.cluster_id}",
        f"dcra|{VMSS}|aksaudit-syslog",
        f"dcra|{SCOPE.cluster_id}|ContainerInsightsExtension",
        f"vmss-ext|{VMSS}|AzureMonitorLinuxAgent",
        f"dcr|{OURS}",
        f"dcr|{MSCI.replace('MSCI-c', 'MSCI-westeurope-c')}",  # Container Insights' rule, created
        f"dcr-source|{MSCI}|aksaudit-authpriv",  # our source, in the rule serving the cluster
        f"dcr-flow|{MSCI}",
        f"dcr-facility|{MSCI}|syslog|authpriv",
        f"ds|{WS}|aksaudit-syslog-authpriv",
        f"ds-severities|{WS}|Syslog|info",  # widened a source the workspace had: restored
    ]
    assert [t for t in mine if out_of_scope(t, SCOPE)] == []
    theirs = [
        f"addon|{SCOPE.cluster_id}2",
        f"vmss-ext|{VMSS.replace('MC_rg-aks_c', 'rg-other')}|AzureMonitorLinuxAgent",
        f"vmss-ext|{VMSS}|SomeonesSecurityAgent",  # on our scale set, but not our agent
        f"dcra|{VMSS}|their-association",
        f"dcr|{other_rg}",  # a whole rule outside the cluster's resource group
        f"dcr|{RULE}",  # in its resource group, but not our rule (a customer's)
        f"dcr|{MSCI.replace('MSCI-c', 'MSCI-westeurope-c2')}",  # another cluster's CI rule
        f"dcr-flow|{other_rg}",  # a rule in the subscription not serving this cluster
        f"dcr-facility|{other_rg}|syslog|authpriv",
        f"dcr-flow|{other_sub}",
        f"dcr-source|{RULE}|their-source",
        f"dcr-source|{MSCI}|their-source",  # the cluster's rule, but not our source
        # our source's name in a rule of the subscription that does not serve the cluster
        f"dcr-source|{other_rg}|aksaudit-authpriv",
        f"dcr-source|{RULE}|aksaudit-authpriv",
        f"ds|{WS}2|aksaudit-syslog-authpriv",  # a workspace the cluster does not send to
        f"ds-severities|{WS}2|Syslog|info",
        f"ds|{WS}|their-syslog",  # the cluster's workspace, but not our data source
        "vmss-ext-restore|a|b|c|{}",
        "unknown|x",
    ]
    assert [t for t in theirs if not out_of_scope(t, SCOPE)] == []


def test_the_workspace_a_token_may_name_comes_from_discovery_not_from_the_record() -> None:
    other = WS.rsplit("/", 1)[0] + "/someone-elses"
    rec = _rec(workspace_resource_id=other, log_path_undo=[f"ds|{other}|aksaudit-syslog-auth"])
    target = ClusterTarget(
        id=SCOPE.cluster_id, name="c", subscription_id="s1", resource_group="rg-aks",
        node_resource_group="MC_rg-aks_c",
    )  # fmt: skip
    ref = WorkspaceRef(
        name="w", id=other, customer_id="x", resource_group="r", subscription_id="s1"
    )
    rc = RecordedCluster(target, rec, ref, workspace_ids=(WS,))
    got = undo_from_record(rc)
    assert got.tokens == () and "someone-elses, which is not this cluster's own" in got.notes[0]
    mine = f"ds|{WS}|aksaudit-syslog-auth"
    rc = replace(rc, record=replace(rec, log_path_undo=(mine,)))
    assert undo_from_record(rc).tokens == (mine,)


def test_the_names_the_scope_check_accepts_are_the_adapters_own() -> None:
    assert {ama.EXT_NAME.lower(), legacy_oms.EXT_NAME.lower()} == undo.OUR_EXTENSIONS
    assert {ama.ASSOCIATION.lower(), CI_ASSOCIATION.lower()} == undo.OUR_ASSOCIATIONS
    assert container_insights.OUR_SOURCE_PREFIX == undo.OUR_SOURCE_PREFIX
    assert ama.dcr_name_of("law").startswith(undo.OUR_RULE_PREFIX)


def test_a_token_that_could_hold_someone_elses_settings_is_never_recorded() -> None:
    restore = f'vmss-ext-restore|{VMSS}|OmsAgentForLinux|/ws/id|{{"workspaceId":"x","p":"s3cr3t"}}'
    assert not recordable(restore) and not recordable("new-kind|x")
    assert withheld(restore) == f"vmss-ext-restore|{VMSS}|OmsAgentForLinux"
    assert "s3cr3t" not in withheld(restore)


EVIL = "evil.example/root@sha256:" + "e" * 64


async def _plant(emu: Any, cluster: str, where: str, **fields: Any) -> None:
    """Someone who may create ConfigMaps (and namespaces) plants a record of their own: our
    labels, the newest time, their image."""
    kube = await asyncio.to_thread(open_kube, emu.info.kubeconfig, cluster)
    try:
        if await kube.get_namespace(where) is None:
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": where}}
            await asyncio.to_thread(kube.core.create_namespace, body)
        doc = {
            "v": 1, "plan_hash": "p" * 64, "log_path": "ama", "delivery": "one-shot",
            "namespace": where, "image": EVIL, "applied_at": "9999-12-31T00:00:00+00:00",
            "applied_by": "mallory", "tool_version": "9", **fields,
        }  # fmt: skip
        labels = {"app.kubernetes.io/managed-by": "aksaudit", "aksaudit.io/role": "record"}
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "aksaudit-applied", "namespace": where, "labels": labels},
            "data": {RECORD_KEY: json.dumps(doc)},
        }
        await asyncio.to_thread(kube.core.create_namespaced_config_map, where, body)
    finally:
        kube.close()


def test_a_planted_record_never_chooses_the_image_or_namespace_of_the_remove(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu = make_emulator(scenario())
    asyncio.run(_enable_elsewhere(emu, tmp_path / "A"))
    (cm,) = _records(emu, CLUSTER)
    real = parse_record(cm)
    assert real is not None
    # newer than the real one, in a namespace that is not where apply writes records
    asyncio.run(_plant(emu, CLUSTER, "team-a"))
    asyncio.run(_plant(emu, CLUSTER, "team-b", delivery="keeper"))
    # on a cluster without a record of ours, a planted one is ignored and said
    asyncio.run(_plant(emu, "aks-prod-weu", "team-a", delivery="keeper"))

    eng = engine_for(emu, tmp_path / "B")
    scan = asyncio.run(eng.recorded_clusters(CLUSTER))
    (rc,) = scan.clusters
    assert rc.record.applied_at == real.applied_at and rc.record.image != EVIL
    other = asyncio.run(eng.recorded_clusters("aks-prod-weu"))
    assert other.clusters == () and len(other.problems) == 1
    assert "ignored the aksaudit-applied record in namespace team-a" in other.problems[0]

    removal = eng.removal_from_record(rc)
    assert removal.plan.image == DEFAULT_IMAGE and removal.plan.namespace == real.namespace
    result = asyncio.run(eng.remove(removal.plan, include_log_path=False, undo=removal.undo))
    assert result.outcome == "ok", result.message
    ran = eng.journal.load(result.run_id).plan.image  # what the pods ran as root
    assert ran.startswith(f"{parse_image(DEFAULT_IMAGE).name}@sha256:"), ran
    assert _ours_left(emu, CLUSTER) == []


def _rec(**fields: Any) -> AppliedRecord:
    doc = {"v": 1, "delivery": "keeper", "namespace": "aksaudit-system", **fields}
    rec = AppliedRecord.from_json(doc)
    assert rec is not None
    return rec


def test_a_record_counts_only_where_apply_writes_it_and_never_names_a_system_namespace() -> None:
    ours = {"aksaudit-system", "kube-system"}
    assert untrusted("aksaudit-system", _rec(), ours) is None
    assert untrusted("kube-system", _rec(delivery="one-shot"), set()) is None
    for where, rec in (
        ("team-a", _rec()),  # not where a keeper record of aksaudit-system lives
        ("aksaudit-system", _rec(delivery="one-shot")),  # one-shot records are in kube-system
        ("aksaudit-system", _rec(delivery="odd")),
        ("kube-system", _rec(namespace="kube-system")),  # the keeper's fence on kube-system
        ("kube-system", _rec(delivery="one-shot", namespace="default")),
        ("team-a", _rec(namespace="team-a")),  # a namespace aksaudit did not create
    ):
        assert untrusted(where, rec, ours | {"default"}) is not None, (where, rec)

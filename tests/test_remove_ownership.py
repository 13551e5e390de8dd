"""Remove deletes only what aksaudit created and runs only the image the user consented to.

* ``aksaudit remove --cluster NAME --image REPO@sha256:...``: an air-gapped or mirrored cluster
  (no registry reachable to pin the default tag) is removed with the user's mirror image; a
  tag-only image is one line, exit 2, nothing changed.
* A ``dcr`` undo token planted in the cluster's record that names the portal-created Container
  Insights rule (``MSCI-<region>-<cluster>``, a name an apply could have created) never deletes
  it: a whole rule is deleted only if it carries aksaudit's ownership tag, which every rule an
  apply creates gets (``cloud/logpaths/dcr.py``); the rule left alone is said in one line.

Driven through the real CLI (a subprocess) from an empty state dir against the emulator.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

from aksaudit_tui.cloud.logpaths.dcr import OWNER_TAG, PLAN_TAG, created_by_us
from aksaudit_tui.engine.plan import PlanRequest
from aksaudit_tui.engine.steps.kubeops import open_kube
from aksaudit_tui.errors import EXIT_OK, EXIT_USAGE
from aksaudit_tui.nodes.record import RECORD_KEY, parse_record
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

MIRROR_REPO = "mirror/busybox"  # what an air-gapped user mirrored the default image to


def _sh(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*aksaudit_cmd(), *args], env=env, capture_output=True, text=True, timeout=600,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def _records(emu: Any, cluster: str) -> list[dict[str, Any]]:
    store = emu.state.kube[cluster]
    return [cm for cm in store.list("configmaps") if cm["metadata"]["name"] == "aksaudit-applied"]


def _ours_left(emu: Any, cluster: str) -> list[str]:
    store = emu.state.kube[cluster]
    left = [
        f"{kind}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
        for kind in ("daemonsets", "configmaps", "namespaces", "pods")
        for o in store.list(kind)
        if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by") == "aksaudit"
    ]
    return left + oneshot_pods(emu, cluster)


async def _enable_elsewhere(
    emu: Any, state: Path, cluster: str, workspace: str, log_path: str, image: str | None = None
) -> None:
    other = engine_for(emu, state)
    other.verify_after_apply = False
    plan = await other.plan_from_names(
        PlanRequest(
            clusters=[cluster], workspace=workspace, log_path=log_path, delivery="one-shot",
            image=image,
        )
    )  # fmt: skip
    result = await other.apply(plan)
    assert result.outcome == "ok", result.message


async def _slip_token_into_record(emu: Any, cluster: str, token: str) -> None:
    """Someone who may write ConfigMaps in kube-system adds a token to the record."""
    kube = await asyncio.to_thread(open_kube, emu.info.kubeconfig, cluster)
    try:
        cm = await kube.get_configmap("kube-system", "aksaudit-applied")
        assert cm is not None
        doc = json.loads(cm["data"][RECORD_KEY])
        doc["log_path_undo"] = [*doc["log_path_undo"], token]
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "aksaudit-applied",
                "namespace": "kube-system",
                "labels": cm["metadata"]["labels"],
            },
            "data": {RECORD_KEY: json.dumps(doc)},
        }
        await kube.ensure_configmap(body)
    finally:
        kube.close()


def test_remove_from_the_record_of_an_air_gapped_cluster_runs_the_mirror_image_given(
    make_emulator: Any, tmp_path: Path
) -> None:
    cluster = "aks-dev-neu"
    emu = make_emulator(scenario())
    digest = emu.state.registry.add(MIRROR_REPO, "1.36")  # the mirror serves it, by digest
    mirrored = f"mirror.example.com/{MIRROR_REPO}@{digest}"
    asyncio.run(_enable_elsewhere(emu, tmp_path / "A", cluster, "law-dev-neu", "ama", mirrored))
    nodes = linux_nodes(emu, cluster)

    env = cli_env(emu, tmp_path / "B")
    env["AKSAUDIT_REGISTRY_ENDPOINT"] = "https://127.0.0.1:9"  # air-gapped: no registry answers
    # without --image the default tag cannot be pinned here: one line, nothing changed
    res = _sh(env, "remove", "--cluster", cluster, "--yes")
    assert res.returncode != EXIT_OK and "cannot resolve image" in res.stderr, res.stderr
    # a tag-only image, or --image without --cluster: one line, exit 2, nothing changed
    for args, says in (
        (["--cluster", cluster, "--image", f"mirror.example.com/{MIRROR_REPO}:1.36"],
         f"image mirror.example.com/{MIRROR_REPO}:1.36 has no digest; pass --image "
         "NAME@sha256:..."),
        (["plan.yaml", "--image", mirrored], "--image goes with --cluster"),
    ):  # fmt: skip
        res = _sh(env, "remove", *args, "--yes")
        assert res.returncode == EXIT_USAGE, (args, res.stderr)
        assert res.stderr.count("\n") == 1 and says in res.stderr, res.stderr
    assert len(_records(emu, cluster)) == 1 and not list((tmp_path / "B").rglob("*.json"))
    for n in nodes:
        assert (node_root(emu, cluster, n) / "var/lib/aksaudit").exists(), n

    res = _sh(env, "remove", "--cluster", cluster, "--image", mirrored, "--yes", "--json")
    assert res.returncode == EXIT_OK, res.stderr[-3000:]
    events = [json.loads(ln) for ln in res.stdout.splitlines() if ln.strip()]
    final = {e["node"]: e["phase"] for e in events if e["kind"] == "NodeUpdate"}
    assert {n: final.get(n) for n in nodes} == dict.fromkeys(nodes, "removed")
    assert _records(emu, cluster) == [] and _ours_left(emu, cluster) == []
    (run,) = [json.loads(p.read_text()) for p in (tmp_path / "B" / "runs").glob("*.json")]
    assert run["kind"] == "remove" and run["plan"]["image"] == mirrored  # what ran as root
    for n in nodes:
        assert not (node_root(emu, cluster, n) / "var/lib/aksaudit").exists(), n


def test_a_planted_dcr_token_never_deletes_a_rule_aksaudit_did_not_create(
    make_emulator: Any, tmp_path: Path
) -> None:
    cluster, msci = "aks-prod-weu", "MSCI-westeurope-aks-prod-weu"
    emu = make_emulator(scenario())
    (portal,) = [b for b in dcr_bodies(emu) if b["name"] == msci]
    assert not created_by_us(portal)  # the portal's rule: no tag of ours
    # an apply from elsewhere adds authpriv to that rule (it is not ours: no dcr token)
    asyncio.run(
        _enable_elsewhere(emu, tmp_path / "A", cluster, "law-prod-weu", "container-insights")
    )
    (cm,) = _records(emu, cluster)
    rec = parse_record(cm)
    assert rec is not None and not any(t.startswith("dcr|") for t in rec.log_path_undo)
    assert rec.log_path_undo, "the apply changed the rule and recorded how to undo it"
    # someone slips a token for the whole rule into the record: its name is one an apply
    # could create (MSCI-<region>-<cluster> in the cluster's resource group)
    asyncio.run(_slip_token_into_record(emu, cluster, f"dcr|{portal['id']}"))

    res = _sh(cli_env(emu, tmp_path / "B"), "remove", "--cluster", cluster, "--log-path", "--yes")
    assert res.returncode == EXIT_OK, res.stderr[-3000:]
    (after,) = [b for b in dcr_bodies(emu) if b["name"] == msci]  # still there
    facilities = {
        f for s in after["properties"]["dataSources"]["syslog"] for f in s["facilityNames"]
    }
    assert "authpriv" not in facilities and "auth" in facilities  # our change undone, theirs kept
    assert (
        f"left data collection rule {msci} as it is: it has no {OWNER_TAG} tag, so aksaudit "
        "did not create it"
    ) in " ".join(res.stderr.split()), res.stderr
    assert _records(emu, cluster) == [] and _ours_left(emu, cluster) == []


def test_every_rule_an_apply_creates_carries_the_ownership_tag_and_remove_deletes_it(
    make_emulator: Any, tmp_path: Path
) -> None:
    """The other side: a rule aksaudit created (Container Insights' on a cluster that had
    none) is tagged with the plan that created it, and a remove from the record deletes it."""
    cluster, msci = "aks-dev-neu", "MSCI-northeurope-aks-dev-neu"
    emu = make_emulator(scenario())
    asyncio.run(
        _enable_elsewhere(emu, tmp_path / "A", cluster, "law-dev-neu", "container-insights")
    )
    (rule,) = [b for b in dcr_bodies(emu) if b["name"] == msci]
    (cm,) = _records(emu, cluster)
    rec = parse_record(cm)
    assert rec is not None and f"dcr|{rule['id']}" in rec.log_path_undo
    assert created_by_us(rule) and rule["tags"][PLAN_TAG] == rec.plan_hash, rule["tags"]

    res = _sh(cli_env(emu, tmp_path / "B"), "remove", "--cluster", cluster, "--log-path", "--yes")
    assert res.returncode == EXIT_OK, res.stderr[-3000:]
    assert msci not in {b["name"] for b in dcr_bodies(emu)}
    assert _records(emu, cluster) == [] and _ours_left(emu, cluster) == []


def test_a_mirror_image_removes_a_keeper_applied_with_the_default_image(
    make_emulator: Any, tmp_path: Path
) -> None:
    """The fence admits one image: the keeper's (the default, by digest). A remove with the
    mirror's image stops the keeper before its own pods start, so the fence it then narrows to
    the mirror's digest denies nothing of ours; nothing is left."""
    cluster = "aks-dev-neu"  # Kubernetes 1.31: a fenced namespace
    emu = make_emulator(scenario())
    digest = emu.state.registry.add(MIRROR_REPO, "1.36")
    mirrored = f"mirror.example.com/{MIRROR_REPO}@{digest}"
    other = engine_for(emu, tmp_path / "A")
    other.verify_after_apply = False
    plan = asyncio.run(
        other.plan_from_names(
            PlanRequest(clusters=[cluster], workspace="law-dev-neu", log_path="ama")
        )
    )
    assert plan.delivery == "keeper" and MIRROR_REPO not in plan.image
    assert asyncio.run(other.apply(plan)).outcome == "ok"

    eng = engine_for(emu, tmp_path / "B")
    (rc,) = asyncio.run(eng.recorded_clusters(cluster)).clusters
    removal = eng.removal_from_record(rc, image=mirrored)
    result = asyncio.run(eng.remove(removal.plan, include_log_path=True, undo=removal.undo))
    assert result.outcome == "ok", result.message
    assert eng.journal.load(result.run_id).plan.image == mirrored
    assert _records(emu, cluster) == [] and _ours_left(emu, cluster) == []
    for n in linux_nodes(emu, cluster):
        assert not (node_root(emu, cluster, n) / "var/lib/aksaudit").exists(), n

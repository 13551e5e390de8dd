"""`aksaudit cleanup` deletes privileged leftovers, so it must not surprise anyone: without
--yes and no terminal it refuses (one line, exit 2, nothing deleted); it takes the lock of the
clusters it touches (a run of this machine in progress stops it); and it deletes only
namespaces with our label AND the annotation of the plan that created them (a label alone is
easy to copy onto someone else's namespace). Real CLI subprocesses, real kubernetes client."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from aksaudit_tui.engine import plan_io
from aksaudit_tui.engine.journal import Journal
from aksaudit_tui.engine.steps.record import plan_hash
from aksaudit_tui.nodes import manifests as m
from aksaudit_tui.nodes.kube import KubeClient, load_api
from aksaudit_tui.nodes.record import record_configmap_manifest
from engine_helpers import aksaudit_cmd, cli_env, engine_for
from fixtures.emulator import emulator  # noqa: F401  (pytest fixture)
from record_samples import sample_record

CLUSTER = "aks-dev-neu"
pytestmark = pytest.mark.timeout(300)


def _phase(v1: Any, name: str) -> str | None:
    """The namespace's phase, None when it is gone."""
    found = [n for n in v1.list_namespace().items if n.metadata.name == name]
    return found[0].status.phase if found else None


def test_cleanup_asks_locks_and_deletes_only_namespaces_a_plan_made(
    emulator: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    env = cli_env(emulator, state)

    def sh(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*aksaudit_cmd(), *args], env=env, cwd=tmp_path, capture_output=True, text=True,
            timeout=240, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip

    v1 = client.CoreV1Api(config.new_client_from_config(emulator.info.kubeconfig, context=CLUSTER))
    impostor = {"metadata": {"name": "team-tools", "labels": {m.LABEL_MANAGED_BY: "aksaudit"}}}
    # our label and a well-formed annotation, but of no plan that ran: copied, not ours
    forged = m.namespace_manifest("aksaudit-forged", "a" * 64)
    v1.create_namespace(impostor)
    v1.create_namespace(forged)

    # no terminal and no --yes: refused before anything is listed or deleted
    p = sh("plan", "--cluster", CLUSTER, "--workspace", "law-dev-neu", "--log-path", "ama",
           "--out", "plan.yaml")  # fmt: skip
    assert p.returncode == 0, p.stderr
    plan = plan_io.load(tmp_path / "plan.yaml")
    journal = Journal(state)
    record = journal.create(plan, ("access",))
    # as a run of that journaled plan creates it
    v1.create_namespace(m.namespace_manifest("aksaudit-left", plan_hash(plan)))
    p = sh("cleanup")
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip() == (
        "aksaudit: error: refusing to delete anything without --yes (no terminal to confirm on)"
    )
    assert _phase(v1, "aksaudit-left") == "Active"

    # a run of this machine holds the cluster: cleanup waits its turn (nothing deleted)
    lock = journal.lock_cluster(plan.clusters[0].id, record.run_id)
    try:
        p = sh("cleanup", "--yes")
    finally:
        lock.release()
    assert p.returncode == 1, p.stderr
    assert f'cluster "{CLUSTER}" is being changed by another aksaudit process' in p.stderr
    assert p.stderr.count("\n") == 1
    assert _phase(v1, "aksaudit-left") == "Active"

    # the lock is free: ours goes, the look-alike stays
    p = sh("cleanup", "--yes")
    assert p.returncode == 0, p.stderr
    assert "Namespace\taksaudit-left\tdeleted" in p.stdout
    assert "team-tools" not in p.stdout and "aksaudit-forged" not in p.stdout
    assert _phase(v1, "aksaudit-left") in (None, "Terminating")
    assert _phase(v1, "team-tools") == "Active"
    assert _phase(v1, "aksaudit-forged") == "Active"


async def test_cleanup_deletes_only_what_was_confirmed_of_a_recorded_plan(
    emulator: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A namespace counts when its annotation names the plan of the cluster's applied record
    (another machine's run, no journal here). What the user confirmed is what goes: a namespace
    that appears between the listing and the deleting pass stays."""
    v1 = client.CoreV1Api(config.new_client_from_config(emulator.info.kubeconfig, context=CLUSTER))
    applied = sample_record(
        plan_hash="c" * 64, log_path="ama", workspace_name="law-dev-neu", delivery="one-shot"
    )
    cm = record_configmap_manifest(applied)
    v1.create_namespaced_config_map(cm["metadata"]["namespace"], cm)
    v1.create_namespace(m.namespace_manifest("aksaudit-one", "c" * 64))
    v1.create_namespace(m.namespace_manifest("aksaudit-forged", "f" * 64))
    eng = engine_for(emulator, tmp_path / "state")
    listed = await eng.cleanup(dry_run=True)
    names = {(f.cluster, f.kind, f.name) for f in listed}
    assert (CLUSTER, "Namespace", "aksaudit-one") in names, names
    assert not [f for f in listed if f.name == "aksaudit-forged"]
    # confirmed; then a namespace of that plan appears before the deleting pass
    v1.create_namespace(m.namespace_manifest("aksaudit-two", "c" * 64))
    found = await eng.cleanup(dry_run=False, confirmed=listed)
    assert [(f.kind, f.name, f.deleted) for f in found if f.cluster == CLUSTER] == [
        ("Namespace", "aksaudit-one", True)
    ]
    assert _phase(v1, "aksaudit-one") in (None, "Terminating")
    assert _phase(v1, "aksaudit-two") == "Active"
    assert _phase(v1, "aksaudit-forged") == "Active"


async def test_an_unannotated_namespace_of_ours_gets_the_plan_on_the_next_apply(
    emulator: Any,  # noqa: F811
) -> None:
    """A namespace a run made before runs annotated their plan is not cleanup's to delete (its
    label alone proves nothing); the next apply's ensure_namespace annotates it with its plan,
    without counting that as a change the run made, and never replaces an annotation."""
    v1 = client.CoreV1Api(config.new_client_from_config(emulator.info.kubeconfig, context=CLUSTER))
    old = m.namespace_manifest("aksaudit-old")  # no plan_sha: as made before 0357384
    v1.create_namespace(old)
    kube = KubeClient(
        load_api(emulator.info.kubeconfig, CLUSTER, emulator.info.ca_bundle), context=CLUSTER
    )
    try:
        assert await kube.ensure_namespace("aksaudit-old", plan_sha="c" * 64) is False
        ann = v1.read_namespace("aksaudit-old").metadata.annotations or {}
        assert ann.get(m.ANNOTATION_PLAN_SHA) == "c" * 64
        await kube.ensure_namespace("aksaudit-old", plan_sha="d" * 64)
        ann = v1.read_namespace("aksaudit-old").metadata.annotations or {}
        assert ann.get(m.ANNOTATION_PLAN_SHA) == "c" * 64  # the plan that made it stays
        assert "aksaudit-old" in (await kube.list_leftovers(("c" * 64,))).namespaces
    finally:
        kube.close()

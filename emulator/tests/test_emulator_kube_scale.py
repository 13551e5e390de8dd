"""Scale of the kube side: 200 nodes, one one-shot pod per node followed by a single watch, then
a keeper-like DaemonSet. Prints the figures; the bounds are loose (CI machines vary)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch

from aksaudit_emulator.kube import KubeOptions
from test_emulator_kube import (
    CLUSTER,
    NSENTER,
    TOKEN,
    Harness,
    _node,
    keeper_ds,
    node_pod,
    script_cm,
    wait_for,
)

N = 200


@pytest.fixture
def big(tmp_path: Path) -> Iterator[Harness]:
    sd = tmp_path / "standins"
    sd.mkdir()
    (sd / "nsenter").write_text(NSENTER)
    (sd / "nsenter").chmod(0o755)
    h = Harness(tmp_path, KubeOptions(token=TOKEN, time_scale=0.1, sync_interval=0.2, standins=sd))
    nodes = [_node(tmp_path, "big", i) for i in range(N)]
    h.state.clusters[CLUSTER].nodes = {n.name: n for n in nodes}
    h.nodes = nodes
    h.start()
    yield h
    h.stop()


@pytest.mark.slow
def test_200_nodes_oneshot_and_keeper(big: Harness) -> None:
    api = big.api()
    v1, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    script_cm(v1, script='mkdir -p "$AKSAUDIT_ROOT/etc"; echo "done $HOSTNAME"\n')
    assert len(v1.list_node().items) == N
    rv = v1.list_namespaced_pod("default").metadata.resource_version
    t0 = time.monotonic()

    def create(node: Any) -> None:
        v1.create_namespaced_pod("default", node_pod(f"p-{node.name[-6:]}", node.name))

    with ThreadPoolExecutor(8) as ex:
        list(ex.map(create, big.nodes))
    done: set[str] = set()
    for e in watch.Watch().stream(
        v1.list_namespaced_pod, "default", resource_version=rv, timeout_seconds=120
    ):
        if e["object"].status.phase == "Succeeded":
            done.add(e["object"].metadata.name)
            if len(done) == N:
                break
    oneshot_s = time.monotonic() - t0
    assert len(done) == N
    t0 = time.monotonic()
    for _ in range(20):
        assert v1.list_node(_preload_content=False).data
    list_rate = 20 / (time.monotonic() - t0)
    v1.delete_collection_namespaced_pod("default")
    ds = keeper_ds()
    c = ds["spec"]["template"]["spec"]["containers"][0]
    c["command"] = [
        "/bin/sh",
        "-c",
        'sh "$AKSAUDIT_MOUNT/node.sh"; touch $AKSAUDIT_RUN/aksaudit-ready; '
        "while :; do sleep 300; done",
    ]
    c["readinessProbe"] = {
        "exec": {"command": ["/bin/sh", "-c", "test -f ${AKSAUDIT_RUN:-/tmp}/aksaudit-ready"]},
        "periodSeconds": 5,
    }
    t0 = time.monotonic()
    apps.create_namespaced_daemon_set("default", ds)
    wait_for(
        lambda: apps.read_namespaced_daemon_set("keeper", "default").status.number_ready == N,
        timeout=120,
        what="keeper ready",
    )
    keeper_s = time.monotonic() - t0
    t0 = time.monotonic()
    apps.delete_namespaced_daemon_set("keeper", "default")
    wait_for(lambda: not v1.list_namespaced_pod("default").items, timeout=60, what="cleanup")
    delete_s = time.monotonic() - t0
    print(
        f"\n{N} nodes: one-shot pods all Succeeded in {oneshot_s:.1f}s ({N / oneshot_s:.0f}/s); "
        f"list_node {list_rate:.0f} req/s; keeper Ready everywhere in {keeper_s:.1f}s; "
        f"DaemonSet delete cleaned up in {delete_s:.1f}s"
    )
    assert oneshot_s < 60 and keeper_s < 60 and delete_s < 30

"""Scale of the kube side: 200 nodes, one one-shot pod per node followed by a single watch, then
a keeper-like DaemonSet. Prints the figures.

The bounds are the fixed ones a quiet machine meets with room to spare, widened by how slow the
machine is during this very test: one wave of WAVE pods (as many as the creating threads) is
timed first, and 200 nodes may take twice the N / WAVE waves that pace predicts. The test shares
its cores with other xdist workers; what it proves stays the same: the emulator's work grows
linearly with the nodes (a quadratic step would blow through either bound), at a pace that
holds up on a quiet machine."""

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
WAVE = 8  # creating threads, and the calibration wave's size
ONESHOT_S, KEEPER_S, DELETE_S = 60.0, 60.0, 30.0  # on a quiet machine (figures ~7, 6, 3 s)


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

    def oneshot(prefix: str, nodes: list[Any]) -> float:
        """Seconds until a pod on each of ``nodes`` has Succeeded (created WAVE at a time)."""
        rv = v1.list_namespaced_pod("default").metadata.resource_version
        t0 = time.monotonic()

        def create(node: Any) -> None:
            v1.create_namespaced_pod("default", node_pod(f"{prefix}-{node.name[-6:]}", node.name))

        with ThreadPoolExecutor(WAVE) as ex:
            list(ex.map(create, nodes))
        done: set[str] = set()
        for e in watch.Watch().stream(
            v1.list_namespaced_pod, "default", resource_version=rv, timeout_seconds=300
        ):
            name = e["object"].metadata.name
            if name.startswith(f"{prefix}-") and e["object"].status.phase == "Succeeded":
                done.add(name)
                if len(done) == len(nodes):
                    break
        assert len(done) == len(nodes)
        return time.monotonic() - t0

    wave_s = oneshot("w", big.nodes[:WAVE])  # the machine's pace now
    v1.delete_collection_namespaced_pod("default")
    wait_for(lambda: not v1.list_namespaced_pod("default").items, timeout=120, what="wave gone")
    # the bound for each phase: its quiet-machine figure, or twice N / WAVE waves at this pace
    slack = 2 * (N / WAVE) * wave_s
    oneshot_s = oneshot("p", big.nodes)
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
        timeout=max(KEEPER_S, slack) + 1,  # (the bound below; this only ends the wait)
        what="keeper ready",
    )
    keeper_s = time.monotonic() - t0
    t0 = time.monotonic()
    apps.delete_namespaced_daemon_set("keeper", "default")
    wait_for(
        lambda: not v1.list_namespaced_pod("default").items,
        timeout=max(DELETE_S, slack / 2) + 1,
        what="cleanup",
    )
    delete_s = time.monotonic() - t0
    print(
        f"\n{N} nodes: one-shot pods all Succeeded in {oneshot_s:.1f}s ({N / oneshot_s:.0f}/s); "
        f"list_node {list_rate:.0f} req/s; keeper Ready everywhere in {keeper_s:.1f}s; "
        f"DaemonSet delete cleaned up in {delete_s:.1f}s; a wave of {WAVE} took {wave_s:.2f}s"
    )
    assert oneshot_s < max(ONESHOT_S, slack), (oneshot_s, wave_s)
    assert keeper_s < max(KEEPER_S, slack), (keeper_s, wave_s)
    assert delete_s < max(DELETE_S, slack / 2), (delete_s, wave_s)

"""Kubernetes API semantics the product depends on, as a real API server has them, driven by the
real `kubernetes` client over HTTPS against the emulator: deletion with the garbage collector
(foreground, background, orphan, finalizers), server-set metadata on create, the media types a
JSON-only server accepts (protobuf: 415), discovery short names.

(`test_emulator_kubectl.py` checks the same with a `kubectl` binary where one is installed.)
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from aksaudit_emulator.kube import KubeOptions
from aksaudit_emulator.kube.store import WatchEvent
from test_emulator_kube import (
    CLUSTER,
    TOKEN,
    Harness,
    keeper_ds,
    script_cm,
    wait_for,
)


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[Harness]:
    standins = tmp_path / "standins"
    standins.mkdir()
    h = Harness(
        tmp_path,
        KubeOptions(token=TOKEN, time_scale=0.05, sync_interval=0.05, standins=standins),
    )
    h.start()
    yield h
    h.stop()


def slow_keeper_ds() -> dict[str, Any]:
    """The keeper, ignoring SIGTERM: each pod takes its (scaled) grace period to go, so an
    owner waiting for them is observably still there."""
    ds = keeper_ds()
    ctr = ds["spec"]["template"]["spec"]["containers"][0]
    ctr["command"][2] = "trap '' TERM; " + ctr["command"][2]
    return ds


def _ready_keeper(kube: Harness) -> tuple[client.CoreV1Api, client.AppsV1Api, list[Any]]:
    v1 = client.CoreV1Api(kube.api())
    apps = client.AppsV1Api(kube.api())
    script_cm(v1)
    apps.create_namespaced_daemon_set("default", slow_keeper_ds())
    wait_for(
        lambda: apps.read_namespaced_daemon_set("keeper", "default").status.number_ready == 3,
        what="3 ready keeper pods",
        timeout=60,
    )
    return v1, apps, v1.list_namespaced_pod("default").items


def _events(kube: Harness, resource: str) -> list[WatchEvent]:
    return list(kube.run(lambda: list(kube.store().history.get(resource, ()))))


def _deleted_rv(events: list[WatchEvent], uid: str) -> int:
    return next(e.rv for e in events if e.type == "DELETED" and e.obj["metadata"]["uid"] == uid)


def _raw(
    kube: Harness, method: str, path: str, body: bytes, ctype: str, accept: str = ""
) -> tuple[int, dict[str, Any]]:
    """One request as a client other than the Python one would send it."""
    ctx = ssl.create_default_context(cafile=str(kube.ca_path))
    req = urllib.request.Request(
        f"https://127.0.0.1:{kube.port}/k8s/{CLUSTER}{path}",
        data=body,
        method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": ctype}
        | ({"Accept": accept} if accept else {}),
    )
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


# ------------------------------------------------------------------ deletion and the GC


def test_foreground_deletion_keeps_the_owner_until_its_pods_are_gone(kube: Harness) -> None:
    v1, apps, pods = _ready_keeper(kube)
    ds = apps.read_namespaced_daemon_set("keeper", "default")
    status, body = _raw(
        kube,
        "DELETE",
        "/apis/apps/v1/namespaces/default/daemonsets/keeper",
        json.dumps({"propagationPolicy": "Foreground"}).encode(),
        "application/json",
    )
    assert status == 202, body  # accepted: the dependents go first
    assert body["metadata"]["deletionTimestamp"]
    assert body["metadata"]["finalizers"] == ["foregroundDeletion"]
    # Still there, being deleted: a create of the same name is refused meanwhile.
    held = apps.read_namespaced_daemon_set("keeper", "default")
    assert held.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_daemon_set("default", keeper_ds())
    assert err.value.status == 409
    assert json.loads(err.value.body)["reason"] == "AlreadyExists"

    def gone() -> bool:
        try:
            apps.read_namespaced_daemon_set("keeper", "default")
        except ApiException as e:
            return e.status == 404
        return False

    wait_for(gone, what="the DaemonSet gone after its pods")
    assert v1.list_namespaced_pod("default").items == []
    ds_gone = _deleted_rv(_events(kube, "daemonsets"), ds.metadata.uid)
    pod_events = _events(kube, "pods")
    for p in pods:
        assert _deleted_rv(pod_events, p.metadata.uid) < ds_gone
    # No new pod was started for the DaemonSet while it was being deleted.
    created = {e.obj["metadata"]["uid"] for e in pod_events if e.type == "ADDED"}
    assert created == {p.metadata.uid for p in pods}
    # Now the name is free again.
    apps.create_namespaced_daemon_set("default", keeper_ds())


def test_background_deletion_removes_the_owner_first(kube: Harness) -> None:
    v1, apps, pods = _ready_keeper(kube)
    ds = apps.read_namespaced_daemon_set("keeper", "default")
    apps.delete_namespaced_daemon_set("keeper", "default")  # Background: the default
    with pytest.raises(ApiException) as err:
        apps.read_namespaced_daemon_set("keeper", "default")
    assert err.value.status == 404
    wait_for(lambda: not v1.list_namespaced_pod("default").items, what="pods collected")
    ds_gone = _deleted_rv(_events(kube, "daemonsets"), ds.metadata.uid)
    pod_events = _events(kube, "pods")
    for p in pods:
        assert _deleted_rv(pod_events, p.metadata.uid) > ds_gone


def test_orphan_deletion_leaves_the_pods_running_without_owner(kube: Harness) -> None:
    v1, apps, pods = _ready_keeper(kube)
    apps.delete_namespaced_daemon_set("keeper", "default", propagation_policy="Orphan")

    def gone() -> bool:
        try:
            apps.read_namespaced_daemon_set("keeper", "default")
        except ApiException as e:
            return e.status == 404
        return False

    wait_for(gone, what="the DaemonSet gone")
    kube.run(lambda: None)  # one more loop turn: the GC pass that follows has run
    left = v1.list_namespaced_pod("default").items
    assert {p.metadata.uid for p in left} == {p.metadata.uid for p in pods}
    for p in left:
        assert not p.metadata.owner_references
        assert p.metadata.deletion_timestamp is None
        assert p.status.phase == "Running"


def test_a_finalizer_holds_the_object_until_a_client_removes_it(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    v1.create_namespaced_config_map(
        "default",
        {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}, "data": {"a": "1"}},
    )
    v1.delete_namespaced_config_map("held", "default")
    held = v1.read_namespaced_config_map("held", "default")
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.finalizers == ["example.com/hold"]
    with pytest.raises(ApiException) as err:  # no new finalizer on an object being deleted
        v1.patch_namespaced_config_map(
            "held", "default", {"metadata": {"finalizers": ["example.com/hold", "x.io/more"]}}
        )
    assert err.value.status == 422
    v1.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as err:
        v1.read_namespaced_config_map("held", "default")
    assert err.value.status == 404


def test_unknown_propagation_policy_is_invalid(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    script_cm(v1)
    with pytest.raises(ApiException) as err:
        v1.delete_namespaced_config_map("aksaudit-script", "default", propagation_policy="Now")
    assert err.value.status == 422
    assert "supported values" in json.loads(err.value.body)["message"]


# ------------------------------------------------------------------ server-set metadata


def test_the_server_sets_uid_timestamps_version_and_generation(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    apps = client.AppsV1Api(kube.api())
    # What kubectl sends (creationTimestamp: null), and what a copy of a live object carries.
    sent = {
        "metadata": {
            "name": "copied",
            "uid": "11111111-2222-3333-4444-555555555555",
            "creationTimestamp": None,
            "generation": 7,
            "deletionTimestamp": "2020-01-01T00:00:00Z",
            "managedFields": [{"manager": "someone", "operation": "Update"}],
        },
        "data": {"k": "v"},
    }
    cm = json.loads(v1.create_namespaced_config_map("default", sent, _preload_content=False).data)
    meta = cm["metadata"]
    assert meta["uid"] != sent["metadata"]["uid"] and len(meta["uid"]) == 36
    assert meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0
    assert "generation" not in meta and "deletionTimestamp" not in meta
    assert "managedFields" not in meta or meta["managedFields"][0]["manager"] != "someone"
    ds = keeper_ds()
    ds["metadata"].update({"generation": 5, "uid": "x", "creationTimestamp": None})
    got = apps.create_namespaced_daemon_set("default", ds)
    assert got.metadata.generation == 1 and got.metadata.uid != "x"
    assert got.metadata.creation_timestamp is not None
    # A create that names a resourceVersion is refused, as by the API server's storage.
    with pytest.raises(ApiException) as err:
        v1.create_namespaced_config_map(
            "default", {"metadata": {"name": "stale", "resourceVersion": "42"}, "data": {}}
        )
    assert err.value.status == 500
    assert "resourceVersion should not be set on objects to be created" in err.value.body
    # An update cannot move them either.
    again = v1.replace_namespaced_config_map(
        "copied",
        "default",
        {"metadata": {"name": "copied", "uid": "y", "creationTimestamp": "2001-01-01T00:00:00Z"}},
    )
    assert again.metadata.uid == meta["uid"]
    assert again.metadata.creation_timestamp.strftime("%Y") != "2001"


# ------------------------------------------------------------------ media types, discovery


def test_protobuf_body_gets_415_and_json_still_works(kube: Harness) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    protobuf = b"k8s\x00\n\x0f\n\x02v1\x12\tConfigMap"  # the envelope's magic and type meta
    status, body = _raw(kube, "POST", path, protobuf, "application/vnd.kubernetes.protobuf")
    assert status == 415
    assert body["reason"] == "UnsupportedMediaType"
    assert "application/json" in body["message"]
    status, body = _raw(
        kube,
        "POST",
        path,
        json.dumps({"metadata": {"name": "fallback"}, "data": {"a": "b"}}).encode(),
        "application/json",
        accept="application/vnd.kubernetes.protobuf, application/json",
    )
    assert status == 201 and body["metadata"]["name"] == "fallback"
    status, body = _raw(
        kube,
        "POST",
        path,
        b"metadata:\n  name: from-yaml\ndata:\n  a: b\n",
        "application/yaml",
    )
    assert status == 201 and body["data"] == {"a": "b"}
    # A patch must say which kind of patch it is.
    status, body = _raw(
        kube, "PATCH", f"{path}/fallback", b'{"data": {"a": "c"}}', "application/json"
    )
    assert status == 415 and "application/merge-patch+json" in body["message"]


def test_discovery_lists_short_names(kube: Harness) -> None:
    core = {r.name: r for r in client.CoreV1Api(kube.api()).get_api_resources().resources}
    assert core["namespaces"].short_names == ["ns"]
    assert core["pods"].short_names == ["po"]
    assert core["configmaps"].short_names == ["cm"]
    assert core["nodes"].short_names == ["no"]
    assert "all" in core["pods"].categories
    apps = {r.name: r for r in client.AppsV1Api(kube.api()).get_api_resources().resources}
    assert apps["daemonsets"].short_names == ["ds"]


# ------------------------------------------------------------------ restarts and logs

COUNTING = (
    # A container that counts its runs in its (persistent) working directory; run 3 stays up.
    'n=$(cat count 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > count; echo "run $n"; '
    'if [ "$n" -ge 3 ]; then exec sleep 600; fi; exit 1'
)


def _plain_pod(name: str, node: str, command: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "restartPolicy": "Always",
            "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", command]}],
        },
    }


def _log(v1: client.CoreV1Api, name: str, **kw: Any) -> str:
    resp = v1.read_namespaced_pod_log(name, "default", _preload_content=False, **kw)
    return str(resp.data.decode())


def _started(v1: client.CoreV1Api, name: str) -> bool:
    cs = v1.read_namespaced_pod(name, "default").status.container_statuses
    return bool(cs and cs[0].state.running)


def test_logs_are_per_container_instance_and_previous_needs_a_restart(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    node = kube.nodes[1].name
    v1.create_namespaced_pod("default", _plain_pod("steady", node, "echo hello; exec sleep 600"))
    wait_for(lambda: _started(v1, "steady") and _log(v1, "steady") == "hello\n", what="log")
    with pytest.raises(ApiException) as err:
        v1.read_namespaced_pod_log("steady", "default", previous=True)
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"] == (
        'previous terminated container "c" in pod "steady" not found'
    )

    v1.create_namespaced_pod("default", _plain_pod("counting", node, COUNTING))

    def third_run() -> Any:
        cs = v1.read_namespaced_pod("counting", "default").status.container_statuses
        return cs and cs[0].restart_count == 2 and cs[0].state.running and cs[0]

    cs = wait_for(third_run, what="the third run up", timeout=60)
    # the current instance only (once its first line is out), not every run concatenated
    wait_for(lambda: _log(v1, "counting") == "run 3\n", what="run 3's log", timeout=60)
    assert _log(v1, "counting", previous=True) == "run 2\n"  # the one before the last restart
    assert _log(v1, "counting", previous=True, tail_lines=1, timestamps=True).endswith(" run 2\n")
    # Each instance is its own container.
    assert cs.container_id != cs.last_state.terminated.container_id
    assert cs.last_state.terminated.exit_code == 1


def test_a_container_in_back_off_still_serves_its_failed_run_as_current(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    crash = 'echo "failed at $(date +%s%N)"; exit 3'
    v1.create_namespaced_pod("default", _plain_pod("crashing", kube.nodes[1].name, crash))

    def backing_off() -> Any:
        cs = v1.read_namespaced_pod("crashing", "default").status.container_statuses
        waiting = cs and cs[0].state.waiting
        return waiting and waiting.reason == "CrashLoopBackOff" and cs[0]

    for _ in range(20):  # read while the kubelet holds it in back-off (it may restart between)
        before = wait_for(backing_off, what="CrashLoopBackOff", timeout=60)
        current = _log(v1, "crashing")
        after = v1.read_namespaced_pod("crashing", "default").status.container_statuses[0]
        if after.restart_count == before.restart_count and after.state.waiting:
            break
    else:
        pytest.fail("never read the log during one back-off")
    assert current.startswith("failed at ") and current.count("\n") == 1
    if before.restart_count >= 2:
        previous = _log(v1, "crashing", previous=True)
        assert previous.startswith("failed at ") and previous != current

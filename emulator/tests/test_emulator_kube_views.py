"""What the emulator's API server records and prints for clients, driven by the real
`kubernetes` client (and raw HTTPS where that client has no call): Events (core/v1 and
events.k8s.io/v1) for scheduling, start, failure and deletion; server-side Table printing
(`Accept: ...;as=Table`); streaming lists (`sendInitialEvents`, what kubectl >= 1.35 watches
with).

`test_emulator_kubectl.py` checks the same through a real `kubectl`.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client, watch

from aksaudit_emulator.kube import KubeOptions, KubeStore, events
from aksaudit_emulator.kube.controller import finish_namespaces
from aksaudit_emulator.kube.objects import prepare_namespace
from test_emulator_kube import CLUSTER, TOKEN, Harness, wait_for
from test_emulator_kube_semantics import _raw

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
MISSING = "busybox@sha256:" + "0" * 64  # a digest the registry does not serve


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    tmp = tmp_path_factory.mktemp("views")
    standins = tmp / "standins"
    standins.mkdir()
    h = Harness(
        tmp, KubeOptions(token=TOKEN, time_scale=0.05, sync_interval=0.05, standins=standins)
    )
    h.start()
    yield h
    h.stop()


def _pod(name: str, command: str, image: str = "busybox", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "containers": [{"name": "c", "image": image, "command": ["sh", "-c", command]}],
            # a Linux node with a root (the harness also has a Windows node without a taint)
            "nodeSelector": {"kubernetes.io/os": "linux"},
            **spec,
        },
    }


def _events_of(v1: client.CoreV1Api, name: str, ns: str = "default") -> list[Any]:
    sel = f"involvedObject.name={name},involvedObject.namespace={ns}"
    return list(v1.list_namespaced_event(ns, field_selector=sel).items)


def _reasons(v1: client.CoreV1Api, name: str) -> set[str]:
    return {e.reason for e in _events_of(v1, name)}


# ------------------------------------------------------------------ events


def test_a_crashing_pod_records_scheduled_pulled_started_and_back_off(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    v1.create_namespaced_pod("default", _pod("crashy", "echo boom; exit 3"))
    wait_for(
        lambda: (
            {"Scheduled", "Pulled", "Created", "Started", "BackOff"} <= _reasons(v1, "crashy")
            and any(e.reason == "BackOff" and e.count >= 2 for e in _events_of(v1, "crashy"))
        ),
        what="the crash loop's events",
        timeout=60,
    )
    pod = v1.read_namespaced_pod("crashy", "default")
    by_reason = {e.reason: e for e in _events_of(v1, "crashy")}
    sched = by_reason["Scheduled"]
    assert sched.source.component == "default-scheduler"
    assert sched.message == f"Successfully assigned default/crashy to {pod.spec.node_name}"
    assert sched.involved_object.uid == pod.metadata.uid
    assert sched.involved_object.kind == "Pod"
    started = by_reason["Started"]
    assert (started.source.component, started.source.host) == ("kubelet", pod.spec.node_name)
    assert started.involved_object.field_path == "spec.containers{c}"
    assert started.message == "Started container c"
    back_off = by_reason["BackOff"]
    assert back_off.type == "Warning"
    assert back_off.message.startswith("Back-off restarting failed container c in pod crashy_")
    # each restart looks at the image again
    assert by_reason["Pulled"].message == 'Container image "busybox" already present on machine'
    assert by_reason["Pulled"].count >= 2
    # repeats are one Event counted up, as the event correlator aggregates them
    assert len([e for e in _events_of(v1, "crashy") if e.reason == "BackOff"]) == 1
    assert back_off.count >= 2 and back_off.last_timestamp >= back_off.first_timestamp
    v1.delete_namespaced_pod("crashy", "default", grace_period_seconds=0)


def test_an_image_that_cannot_be_pulled_records_failed_and_back_off(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    v1.create_namespaced_pod("default", _pod("nopull", "sleep 60", image=MISSING))
    wait_for(
        lambda: any(e.message == "Error: ImagePullBackOff" for e in _events_of(v1, "nopull")),
        what="ImagePullBackOff event",
        timeout=30,
    )
    msgs = [(e.type, e.reason, e.message) for e in _events_of(v1, "nopull")]
    assert ("Normal", "Pulling", f'Pulling image "{MISSING}"') in msgs
    assert ("Warning", "Failed", "Error: ErrImagePull") in msgs
    assert ("Normal", "BackOff", f'Back-off pulling image "{MISSING}"') in msgs
    assert any(
        r == "Failed" and m.startswith(f'Failed to pull image "{MISSING}": ') for _, r, m in msgs
    )
    assert "Started" not in {r for _, r, _ in msgs}
    v1.delete_namespaced_pod("nopull", "default", grace_period_seconds=0)


def test_deleting_a_running_pod_records_killing(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    v1.create_namespaced_pod("default", _pod("victim", "exec sleep 600"))
    wait_for(lambda: "Started" in _reasons(v1, "victim"), what="started", timeout=30)
    v1.delete_namespaced_pod("victim", "default")
    wait_for(lambda: "Killing" in _reasons(v1, "victim"), what="Killing event")
    killing = next(e for e in _events_of(v1, "victim") if e.reason == "Killing")
    assert killing.message == "Stopping container c"
    # the Event outlives the pod (until the TTL), as on a real cluster
    wait_for(
        lambda: not v1.list_namespaced_pod("default", field_selector="metadata.name=victim").items
    )
    assert "Killing" in _reasons(v1, "victim")


def test_the_daemonset_controller_records_its_pod_creations(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    apps = client.AppsV1Api(kube.api())
    ds = {
        "metadata": {"name": "evds"},
        "spec": {
            "selector": {"matchLabels": {"app": "evds"}},
            "template": {
                "metadata": {"labels": {"app": "evds"}},
                "spec": {
                    "containers": [
                        {"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 600"]}
                    ]
                },
            },
        },
    }
    apps.create_namespaced_daemon_set("default", ds)
    wait_for(
        lambda: any(e.reason == "SuccessfulCreate" for e in _events_of(v1, "evds")),
        what="SuccessfulCreate",
    )
    created = [e for e in _events_of(v1, "evds") if e.reason == "SuccessfulCreate"]
    pods = {
        p.metadata.name for p in v1.list_namespaced_pod("default", label_selector="app=evds").items
    }
    # every pod it runs was announced (failed ones, replaced, were announced too)
    wait_for(
        lambda: (
            pods
            <= {
                e.message.removeprefix("Created pod: ")
                for e in _events_of(v1, "evds")
                if e.reason == "SuccessfulCreate"
            }
        ),
        what="an event per pod",
    )
    assert created[0].involved_object.kind == "DaemonSet"
    assert created[0].source.component == "daemonset-controller"
    apps.delete_namespaced_daemon_set("evds", "default", propagation_policy="Background")


def test_events_k8s_io_lists_and_watches_the_same_events(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    ev1 = client.EventsV1Api(kube.api())
    w = watch.Watch()
    seen: list[Any] = []
    v1.create_namespaced_pod("default", _pod("watched", "exec sleep 600"))
    for item in w.stream(
        ev1.list_namespaced_event,
        "default",
        field_selector="regarding.name=watched",
        timeout_seconds=20,
    ):
        seen.append(item["object"])
        if any(o.reason == "Started" for o in seen):
            w.stop()
    assert {"Scheduled", "Started"} <= {o.reason for o in seen}
    listed = {e.metadata.name: e for e in ev1.list_namespaced_event("default").items}
    core = {e.metadata.name: e for e in _events_of(v1, "watched")}
    assert set(core) <= set(listed)
    one = next(iter(core.values()))
    as_v1 = listed[one.metadata.name]
    assert as_v1.note == one.message and as_v1.regarding.uid == one.involved_object.uid
    assert as_v1.reporting_controller == one.source.component
    assert as_v1.deprecated_count == one.count
    v1.delete_namespaced_pod("watched", "default", grace_period_seconds=0)


def test_a_client_may_create_an_event_about_its_object(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    body = {
        "metadata": {"generateName": "mine."},
        "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": "default"},
        "reason": "Checked",
        "message": "hello",
        "type": "Normal",
    }
    made = v1.create_namespaced_event("default", body)
    assert made.metadata.name.startswith("mine.") and made.count == 1
    bad = dict(body, involvedObject={"kind": "ConfigMap", "name": "x", "namespace": "other"})
    with pytest.raises(client.ApiException) as err:
        v1.create_namespaced_event("default", bad)
    assert err.value.status == 422
    v1.delete_namespaced_event(made.metadata.name, "default")
    assert not [e for e in v1.list_namespaced_event("default").items if e.reason == "Checked"]


# ------------------------------------------------------------------ tables


def test_a_list_asked_as_table_has_the_printers_columns(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    v1.create_namespaced_pod("default", _pod("tabled", "exec sleep 600"))
    wait_for(lambda: v1.read_namespaced_pod("tabled", "default").status.phase == "Running")
    status, body = _raw(kube, "GET", "/api/v1/namespaces/default/pods", b"", "", accept=TABLE)
    assert status == 200 and body["kind"] == "Table" and body["apiVersion"] == "meta.k8s.io/v1"
    cols = [(c["name"], c["priority"]) for c in body["columnDefinitions"]]
    assert cols[:5] == [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0)]
    assert ("Node", 1) in cols
    row = next(r for r in body["rows"] if r["cells"][0] == "tabled")
    assert row["cells"][1:4] == ["1/1", "Running", "0"]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["name"] == "tabled"
    assert body["metadata"]["resourceVersion"]

    status, one = _raw(
        kube,
        "GET",
        "/api/v1/namespaces/default/pods/tabled?includeObject=Object",
        b"",
        "",
        accept=TABLE,
    )
    assert status == 200 and len(one["rows"]) == 1
    assert one["rows"][0]["object"]["spec"]["containers"][0]["name"] == "c"
    status, bad = _raw(
        kube, "GET", "/api/v1/namespaces/default/pods?includeObject=All", b"", "", accept=TABLE
    )
    assert status == 400 and "includeObject" in bad["message"]
    # a client that prefers plain JSON gets the list
    status, plain = _raw(
        kube, "GET", "/api/v1/namespaces/default/pods", b"", "", accept="application/json"
    )
    assert plain["kind"] == "PodList"
    v1.delete_namespaced_pod("tabled", "default", grace_period_seconds=0)


def test_tables_of_namespaces_configmaps_daemonsets_nodes_and_events(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    v1.create_namespaced_config_map(
        "default", {"metadata": {"name": "tcm"}, "data": {"a": "1", "b": "2"}}
    )

    def table(path: str) -> dict[str, Any]:
        status, body = _raw(kube, "GET", path, b"", "", accept=TABLE)
        assert status == 200, body
        return body

    ns = table("/api/v1/namespaces")
    assert [c["name"] for c in ns["columnDefinitions"]] == ["Name", "Status", "Age"]
    assert next(r for r in ns["rows"] if r["cells"][0] == "default")["cells"][:2] == [
        "default",
        "Active",
    ]
    cm = table("/api/v1/namespaces/default/configmaps")
    assert next(r for r in cm["rows"] if r["cells"][0] == "tcm")["cells"][1] == 2
    ds = table("/apis/apps/v1/daemonsets")
    assert [c["name"] for c in ds["columnDefinitions"] if c["priority"] == 0] == [
        "Name",
        "Desired",
        "Current",
        "Ready",
        "Up-to-date",
        "Available",
        "Node Selector",
        "Age",
    ]
    nodes = table("/api/v1/nodes")
    user = next(r for r in nodes["rows"] if r["cells"][0] == kube.nodes[1].name)
    assert user["cells"][1] == "Ready" and user["cells"][4].startswith("v1.")
    ev = table("/api/v1/namespaces/default/events")
    assert [c["name"] for c in ev["columnDefinitions"] if c["priority"] == 0] == [
        "Last Seen",
        "Type",
        "Reason",
        "Object",
        "Message",
    ]
    v1.delete_namespaced_config_map("tcm", "default")


# ------------------------------------------------------------------ streaming lists


def _stream(kube: Harness, path: str) -> list[dict[str, Any]]:
    ctx = ssl.create_default_context(cafile=str(kube.ca_path))
    req = urllib.request.Request(
        f"https://127.0.0.1:{kube.port}/k8s/{CLUSTER}{path}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        return [json.loads(line) for line in resp.read().splitlines() if line.strip()]


def test_send_initial_events_streams_the_state_then_an_initial_events_end_bookmark(
    kube: Harness,
) -> None:
    q = "watch=true&timeoutSeconds=1&allowWatchBookmarks=true&sendInitialEvents=true"
    lines = _stream(kube, f"/api/v1/namespaces?{q}&resourceVersionMatch=NotOlderThan")
    names = [e["object"]["metadata"]["name"] for e in lines if e["type"] == "ADDED"]
    assert {"default", "kube-system"} <= set(names)
    marks = [e for e in lines if e["type"] == "BOOKMARK"]
    first = marks[0]["object"]["metadata"]
    assert first["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert lines.index(marks[0]) == len(names)  # after every initial object
    status, body = _raw(kube, "GET", f"/api/v1/namespaces?{q}", b"", "")
    assert status == 422 and "resourceVersionMatch" in body["message"]


def test_a_namespace_with_events_still_finishes_terminating(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    v1.create_namespace({"metadata": {"name": "eventful"}})
    v1.create_namespaced_pod("eventful", _pod("p", "exec sleep 600"))
    wait_for(
        lambda: "Started" in {e.reason for e in v1.list_namespaced_event("eventful").items},
        what="events in the namespace",
        timeout=30,
    )
    v1.delete_namespace("eventful")
    wait_for(
        lambda: "eventful" not in {n.metadata.name for n in v1.list_namespace().items},
        what="the namespace gone",
        timeout=30,
    )
    assert v1.list_namespaced_event("eventful").items == []


def test_one_controller_pass_ends_a_terminating_namespace_holding_only_events() -> None:
    """Events never hold a namespace up: removing them is no reason for another pass (the
    controller resyncs on other writes only), so the same pass must finish the namespace."""
    store = KubeStore("c")
    ns = store.create("namespaces", prepare_namespace({"metadata": {"name": "gone"}}))
    pod = {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": "p", "namespace": "gone", "uid": "u"},
    }
    assert events.record(store, pod, "Normal", "Started", "Started container c", ("kubelet", "n"))
    terminating = {**ns, "status": {"phase": "Terminating"}}
    store.update("namespaces", terminating)
    # no event may be recorded into a terminating namespace
    assert (
        events.record(store, pod, "Normal", "Killing", "Stopping container c", ("kubelet", "n"))
        is None
    )
    finish_namespaces(None, store)
    assert store.get("namespaces", "", "gone") is None
    assert store.list("events", "gone") == []


def test_a_watch_asked_as_table_sends_one_row_tables(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    v1.create_namespaced_config_map("default", {"metadata": {"name": "wt"}, "data": {"a": "1"}})
    ctx = ssl.create_default_context(cafile=str(kube.ca_path))
    req = urllib.request.Request(
        f"https://127.0.0.1:{kube.port}/k8s/{CLUSTER}/api/v1/namespaces/default/configmaps"
        "?watch=true&timeoutSeconds=10&fieldSelector=metadata.name%3Dwt",
        headers={"Authorization": f"Bearer {TOKEN}", "Accept": TABLE},
    )
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        first = json.loads(resp.readline())
        v1.patch_namespaced_config_map("wt", "default", {"data": {"b": "2"}})
        second = json.loads(resp.readline())
    assert first["type"] == "ADDED" and first["object"]["kind"] == "Table"
    assert [c["name"] for c in first["object"]["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert first["object"]["rows"][0]["cells"][:2] == ["wt", 1]
    assert second["type"] == "MODIFIED" and second["object"]["columnDefinitions"] == []
    assert second["object"]["rows"][0]["cells"][:2] == ["wt", 2]
    assert second["object"]["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    v1.delete_namespaced_config_map("wt", "default")


def test_missing_configmap_failing_probe_and_deadline_are_recorded(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    nocm = _pod("nocm", "sleep 60")
    nocm["spec"]["volumes"] = [{"name": "script", "configMap": {"name": "absent"}}]
    nocm["spec"]["containers"][0]["volumeMounts"] = [{"name": "script", "mountPath": "/x"}]
    v1.create_namespaced_pod("default", nocm)
    unready = _pod("unready", "exec sleep 600")
    unready["spec"]["containers"][0]["readinessProbe"] = {
        "exec": {"command": ["false"]},
        "periodSeconds": 1,
    }
    v1.create_namespaced_pod("default", unready)
    v1.create_namespaced_pod("default", _pod("late", "exec sleep 600", activeDeadlineSeconds=2))
    wait_for(lambda: "FailedMount" in _reasons(v1, "nocm"), what="FailedMount", timeout=30)
    mount = next(e for e in _events_of(v1, "nocm") if e.reason == "FailedMount")
    assert mount.type == "Warning" and mount.message == (
        'MountVolume.SetUp failed for volume "script" : configmap "absent" not found'
    )
    assert mount.count == 1  # once per cause, not once per retry
    wait_for(
        lambda: any(e.reason == "Unhealthy" and e.count >= 2 for e in _events_of(v1, "unready")),
        what="Unhealthy, counted",
        timeout=30,
    )
    unhealthy = next(e for e in _events_of(v1, "unready") if e.reason == "Unhealthy")
    assert unhealthy.message.startswith("Readiness probe failed:")
    assert unhealthy.involved_object.field_path == "spec.containers{c}"
    wait_for(lambda: "DeadlineExceeded" in _reasons(v1, "late"), what="deadline", timeout=30)
    for name in ("nocm", "unready", "late"):
        v1.delete_namespaced_pod(name, "default", grace_period_seconds=0)


def test_events_k8s_io_creates_and_patches_events_as_that_group_checks_them(
    kube: Harness,
) -> None:
    """events.k8s.io/v1 is writable like core/v1 (client-go's new recorder creates there and
    counts repeats with a patch of ``series``), with that group's validation."""
    v1 = client.CoreV1Api(kube.api())
    ev1 = client.EventsV1Api(kube.api())
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body: dict[str, Any] = {
        "metadata": {"generateName": "probe."},
        "eventTime": stamp,
        "reportingController": "aksaudit.io/verify",
        "reportingInstance": "host-1",
        "action": "Check",
        "reason": "HeartbeatSeen",
        "note": "audit heartbeat arrived",
        "type": "Normal",
        "regarding": {"kind": "ConfigMap", "name": "x", "namespace": "default"},
    }
    made = ev1.create_namespaced_event("default", body)
    name = made.metadata.name
    assert name.startswith("probe.") and made.note == "audit heartbeat arrived"
    core = v1.read_namespaced_event(name, "default")  # one Event, both groups
    assert (core.message, core.reporting_component, core.involved_object.name) == (
        "audit heartbeat arrived",
        "aksaudit.io/verify",
        "x",
    )
    # a repeat: the series is the one thing an update may change
    series = {"count": 2, "lastObservedTime": stamp}
    assert ev1.patch_namespaced_event(name, "default", {"series": series}).series.count == 2
    assert v1.read_namespaced_event(name, "default").series.count == 2
    with pytest.raises(client.ApiException) as err:
        ev1.patch_namespaced_event(name, "default", {"note": "rewritten"})
    assert err.value.status == 422 and "message: Invalid value: field is immutable" in str(
        err.value.body
    )
    with pytest.raises(client.ApiException) as err:
        ev1.patch_namespaced_event(name, "default", {"series": {"count": 1}})
    assert err.value.status == 422 and "series.count" in str(err.value.body)
    # what that group requires on create (core/v1 would take it); sent raw: the Python
    # client refuses such a body itself
    path = "/apis/events.k8s.io/v1/namespaces/default/events"
    lacking = {k: v for k, v in body.items() if k not in ("eventTime", "reportingController")}
    status, answer = _raw(kube, "POST", path, json.dumps(dict(lacking, type="Info")).encode(),
                          "application/json")  # fmt: skip
    fields = {c["field"]: c["message"] for c in answer["details"]["causes"]}
    assert status == 422 and fields["eventTime"] == "Required value", answer
    assert fields["reportingController"] == "Required value"
    assert fields["type"].startswith("Invalid value")
    status, answer = _raw(kube, "POST", path, json.dumps(dict(body, deprecatedCount=3)).encode(),
                          "application/json")  # fmt: skip
    assert status == 422 and "needs to be unset" in answer["message"], answer
    ev1.delete_namespaced_event(name, "default")
    assert not [e for e in v1.list_namespaced_event("default").items if e.metadata.name == name]

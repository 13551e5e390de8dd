"""The emulator's API server publishes OpenAPI for the kinds it serves and holds requests to
those schemas as a real one does: field validation (fieldValidation Strict / Warn / Ignore),
unknown fields never stored, strategic merge patches merging lists by their keys. Driven by the
real `kubernetes` client and raw HTTPS (for what that client cannot send or show).
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from aksaudit_emulator.kube import KubeOptions
from test_emulator_kube import CLUSTER, TOKEN, Harness

POD = "io.k8s.api.core.v1.Pod"


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    tmp = tmp_path_factory.mktemp("openapi")
    standins = tmp / "standins"
    standins.mkdir()
    h = Harness(
        tmp, KubeOptions(token=TOKEN, time_scale=0.05, sync_interval=0.05, standins=standins)
    )
    h.start()
    yield h
    h.stop()


def _req(
    kube: Harness,
    method: str,
    path: str,
    body: Any = None,
    ctype: str = "application/json",
    accept: str = "application/json",
) -> tuple[int, Any, Any]:
    """(status, decoded body, headers) of one request."""
    ctx = ssl.create_default_context(cafile=str(kube.ca_path))
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    req = urllib.request.Request(
        f"https://127.0.0.1:{kube.port}/k8s/{CLUSTER}{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": ctype, "Accept": accept},
    )
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=15) as resp:
            return resp.status, json.loads(resp.read() or b"null"), resp.headers
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null"), err.headers


def test_openapi_v3_index_and_group_documents(kube: Harness) -> None:
    status, index, _ = _req(kube, "GET", "/openapi/v3")
    assert status == 200
    paths = index["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/events.k8s.io/v1"} <= set(paths)
    url = paths["api/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/api/v1?hash=") and len(url.split("=")[1]) == 128
    status, doc, headers = _req(kube, "GET", url)
    assert status == 200 and doc["openapi"].startswith("3.")
    assert headers["Cache-Control"] == "public, immutable"
    pod = doc["components"]["schemas"][POD]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    spec = doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]
    assert "containers" in spec["required"]
    containers = spec["properties"]["containers"]
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    assert containers["items"]["$ref"] == "#/components/schemas/io.k8s.api.core.v1.Container"
    assert "description" in spec["properties"]["nodeName"]
    patch = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Pod"
    assert {"fieldValidation", "fieldManager", "force", "dryRun"} <= {
        p["name"] for p in patch["parameters"]
    }
    # every reference resolves inside the document
    text = json.dumps(doc)
    refs = {r.split('"')[0] for r in text.split('"$ref": "#/components/schemas/')[1:]}
    assert refs <= set(doc["components"]["schemas"])
    status, apps, _ = _req(kube, "GET", "/openapi/v3/apis/apps/v1")
    ds = apps["components"]["schemas"]["io.k8s.api.apps.v1.DaemonSet"]
    assert ds["x-kubernetes-group-version-kind"][0]["group"] == "apps"
    assert "io.k8s.api.core.v1.PodTemplateSpec" in apps["components"]["schemas"]
    assert _req(kube, "GET", "/openapi/v3/apis/nothing/v1")[0] == 404


def test_openapi_v2_is_json_only(kube: Harness) -> None:
    status, doc, _ = _req(kube, "GET", "/openapi/v2")
    assert status == 200 and doc["swagger"] == "2.0"
    assert "io.k8s.api.apps.v1.DaemonSet" in doc["definitions"]
    assert '"#/components/' not in json.dumps(doc)
    status, body, _ = _req(
        kube,
        "GET",
        "/openapi/v2",
        accept="application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
    )
    assert status == 406 and body["reason"] == "NotAcceptable"


def _cm(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"a": "1"},
        **extra,
    }


def test_strict_field_validation_refuses_unknown_fields(kube: Harness) -> None:
    path = "/api/v1/namespaces/default/configmaps?fieldValidation=Strict"
    status, body, _ = _req(
        kube, "POST", path, _cm("strict", bogus=1, metadata={"name": "strict", "lables": {}})
    )
    assert status == 400
    assert body["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: '
        'unknown field "metadata.lables", unknown field "bogus"'
    )
    assert (
        client.CoreV1Api(kube.api())
        .list_namespaced_config_map("default", field_selector="metadata.name=strict")
        .items
        == []
    )
    status, body, _ = _req(
        kube, "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Loose", _cm("x")
    )
    assert status == 400 and "fieldValidation" in body["message"]


def test_by_default_unknown_fields_warn_and_are_dropped(kube: Harness) -> None:
    status, body, headers = _req(
        kube, "POST", "/api/v1/namespaces/default/configmaps", _cm("warned", bogus=1)
    )
    assert status == 201
    assert headers.get_all("Warning") == ['299 - "unknown field \\"bogus\\""']
    assert "bogus" not in body
    stored = client.CoreV1Api(kube.api()).read_namespaced_config_map("warned", "default")
    assert stored.data == {"a": "1"}
    status, body, headers = _req(
        kube,
        "POST",
        "/api/v1/namespaces/default/configmaps?fieldValidation=Ignore",
        _cm("quiet", bogus=1),
    )
    assert status == 201 and headers.get_all("Warning") is None and "bogus" not in body


def _ds(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "busybox",
                            "command": ["sh", "-c", "sleep 600"],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        },
                        {"name": "side", "image": "busybox", "command": ["sleep", "600"]},
                    ],
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                },
            },
        },
    }


def test_strategic_merge_patch_merges_lists_by_key(kube: Harness) -> None:
    apps = client.AppsV1Api(kube.api())
    apps.create_namespaced_daemon_set("default", _ds("smp"))
    path = "/apis/apps/v1/namespaces/default/daemonsets/smp"
    # what client-side `kubectl apply` sends for a changed image and env var
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "side"}, {"name": "main"}],
                    "containers": [
                        {
                            "name": "main",
                            "image": "busybox:1.36",
                            "$setElementOrder/env": [{"name": "A"}, {"name": "B"}],
                            "env": [{"name": "B", "value": "3"}],
                        },
                        {"name": "gone", "$patch": "delete"},
                    ],
                }
            }
        }
    }
    status, body, _ = _req(kube, "PATCH", path, patch, "application/strategic-merge-patch+json")
    assert status == 200, body
    ctrs = body["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in ctrs] == ["side", "main"]
    main = ctrs[1]
    assert main["image"] == "busybox:1.36" and main["command"] == ["sh", "-c", "sleep 600"]
    assert main["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]
    delete = {
        "spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}
    }
    status, body, _ = _req(kube, "PATCH", path, delete, "application/strategic-merge-patch+json")
    assert [c["name"] for c in body["spec"]["template"]["spec"]["containers"]] == ["main"]
    # a JSON merge patch replaces lists whole
    merge = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}}}
    status, body, _ = _req(kube, "PATCH", path, merge, "application/merge-patch+json")
    assert body["spec"]["template"]["spec"]["containers"][0].get("command") is None
    apps.delete_namespaced_daemon_set("smp", "default", propagation_policy="Background")


# ------------------------------------------------------------------ server-side apply

APPLY = "application/apply-patch+yaml"


def _apply(kube: Harness, name: str, body: dict[str, Any], query: str) -> tuple[int, Any, Any]:
    return _req(
        kube,
        "PATCH",
        f"/api/v1/namespaces/default/configmaps/{name}?{query}",
        json.dumps(body).encode(),
        APPLY,
    )


def _owners(obj: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(e["manager"], e["operation"]): e["fieldsV1"] for e in obj["metadata"]["managedFields"]}


def test_server_side_apply_creates_updates_and_owns_fields(kube: Harness) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ssa"},
        "data": {"a": "1", "b": "2"},
    }
    status, body, _ = _apply(kube, "ssa", cm, "")
    assert status == 422 and "fieldManager: Required value" in body["message"]
    status, body, _ = _apply(kube, "ssa", cm, "fieldManager=alice")
    assert status == 201, body
    assert _owners(body) == {("alice", "Apply"): {"f:data": {".": {}, "f:a": {}, "f:b": {}}}}
    # alice applies again without b: b goes (nobody else owns it); c comes
    status, body, _ = _apply(
        kube, "ssa", {**cm, "data": {"a": "1", "c": "3"}}, "fieldManager=alice"
    )
    assert status == 200 and body["data"] == {"a": "1", "c": "3"}
    # bob sets a to the same value: co-owned, no conflict; then to another value: conflict
    status, body, _ = _apply(kube, "ssa", {**cm, "data": {"a": "1"}}, "fieldManager=bob")
    assert status == 200 and ("bob", "Apply") in _owners(body)
    status, body, _ = _apply(kube, "ssa", {**cm, "data": {"a": "9"}}, "fieldManager=bob")
    assert status == 409 and body["reason"] == "Conflict"
    assert (
        body["message"] == 'Apply failed with 1 conflict: conflict with "alice" using v1: .data.a'
    )
    assert body["details"]["causes"][0]["field"] == ".data.a"
    status, body, _ = _apply(kube, "ssa", {**cm, "data": {"a": "9"}}, "fieldManager=bob&force=true")
    assert status == 200 and body["data"]["a"] == "9"
    owners = _owners(body)
    assert "f:a" not in owners[("alice", "Apply")]["f:data"]  # taken over by force
    assert "f:a" in owners[("bob", "Apply")]["f:data"]
    status, body, _ = _req(
        kube,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/ssa?force=true",
        {"data": {"x": "1"}},
        "application/merge-patch+json",
    )
    assert status == 422 and "force: Forbidden" in body["message"]
    client.CoreV1Api(kube.api()).delete_namespaced_config_map("ssa", "default")


def test_other_writes_record_update_ownership_that_apply_conflicts_with(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    made = v1.create_namespaced_config_map(
        "default", {"metadata": {"name": "owned"}, "data": {"k": "v"}}, field_manager="tool"
    )
    assert [(e.manager, e.operation) for e in made.metadata.managed_fields] == [("tool", "Update")]
    made.data["k"] = "w"
    replaced = v1.replace_namespaced_config_map("owned", "default", made, field_manager="editor")
    owners = {(e.manager, e.operation): e.fields_v1 for e in replaced.metadata.managed_fields}
    assert owners[("editor", "Update")] == {"f:data": {"f:k": {}}}
    assert ("tool", "Update") not in owners or "f:k" not in owners[("tool", "Update")]["f:data"]
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "owned"},
        "data": {"k": "x"},
    }
    status, body, _ = _apply(kube, "owned", cm, "fieldManager=applier")
    assert status == 409 and 'conflict with "editor" using v1: .data.k' in body["message"]
    # without a fieldManager the User-Agent names the manager (the client's is OpenAPI-Generator)
    patched = v1.patch_namespaced_config_map("owned", "default", {"data": {"n": "1"}})
    assert "OpenAPI-Generator" in {e.manager for e in patched.metadata.managed_fields}
    v1.delete_namespaced_config_map("owned", "default")


def test_apply_merges_containers_by_name(kube: Harness) -> None:
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", **_ds("ssads")}
    path = "/apis/apps/v1/namespaces/default/daemonsets/ssads?fieldManager=deployer"
    status, body, _ = _req(kube, "PATCH", path, json.dumps(ds).encode(), APPLY)
    assert status == 201, body
    # another manager applies only the sidecar's image: the main container stays
    side = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "ssads"},
        "spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox:1.36"}]}}},
    }
    status, body, _ = _req(
        kube, "PATCH", path.replace("deployer", "patcher"), json.dumps(side).encode(), APPLY
    )
    assert status == 409 and '.spec.template.spec.containers[name="side"].image' in body["message"]
    status, body, _ = _req(
        kube,
        "PATCH",
        path.replace("deployer", "patcher") + "&force=true",
        json.dumps(side).encode(),
        APPLY,
    )
    assert status == 200, body
    ctrs = {c["name"]: c for c in body["spec"]["template"]["spec"]["containers"]}
    assert ctrs["side"]["image"] == "busybox:1.36" and ctrs["main"]["image"] == "busybox"
    assert ctrs["main"]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert body["metadata"]["generation"] == 2
    client.AppsV1Api(kube.api()).delete_namespaced_daemon_set(
        "ssads", "default", propagation_policy="Background"
    )

"""Point 1 of the trust issue: the pod image is pinned by digest at plan time, through the
registry's OCI distribution API (the emulator's loopback registry, anonymous bearer-token flow),
apply refuses an image without a digest, and a node refuses a digest the registry does not
serve (ErrImagePull, then ImagePullBackOff)."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes import client, config

from aksaudit_tui.engine import plan_io
from aksaudit_tui.engine.plan import PlanRequest
from aksaudit_tui.errors import UsageError, UserError
from aksaudit_tui.nodes import manifests
from aksaudit_tui.nodes.image import parse_image, pull_policy, resolve_digest
from engine_helpers import engine_for, run
from fixtures.emulator import emulator, make_emulator  # noqa: F401  (pytest fixtures)

REPO = "azurelinux/busybox"
DIGEST_RE = re.compile(r"^mcr\.microsoft\.com/azurelinux/busybox@sha256:[0-9a-f]{64}$")


def test_parse_image_references() -> None:
    ref = parse_image(manifests.DEFAULT_IMAGE)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        "mcr.microsoft.com", REPO, "1.36", None,
    )  # fmt: skip
    d = "sha256:" + "a" * 64
    pinned = parse_image(f"myacr.azurecr.io:5000/mirror/busybox@{d}")
    assert pinned.pinned and pinned.registry == "myacr.azurecr.io:5000"
    assert pinned.repository == "mirror/busybox" and pinned.with_digest(d).endswith(d)
    assert parse_image("busybox:1.36").repository == "library/busybox"
    for bad in ("busybox", "mcr.microsoft.com/x@sha256:abc", "UPPER/case:1", "a b:1", ""):
        with pytest.raises(UsageError):
            parse_image(bad)
    assert pull_policy(f"x@{d}") == "IfNotPresent" and pull_policy("x:1") == "Always"


def test_the_loopback_registry_wants_a_bearer_token(emulator: Any) -> None:  # noqa: F811
    info = emulator.info

    async def probe() -> tuple[int, str, int]:
        async with aiohttp.ClientSession() as s:
            url = f"{info.registry_endpoint}/v2/{REPO}/manifests/1.36"
            async with s.head(url, ssl=_ssl(info.ca_bundle)) as r:
                challenge = r.headers.get("WWW-Authenticate", "")
                status = r.status
            # the ARM/kube bearer token is not a registry token
            auth = {"Authorization": f"Bearer {info.token}"}
            async with s.head(url, headers=auth, ssl=_ssl(info.ca_bundle)) as r2:
                return status, challenge, r2.status

    status, challenge, with_arm_token = asyncio.run(probe())
    assert status == 401 and with_arm_token == 401
    assert challenge.startswith('Bearer realm="https://127.0.0.1:') and "/oauth2/token" in challenge
    assert f'scope="repository:{REPO}:pull"' in challenge


def _ssl(ca: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca)


def test_resolve_digest_through_the_token_flow(emulator: Any) -> None:  # noqa: F811
    info = emulator.info
    want = emulator.state.registry.digest(REPO, "1.36")
    ref = parse_image(manifests.DEFAULT_IMAGE)
    got = asyncio.run(
        resolve_digest(ref, endpoint=info.registry_endpoint, ca_bundle=info.ca_bundle)
    )
    assert got == want and got.startswith("sha256:")
    with pytest.raises(UsageError, match="no such tag"):
        asyncio.run(
            resolve_digest(
                parse_image("mcr.microsoft.com/azurelinux/busybox:9.99"),
                endpoint=info.registry_endpoint,
                ca_bundle=info.ca_bundle,
            )
        )
    # an unreachable registry: one line naming the air-gapped way out
    with pytest.raises(UserError, match="air-gapped: pass --image NAME@sha256"):
        asyncio.run(resolve_digest(ref, endpoint="https://127.0.0.1:9", timeout_s=5))


def test_plan_pins_the_image_by_digest_with_the_tag_in_a_comment(
    emulator: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    eng = engine_for(emulator, tmp_path / "state")
    plan = run(
        eng.plan_from_names(PlanRequest(clusters=["aks-prod-weu"], workspace="law-prod-weu"))
    )
    digest = emulator.state.registry.digest(REPO, "1.36")
    assert DIGEST_RE.match(plan.image) and plan.image.endswith(digest)
    assert plan.image_from == manifests.DEFAULT_IMAGE
    path = tmp_path / "plan.yaml"
    plan_io.dump(plan, path)
    line = next(ln for ln in path.read_text().splitlines() if ln.startswith("image:"))
    assert line.startswith(f"image: {plan.image}")
    assert f"# resolved at plan time from {manifests.DEFAULT_IMAGE}" in line
    assert plan_io.load(path).image == plan.image
    # the tag moves afterwards (a mirror retags): the plan keeps what was reviewed
    emulator.state.registry.add(REPO, "1.36", b'{"schemaVersion":2,"swapped":true}')
    assert plan_io.load(path).image.endswith(digest)


def test_an_air_gapped_digest_needs_no_registry(emulator: Any, tmp_path: Path) -> None:  # noqa: F811
    eng = engine_for(emulator, tmp_path / "state")
    eng.config.settings = _no_registry(eng.config.settings)
    d = "sha256:" + "b" * 64
    image = f"mirror.example.com/busybox@{d}"
    plan = run(
        eng.plan_from_names(
            PlanRequest(clusters=["aks-prod-weu"], workspace="law-prod-weu", image=image)
        )
    )
    assert plan.image == image and plan.image_from is None
    # while a tag against that registry cannot be resolved: one line, no plan
    with pytest.raises(UserError, match="cannot resolve image"):
        run(eng.plan_from_names(PlanRequest(clusters=["aks-prod-weu"], workspace="law-prod-weu")))


def _no_registry(settings: Any) -> Any:
    return replace(settings, registry_endpoint="https://127.0.0.1:9")


def test_apply_refuses_an_image_without_a_digest(emulator: Any, tmp_path: Path) -> None:  # noqa: F811
    eng = engine_for(emulator, tmp_path / "state")
    plan = run(
        eng.plan_from_names(PlanRequest(clusters=["aks-prod-weu"], workspace="law-prod-weu"))
    )
    tagged = plan.with_changes(image=manifests.DEFAULT_IMAGE)
    with pytest.raises(UsageError, match="has no digest"):
        run(eng.apply(tagged))
    store = emulator.state.kube.get("aks-prod-weu")
    assert store is None or store.get("namespaces", "", manifests.DEFAULT_NAMESPACE) is None
    assert not list((tmp_path / "state").glob("runs/*.json"))


def test_the_node_refuses_a_digest_the_registry_does_not_serve(
    make_emulator: Any,  # noqa: F811
) -> None:
    emu = make_emulator(None, kube={"time_scale": 0.05, "sync_interval": 0.05})
    api = config.new_client_from_config(emu.info.kubeconfig, context="aks-prod-weu")
    v1 = client.CoreV1Api(api)
    ns = manifests.DEFAULT_NAMESPACE
    v1.create_namespace(manifests.namespace_manifest(ns))
    node = v1.list_node(label_selector="kubernetes.azure.com/agentpool=apps").items[0]
    unknown = "mcr.microsoft.com/azurelinux/busybox@sha256:" + "c" * 64
    pod = manifests.oneshot_pod_manifest(
        namespace=ns, node=node.metadata.name, mode="check", image=unknown,
        script_text="true\n", run_id="r", configmap="none",
    )  # fmt: skip
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    v1.create_namespaced_pod(ns, pod)
    reasons: set[str] = set()
    end = time.monotonic() + 20
    while time.monotonic() < end and "ImagePullBackOff" not in reasons:
        st = v1.read_namespaced_pod(pod["metadata"]["name"], ns).status
        for cs in st.container_statuses or []:
            if cs.state.waiting is not None:
                reasons.add(cs.state.waiting.reason)
        assert st.phase == "Pending"
        time.sleep(0.05)
    assert {"ErrImagePull", "ImagePullBackOff"} <= reasons


def test_review_names_the_digest_or_says_when_it_is_resolved(
    emulator: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    eng = engine_for(emulator, tmp_path / "state")
    pinned = run(
        eng.plan_from_names(
            PlanRequest(clusters=["aks-dev-neu"], workspace="law-dev-neu", log_path="ama")
        )
    )
    assert "@sha256:" in pinned.image
    delivery = [c.description for c in run(eng.review(pinned)) if c.step == "delivery"]
    assert any(f"image {pinned.image}" in d for d in delivery), delivery
    # the wizard's plan names the tag until apply starts: the review says so
    tagged = replace(pinned, image=manifests.DEFAULT_IMAGE, image_from=None)
    delivery = [c.description for c in run(eng.review(tagged)) if c.step == "delivery"]
    assert any(
        f"image {manifests.DEFAULT_IMAGE} (a tag: its digest is resolved when apply starts" in d
        for d in delivery
    ), delivery

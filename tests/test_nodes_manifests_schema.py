"""Every manifest the product sends declares only fields the Kubernetes API has: an API server
silently drops an unknown field (or, asked for strict validation as kubectl does, refuses the
object), so a misspelt security setting would vanish without an error. Checked against the
emulator's schemas of the kinds (derived from the `kubernetes` client's models), the same ones
its API server validates and prunes with.
"""

from __future__ import annotations

from typing import Any

import pytest

from aksaudit_emulator.kube.schema import load
from aksaudit_tui.nodes import manifests as m

SCRIPT = "#!/bin/sh\necho hi\n"
IMAGE = "example.azurecr.io/busybox@sha256:" + "a" * 64
SHA = m.script_sha256(SCRIPT)


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("namespaces", m.namespace_manifest("aksaudit-system")),
        ("configmaps", m.configmap_manifest("aksaudit-system", SCRIPT, "-w /etc/passwd\n", "r1")),
        (
            "pods",
            m.oneshot_pod_manifest(
                namespace="aksaudit-system",
                node="aks-system-12345678-vmss000000",
                mode="apply",
                image=IMAGE,
                script_text=SCRIPT,
                run_id="r1",
                configmap="cm",
            ),
        ),
        (
            "daemonsets",
            m.keeper_daemonset_manifest(
                namespace="aksaudit-system", image=IMAGE, script_text=SCRIPT, run_id="r1"
            ),
        ),
        ("pods", m.admission_probe_pod("aksaudit-system", IMAGE, SHA)),
        (
            "validatingadmissionpolicies",
            m.admission_policy_manifest("aksaudit-system", IMAGE, (SHA,)),
        ),
        ("validatingadmissionpolicybindings", m.admission_binding_manifest("aksaudit-system")),
    ]


@pytest.mark.parametrize(("resource", "manifest"), _manifests(), ids=lambda v: str(v)[:40])
def test_manifest_has_no_field_the_api_would_drop(resource: str, manifest: dict[str, Any]) -> None:
    schemas = load()
    assert schemas.unknown_fields(schemas.by_resource[resource], manifest) == []
    assert schemas.prune(schemas.by_resource[resource], manifest) == manifest


def test_a_misspelt_field_is_found() -> None:
    """The check can fail: a typo in a security setting is reported with its path."""
    schemas = load()
    ds = m.keeper_daemonset_manifest(
        namespace="aksaudit-system", image=IMAGE, script_text=SCRIPT, run_id="r1"
    )
    ds["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privilidged"] = True
    assert schemas.unknown_fields(schemas.by_resource["daemonsets"], ds) == [
        "spec.template.spec.containers[0].securityContext.privilidged"
    ]

"""kube adapter: pure parts (provider ids, node classification, admission hints, kubeconfig)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aksaudit_tui.errors import UsageError
from aksaudit_tui.nodes.delivery import result_from_status
from aksaudit_tui.nodes.kube import admission_hint, load_api, node_info, parse_provider_id
from aksaudit_tui.nodes.pods import pod_reason
from aksaudit_tui.nodes.status import parse_node_status

VMSS_ID = (
    "azure:///subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/"
    "MC_rg-prod_aks-prod_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/"
    "aks-system-12345678-vmss/virtualMachines/0"
)


def _node(
    name: str = "aks-system-12345678-vmss000000",
    labels: dict[str, str] | None = None,
    ready: bool = True,
    taints: list[dict[str, str]] | None = None,
    provider: str = VMSS_ID,
    os_image: str = "Ubuntu 22.04.5 LTS",
) -> dict[str, Any]:
    lbl = {
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.azure.com/agentpool": "system",
        "kubernetes.azure.com/os-sku-effective": "Ubuntu2204",
    }
    lbl.update(labels or {})
    return {
        "metadata": {"name": name, "labels": lbl},
        "spec": {"providerID": provider, "taints": taints or []},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "nodeInfo": {"osImage": os_image, "architecture": "amd64", "operatingSystem": "linux"},
        },
    }


def test_parse_provider_id_vmss_vm_and_case() -> None:
    ref = parse_provider_id(VMSS_ID)
    assert ref is not None
    assert ref.resource_group == "MC_rg-prod_aks-prod_westeurope"
    assert ref.vm_set == "aks-system-12345678-vmss" and ref.instance == "0"
    lower = parse_provider_id(VMSS_ID.replace("resourceGroups", "resourcegroups").lower())
    assert lower is not None and lower.resource_group == "mc_rg-prod_aks-prod_westeurope"
    vm = parse_provider_id(
        "azure:///subscriptions/s/resourceGroups/MC_x/providers/Microsoft.Compute/"
        "virtualMachines/aks-pool-1234-vm0"
    )
    assert vm is not None and vm.vm_set == "aks-pool-1234-vm0" and vm.instance is None
    assert parse_provider_id("kind://docker/kind/kind-control-plane") is None
    assert parse_provider_id(None) is None


def test_node_info_eligible_linux() -> None:
    n = node_info(
        _node(taints=[{"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"}])
    )
    assert n.eligible and n.skip_reason is None
    assert (n.pool, n.os, n.os_sku, n.arch, n.ready) == (
        "system",
        "linux",
        "Ubuntu2204",
        "amd64",
        True,
    )
    assert n.taints == ("CriticalAddonsOnly=true:NoSchedule",)


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        (
            {
                "labels": {
                    "kubernetes.io/os": "windows",
                    "kubernetes.azure.com/os-sku-effective": "Windows2022",
                }
            },
            "Windows",
        ),
        ({"labels": {"type": "virtual-kubelet"}, "provider": "vk://x"}, "virtual node"),
        ({"labels": {"kubernetes.azure.com/os-sku-effective": "Flatcar"}}, "immutable OS"),
        (
            {"labels": {"kubernetes.azure.com/os-sku-effective": "AzureContainerLinux"}},
            "immutable OS",
        ),
        (
            {"labels": {"kubernetes.azure.com/os-sku-effective": "AzureLinuxOSGuard"}},
            "immutable OS",
        ),
        ({"ready": False}, "NotReady"),
    ],
)
def test_node_info_skip_reasons(kw: dict[str, Any], reason: str) -> None:
    n = node_info(_node(**kw))
    assert not n.eligible
    assert n.skip_reason is not None and reason in n.skip_reason


def test_admission_hints_say_what_to_fix() -> None:
    psa = (
        'pods "x" is forbidden: violates PodSecurity "baseline:latest": host namespaces '
        '(hostPID=true), privileged (container "aksaudit" must not set '
        "securityContext.privileged=true)"
    )
    assert (
        "kubectl label namespace ns pod-security.kubernetes.io/enforce=privileged"
        in admission_hint("ns", psa)
    )
    gk = (
        'admission webhook "validation.gatekeeper.sh" denied the request: '
        "[azurepolicy-k8sazurev2noprivilege]"
    )
    assert "safeguards" in admission_hint("ns", gk)


def test_load_api_missing_context_is_a_usage_error(tmp_path: Path) -> None:
    kc = tmp_path / "kubeconfig"
    kc.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster: {server: 'https://127.0.0.1:1'}\n"
        "users:\n- name: a\n  user: {token: sekret-token-value}\n"
        "contexts:\n- name: a\n  context: {cluster: a, user: a}\ncurrent-context: a\n"
    )
    with pytest.raises(UsageError) as ei:
        load_api(str(kc), "other-cluster", None)
    assert "other-cluster" in str(ei.value) and "sekret" not in str(ei.value)
    api = load_api(str(kc), "a", str(kc))
    assert api.configuration.host == "https://127.0.0.1:1"
    assert api.configuration.ssl_ca_cert == str(kc)


def _status(**kw: Any) -> Any:
    data = {"aksaudit": 1, "mode": "apply", "supported": True, **kw}
    return parse_node_status("some output\n" + json.dumps(data) + "\n")


def test_result_from_status_and_pod_reason() -> None:
    n = node_info(_node())
    ok = _status(audit_version="3.0.7", ok=True, compliant=True, changed=["rules"])
    r = result_from_status(n, ok, "apply", "")
    assert r.phase == "compliant" and r.audit_version == "3.0.7"
    bad = _status(ok=False, errors=["apt-get install auditd failed: no egress"])
    r = result_from_status(n, bad, "apply", "")
    assert r.phase == "failed" and "no egress" in r.message
    drift = _status(mode="check", ok=True, compliant=False, changed=["plugin"])
    r = result_from_status(n, drift, "check", "")
    assert r.phase == "failed" and "plugin" in r.message
    r = result_from_status(n, None, "apply", "aksaudit-launcher: refusing to run node.sh: ...\n")
    assert r.phase == "failed" and "refusing" in r.message
    pod = {
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "state": {
                        "waiting": {"reason": "ImagePullBackOff", "message": "pull access denied"}
                    }
                }
            ],
        }
    }
    assert pod_reason(pod) == "Pending ImagePullBackOff: pull access denied"

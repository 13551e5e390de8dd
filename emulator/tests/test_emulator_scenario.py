"""Scenario loading and checking, the default scenario's shape, the shipped fault scenario."""

from __future__ import annotations

import base64
import json
import re
import ssl
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from aksaudit_emulator import Emulator, load_scenario
from aksaudit_emulator.errors import ScenarioError
from aksaudit_emulator.nodestate import read_node_audit_state
from aksaudit_emulator.world import build_state
from test_emulator_arm import sdk

FAULTS = resources.files("aksaudit_emulator").joinpath("scenarios/faults.yaml")


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({}, "'subscriptions' must list at least one subscription"),
        (
            {
                "subscriptions": [
                    {
                        "resource_groups": [
                            {
                                "name": "r",
                                "clusters": [
                                    {"name": "c", "pools": [{"name": "p", "os_sku": "Debian"}]}
                                ],
                            }
                        ]
                    }
                ]
            },
            "os_sku must be one of",
        ),
        (
            {
                "subscriptions": [
                    {"resource_groups": [{"name": "r", "clusters": [{"name": "c", "pools": []}]}]}
                ]
            },
            "at least one pool",
        ),
        ({"subscriptions": [{}], "faults": [{"kind": "explode"}]}, "faults[0].kind"),
        ({"subscriptions": [{}], "page_size": 0}, "page_size"),
        (
            {
                "subscriptions": [
                    {
                        "resource_groups": [
                            {
                                "name": "r",
                                "clusters": [
                                    {
                                        "name": "c",
                                        "monitoring": {"workspace": "nope"},
                                        "pools": [{"name": "p"}],
                                    }
                                ],
                            }
                        ]
                    }
                ]
            },
            "workspace 'nope'",
        ),
        (
            {
                "subscriptions": [
                    {
                        "resource_groups": [
                            {
                                "name": "r",
                                "clusters": [
                                    {
                                        "name": "c",
                                        "enabled_elsewhere": {"by": "someone"},
                                        "pools": [{"name": "p"}],
                                    }
                                ],
                            }
                        ]
                    }
                ]
            },
            "'enabled_elsewhere' needs 'by' (who enabled it) and 'workspace'",
        ),
        (
            {
                "subscriptions": [
                    {
                        "resource_groups": [
                            {
                                "name": "r",
                                "clusters": [
                                    {
                                        "name": "c",
                                        "enabled_elsewhere": {"by": "x", "workspace": "nope"},
                                        "pools": [{"name": "p"}],
                                    }
                                ],
                            }
                        ]
                    }
                ]
            },
            "workspace 'nope'",
        ),
    ],
)
def test_scenario_errors(scenario: dict[str, Any], message: str, tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as err:
        build_state(load_scenario(scenario), tmp_path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_default_scenario_shape() -> None:
    s = load_scenario(None)
    clusters = [
        c for sub in s["subscriptions"] for rg in sub["resource_groups"] for c in rg["clusters"]
    ]
    pools = [p for c in clusters for p in c["pools"]]
    linux = sum(p["count"] for p in pools if not p["os_sku"].startswith("Windows"))
    assert len(s["subscriptions"]) == 2 and len(clusters) == 3
    assert 10 <= linux <= 12
    assert {p["os_sku"] for p in pools} >= {
        "Ubuntu2204",
        "Ubuntu2404",
        "AzureLinux3",
        "Windows2022",
    }
    assert any(
        "CriticalAddonsOnly=true:NoSchedule" in p["taints"] for p in pools if p["mode"] == "System"
    )
    assert load_scenario(s) == s  # loading is idempotent
    # one cluster was enabled by someone else (the product applies it at start)
    elsewhere = {c["name"]: c["enabled_elsewhere"] for c in clusters if c["enabled_elsewhere"]}
    assert elsewhere == {
        "aks-payments-weu": {
            "by": "maria.garcia@contoso.com",
            "workspace": "law-prod-weu",
            "log_path": "container-insights",
        }
    }


def test_tokens_for_other_people_are_signed_with_the_emulators_token(emulator: Any) -> None:
    """``token_for`` names another person in a JWT the emulator signs: ARM accepts it like the
    emulator's own token; a forged or unsigned one is refused (401)."""
    info = emulator.info
    ctx = ssl.create_default_context(cafile=info.ca_bundle)

    def status(token: str) -> int:
        req = urllib.request.Request(
            info.arm_endpoint + "subscriptions?api-version=2022-12-01",
            headers={"Authorization": "Bearer " + token},
        )
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    token = emulator.token_for("maria.garcia@contoso.com")
    header, claims, sig = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(claims + "=="))["upn"] == "maria.garcia@contoso.com"
    assert emulator.enabled_elsewhere() == [
        {
            "cluster": "aks-payments-weu",
            "by": "maria.garcia@contoso.com",
            "workspace": "law-prod-weu",
            "log_path": "container-insights",
        }
    ]
    assert status(token) == 200 and status(info.token) == 200
    forged = base64.urlsafe_b64encode(b'{"upn":"mallory@x"}').decode().rstrip("=")
    assert status(f"{header}.{forged}.{sig}") == 401  # claims changed: signature no longer fits
    assert status(f"{header}.{claims}.") == 401 and status(f"{header}.{claims}") == 401


def test_node_names_labels_provider_ids(emulator: Any) -> None:
    nodes = emulator.state.all_nodes()
    linux = [n for n in nodes if n.is_linux]
    assert len(linux) == 12
    for n in linux:
        assert re.fullmatch(r"aks-[a-z0-9]+-\d{8}-vmss[0-9a-z]{6}", n.name), n.name
        assert n.provider_id.startswith("azure:///subscriptions/")
        assert (
            f"/virtualMachineScaleSets/{n.vmss_name}/virtualMachines/{n.instance_id}"
            in n.provider_id
        )
        assert n.labels["kubernetes.azure.com/agentpool"] == n.pool
        assert n.labels["kubernetes.azure.com/os-sku-effective"] == n.os_sku
        assert n.labels["kubernetes.io/os"] == "linux" and n.labels["kubernetes.io/arch"] == n.arch
        assert n.root is not None and (n.root / "etc/os-release").is_file()
    windows = [n for n in nodes if not n.is_linux]
    assert len(windows) == 1 and windows[0].root is None
    system = [n for n in linux if n.mode == "System" and n.cluster == "aks-prod-weu"]
    assert system and all(t["key"] == "CriticalAddonsOnly" for n in system for t in n.taints)
    arm = [n for n in linux if n.arch == "arm64"]
    assert arm and all(n.vm_size == "Standard_D4pds_v5" for n in arm)


def test_fault_scenario(make_emulator: Any) -> None:
    from azure.core.exceptions import HttpResponseError

    emu = make_emulator(load_scenario(Path(str(FAULTS))), tune=False)
    shared = "0f6bd1a0-8a9f-4f0b-9a59-6c0e5e0a1a01"
    restricted = "0f6bd1a0-8a9f-4f0b-9a59-6c0e5e0a1a02"
    az = sdk(emu.info, shared)
    assert [c.name for c in az.aks.managed_clusters.list()] == ["aks-shared-eus"]  # after 3x 429
    assert emu.state.requests["GET list_clusters_sub"] == 4
    assert [w.name for w in az.la.workspaces.list()] == ["law-shared-eus"]  # after one 503
    node_rg = az.aks.managed_clusters.get("rg-shared", "aks-shared-eus").node_resource_group
    vmss = list(az.compute.virtual_machine_scale_sets.list(node_rg))
    assert len(vmss) == 5  # three pages of at most two
    with pytest.raises(HttpResponseError) as err:
        list(sdk(emu.info, restricted).aks.managed_clusters.list())
    assert err.value.error.code == "AuthorizationFailed"
    body = {
        "properties": {
            "publisher": "Microsoft.Azure.Monitor",
            "type": "AzureMonitorLinuxAgent",
            "typeHandlerVersion": "1.33",
        }
    }
    with pytest.raises(HttpResponseError):
        az.compute.virtual_machine_scale_set_extensions.begin_create_or_update(
            node_rg, vmss[0].name, "AzureMonitorLinuxAgent", body, polling_interval=0
        ).result()
    not_ready = [n.name for n in emu.state.all_nodes() if not n.ready]
    assert len(not_ready) == 1 and not_ready[0].endswith("vmss000002")
    # the custom image without rsyslog; every other Ubuntu / Azure Linux node runs it
    rsyslog = {
        n.pool: read_node_audit_state(n.root).rsyslog_running
        for n in emu.state.all_nodes()
        if n.root is not None
    }
    assert rsyslog == {
        "system": True, "work": True, "old": True, "flat": False, "norsys": False
    }  # fmt: skip


def test_bad_kube_option_raises_scenario_error_from_start(tmp_path: Path) -> None:
    scenario = load_scenario(None)
    scenario["kube"] = {"max_concurrency": "many"}
    emu = Emulator(scenario, state_dir=tmp_path / "emu")
    try:
        with pytest.raises(ScenarioError, match=r"kube\.max_concurrency must be a number"):
            emu.start()
    finally:
        emu.stop()


@pytest.mark.parametrize(
    ("os_sku", "value", "message"),
    [
        ("Flatcar", True, "Flatcar has no rsyslog"),
        ("Ubuntu2204", "no", "rsyslog must be true or false"),
    ],
)
def test_pool_rsyslog_is_checked(os_sku: str, value: Any, message: str) -> None:
    data = load_scenario(None)
    pool = data["subscriptions"][0]["resource_groups"][0]["clusters"][0]["pools"][0]
    pool.update(os_sku=os_sku, rsyslog=value)
    with pytest.raises(ScenarioError, match=message):
        load_scenario(data)

"""`aksaudit emulator` as a program, scenario checking, the shipped fault scenario."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from aksaudit_tui.emulator import load_scenario
from aksaudit_tui.emulator.state import DEFAULT_TOKEN
from aksaudit_tui.errors import UsageError
from test_emulator_arm import sdk

FAULTS = resources.files("aksaudit_tui.emulator").joinpath("scenarios/faults.yaml")


def test_cli_prints_endpoints_serves_and_stops(tmp_path: Path) -> None:
    state_dir = tmp_path / "emu"
    proc = subprocess.Popen(
        [sys.executable, "-m", "aksaudit_tui", "emulator", "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        info = json.loads(line)
        assert set(info) == {
            "arm_endpoint",
            "logs_endpoint",
            "kubeconfig",
            "ca_bundle",
            "workspaces",
        }
        assert DEFAULT_TOKEN not in line  # the token is never printed
        for key in ("kubeconfig", "ca_bundle"):
            assert Path(info[key]).is_absolute() and Path(info[key]).is_file()
        assert info["logs_endpoint"] == info["arm_endpoint"].rstrip("/") + "/logs/v1"
        assert {w["name"] for w in info["workspaces"]} == {"law-prod-weu", "law-dev-neu"}
        kubeconfig = yaml.safe_load(Path(info["kubeconfig"]).read_text())
        assert {c["name"] for c in kubeconfig["contexts"]} == {
            "aks-prod-weu",
            "aks-payments-weu",
            "aks-dev-neu",
        }
        server = kubeconfig["clusters"][0]["cluster"]["server"]
        assert server.startswith(info["arm_endpoint"].rstrip("/") + "/k8s/")
        assert oct(os.stat(info["kubeconfig"]).st_mode & 0o777) == "0o600"
        req = urllib.request.Request(
            info["arm_endpoint"] + "subscriptions?api-version=2022-12-01",
            headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
        )
        ctx = ssl.create_default_context(cafile=info["ca_bundle"])
        with urllib.request.urlopen(req, context=ctx) as resp:
            assert len(json.loads(resp.read())["value"]) == 2
        assert (state_dir / "nodes" / "aks-prod-weu").is_dir()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert proc.stderr is not None
        assert "stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_bad_scenario_is_one_line_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("subscriptions:\n  - name: x\n    resource_groups:\n      - location: here\n")
    res = subprocess.run(
        [sys.executable, "-m", "aksaudit_tui", "emulator", "--scenario", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "resource_groups[0]: missing 'name'" in lines[0]


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
    ],
)
def test_scenario_errors(scenario: dict[str, Any], message: str, tmp_path: Path) -> None:
    from aksaudit_tui.emulator.world import build_state

    with pytest.raises(UsageError) as err:
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


def test_node_names_labels_provider_ids(emulator: Any) -> None:
    import re

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
    assert len(vmss) == 4  # two pages of two
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


def test_cli_port_in_use_is_one_line() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = subprocess.run(
            [sys.executable, "-m", "aksaudit_tui", "emulator", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "address already in use" in res.stderr

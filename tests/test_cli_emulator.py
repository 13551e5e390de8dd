"""`aksaudit emulator` as a program; `aksaudit demo`/`emulator` when the emulator is not installed.

The emulator is a separate distribution (emulator/); these tests drive the product's CLI around it.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from aksaudit_emulator import load_scenario
from aksaudit_tui.errors import EXIT_ERROR
from fixtures.emulator import make_emulator  # noqa: F401  (pytest fixture)


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
            "registry_endpoint",
            "env_file",
            "workspaces",
        }
        # the token: random per start, only in DIR/env (0600) and the kubeconfig, never printed
        env_file = Path(info["env_file"])
        assert env_file == state_dir.resolve() / "env"
        assert oct(os.stat(env_file).st_mode & 0o777) == "0o600"
        env = dict(
            shlex.split(ln.removeprefix("export "))[0].split("=", 1)
            for ln in env_file.read_text().splitlines()
        )
        token = env["AKSAUDIT_ACCESS_TOKEN"]
        assert len(token) >= 32 and token != "aksaudit-emulator-dev-token"
        assert token not in line
        assert env["AKSAUDIT_ARM_ENDPOINT"] == info["arm_endpoint"]
        assert env["AKSAUDIT_REGISTRY_ENDPOINT"] == info["registry_endpoint"]
        assert env["KUBECONFIG"] == info["kubeconfig"]
        for key in ("kubeconfig", "ca_bundle"):
            assert Path(info[key]).is_absolute() and Path(info[key]).is_file()
        assert info["logs_endpoint"] == info["arm_endpoint"].rstrip("/") + "/logs/v1"
        assert {w["name"] for w in info["workspaces"]} == {"law-prod-weu", "law-dev-neu"}
        kubeconfig = yaml.safe_load(Path(info["kubeconfig"]).read_text())
        assert {u["user"]["token"] for u in kubeconfig["users"]} == {token}
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
            headers={"Authorization": f"Bearer {token}"},
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


def test_cli_scenario_naming_unknown_workspace_is_one_line_usage_error(tmp_path: Path) -> None:
    # Caught while the estate is built (not while the YAML is read): still exit 2, one line.
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
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
            }
        )
    )
    res = subprocess.run(
        [sys.executable, "-m", "aksaudit_tui", "emulator", "--scenario", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 2 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "workspace 'nope'" in lines[0]


# The product without the optional emulator distribution: a None entry in sys.modules is what
# Python's import system reports as "not installed" (find_spec returns None, import fails).
_WITHOUT_EMULATOR = (
    "import sys; sys.modules['aksaudit_emulator'] = None; "
    "from aksaudit_tui.cli.main import main; raise SystemExit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize("command", [["emulator"], ["demo"]])
def test_missing_emulator_prints_the_install_hint(command: list[str]) -> None:
    res = subprocess.run(
        [sys.executable, "-c", _WITHOUT_EMULATOR, *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == EXIT_ERROR
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "emulator is not installed" in lines[0]
    assert "pip install 'aksaudit-tui[demo]'" in lines[0]
    assert "Traceback" not in res.stderr


def test_cli_bad_kube_option_is_one_line_usage_error(tmp_path: Path) -> None:
    # Caught when the kube side starts (inside the emulator's thread): still exit 2, one line.
    scenario = load_scenario(None)
    scenario["kube"] = {"time_scale": -1}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(scenario))
    res = subprocess.run(
        [sys.executable, "-m", "aksaudit_tui", "emulator", "--scenario", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 2 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "kube.time_scale must be positive" in lines[0]


def test_each_start_has_its_own_random_token(make_emulator: Any) -> None:  # noqa: F811
    a, b = make_emulator(None), make_emulator(None)
    assert a.info.token != b.info.token and len(a.info.token) >= 32
    assert "token" not in load_scenario(None)  # no fixed token shipped in the scenario
    # a scenario may still pin one (tests that look for a recognisable secret)
    assert make_emulator(None, token="pinned-for-a-test").info.token == "pinned-for-a-test"

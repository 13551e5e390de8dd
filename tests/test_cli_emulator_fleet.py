"""`aksaudit emulator --fleet SxCxN`: a generated fleet, served like any scenario (Resource Graph
included); a bad size is one usage line."""

from __future__ import annotations

import json
import shlex
import signal
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path


def _post(info: dict[str, str], token: str, body: dict[str, object]) -> dict[str, object]:
    req = urllib.request.Request(
        info["arm_endpoint"] + "providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    with urllib.request.urlopen(req, context=ctx) as resp:
        answer: dict[str, object] = json.loads(resp.read())
        return answer


def test_cli_fleet_serves_the_generated_estate(tmp_path: Path) -> None:
    state_dir = tmp_path / "emu"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aksaudit_tui",
            "emulator",
            "--fleet",
            "3x2x4",
            "--state-dir",
            str(state_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        env = dict(
            shlex.split(ln.removeprefix("export "))[0].split("=", 1)
            for ln in Path(info["env_file"]).read_text().splitlines()
        )
        token = env["AKSAUDIT_ACCESS_TOKEN"]
        clusters = _post(
            info,
            token,
            {
                "query": "Resources | where type =~ 'microsoft.containerservice/managedclusters'"
                " | project name",
                "options": {"$top": 1000},
            },
        )
        assert clusters["totalRecords"] == 6
        vms = _post(
            info,
            token,
            {"query": "ComputeResources | project id", "options": {"$top": 1000}},
        )
        assert vms["totalRecords"] == 3 * 2 * 4
        assert [w["name"] for w in info["workspaces"]] == ["law-fleet-0000"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_bad_fleet_is_one_usage_line() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "aksaudit_tui", "emulator", "--fleet", "200x5"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 2 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "SUBSCRIPTIONSxCLUSTERSxNODES" in lines[0]

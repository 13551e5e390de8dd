"""Status of the whole fleet from the sources of truth (issue 11), beyond test_status_truth.py:
the default scenario's cluster enabled from another machine, as `aksaudit emulator` starts it;
drift the keeper reports before it repairs it; why AMA and legacy-agent nodes are silent.
Real SDK and kubernetes clients against the emulator; the reading machine has no journal.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

from engine_helpers import aksaudit_cmd

PAYMENTS = "aks-payments-weu"
COLLEAGUE = "maria.garcia@contoso.com"


def _env_from(env_file: Path, state_dir: Path) -> dict[str, str]:
    """This machine: the emulator's endpoints from its env file, an empty state dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AKSAUDIT_", "AZURE_"))}
    for line in env_file.read_text().splitlines():
        key, _, value = shlex.split(line.removeprefix("export "))[0].partition("=")
        env[key] = value
    env["AKSAUDIT_STATE_DIR"] = str(state_dir)
    return env


def test_default_emulator_has_a_cluster_enabled_elsewhere_and_status_shows_it(
    tmp_path: Path,
) -> None:
    """`aksaudit emulator` (default scenario) starts with aks-payments-weu enabled by a
    colleague; `aksaudit status` on a machine with no journal shows its real coverage and who
    enabled it, and the other clusters at 0 % "not enabled"."""
    proc = subprocess.Popen(
        [*aksaudit_cmd(), "emulator", "--state-dir", str(tmp_path / "emu")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("AKSAUDIT_", "AZURE_"))},
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        env = _env_from(Path(info["env_file"]), tmp_path / "fresh")
        deadline = time.monotonic() + 90
        while True:  # heartbeats take a few seconds to be ingested
            res = subprocess.run(
                [*aksaudit_cmd(), "status", "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert res.returncode in (0, 5), res.stderr
            by_name = {c["name"]: c for c in json.loads(res.stdout)["clusters"]}
            if by_name[PAYMENTS]["coverage"] == 1.0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        pay = by_name[PAYMENTS]
        states = {n["node"]: n["state"] for n in pay["nodes"]}
        assert pay["enabled"] is True and pay["enabled_by"] == COLLEAGUE, pay
        assert pay["coverage"] == 1.0 and set(states.values()) == {"covered"}, states
        assert len(states) == 4  # 2 Azure Linux + 2 arm64 Ubuntu
        assert pay["delivery"] == "keeper" and pay["log_path"] == "container-insights"
        assert pay["workspace"] == "law-prod-weu" and pay["last_heartbeat"]
        for other in ("aks-prod-weu", "aks-dev-neu"):
            c = by_name[other]
            assert c["enabled"] is False and c["coverage"] == 0.0, c
            linux = [n for n in c["nodes"] if n["state"] != "skipped"]
            assert linux and {n["state"] for n in linux} == {"not enabled"}
        assert res.returncode == 5  # not every cluster is covered
        # nothing of it is in this machine's journal, and the text view names the colleague
        assert list((tmp_path / "fresh").rglob("*.json")) == []
        one = subprocess.run(
            [*aksaudit_cmd(), "status", "--cluster", PAYMENTS],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert one.returncode == 0, one.stdout + one.stderr
        assert "100% covered" in one.stdout and f"enabled by {COLLEAGUE}" in one.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert f"{PAYMENTS}: enabled by {COLLEAGUE}" in err, err

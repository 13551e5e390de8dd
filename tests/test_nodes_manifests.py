"""Manifests: every security property, and the launcher run for real with sh."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from aksaudit_tui.nodes import manifests as m

SCRIPT = """#!/bin/sh
echo "node script running in mode ${1:-none}"
echo "$1" >> "$AKSAUDIT_TEST_LOG"
printf '{"aksaudit": 1, "mode": "%s", "ok": true, "compliant": true}\\n' "$1"
"""
RULES = "-w /etc/passwd -p wa -k identity\n"
SECRETISH = ("token", "password", "secret", "key=", "serviceAccountName")


def _oneshot(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "namespace": "aksaudit-system",
        "node": "aks-system-12345678-vmss000000",
        "mode": "apply",
        "image": "example.azurecr.io/busybox:1.36.1",
        "script_text": SCRIPT,
        "run_id": "run-1",
        "configmap": "cm",
        "deadline_s": 600,
    }
    args.update(kw)
    return m.oneshot_pod_manifest(**args)


def _keeper(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "namespace": "aksaudit-system",
        "image": m.DEFAULT_IMAGE,
        "script_text": SCRIPT,
        "run_id": "run-1",
        "interval_s": 120,
    }
    args.update(kw)
    return m.keeper_daemonset_manifest(**args)


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


def _assert_secure_pod_spec(spec: dict[str, Any], script_text: str) -> None:
    assert spec["hostPID"] is True
    assert spec["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in spec
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["priorityClassName"] == "system-node-critical"
    (c,) = spec["containers"]
    assert c["securityContext"] == {"privileged": True}
    assert c["command"][:2] == ["/bin/sh", "-c"]
    res = c["resources"]
    assert res["requests"] == {"cpu": "10m", "memory": "32Mi"}
    assert set(res["limits"]) == {"cpu", "memory"}
    env = _env(c)
    assert env["AKSAUDIT_SCRIPT_SHA256"] == hashlib.sha256(script_text.encode()).hexdigest()
    assert c["volumeMounts"] == [
        {"name": "node-script", "mountPath": "/aksaudit", "readOnly": True}
    ]
    (vol,) = spec["volumes"]
    assert vol["configMap"]["items"] == [{"key": "node.sh", "path": "node.sh"}]
    # Only the ConfigMap volume: no hostPath, no secret, no projected token.
    assert set(vol) == {"name", "configMap"}


def test_namespace_is_privileged_and_ours() -> None:
    ns = m.namespace_manifest()
    assert ns["metadata"]["name"] == "aksaudit-system"
    assert ns["metadata"]["labels"] == {
        "pod-security.kubernetes.io/enforce": "privileged",
        "app.kubernetes.io/managed-by": "aksaudit",
    }


def test_configmap_holds_script_and_rules() -> None:
    cm = m.configmap_manifest("ns", SCRIPT, RULES, "run-1")
    assert cm["metadata"]["name"] == "aksaudit-node-script"
    assert cm["data"] == {"node.sh": SCRIPT, "aksaudit.rules": RULES}
    assert cm["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "aksaudit"
    assert cm["metadata"]["annotations"]["aksaudit.io/script-sha256"] == m.script_sha256(SCRIPT)


def test_oneshot_pod_security_and_pinning() -> None:
    pod = _oneshot()
    spec = pod["spec"]
    _assert_secure_pod_spec(spec, SCRIPT)
    assert spec["nodeName"] == "aks-system-12345678-vmss000000"
    assert spec["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 600
    assert "affinity" not in spec and "nodeSelector" not in spec  # nodeName skips the scheduler
    assert pod["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "aksaudit",
        "aksaudit.io/run": "run-1",
        "aksaudit.io/role": "oneshot",
    }
    assert pod["metadata"]["name"] == "aksaudit-apply-aks-system-12345678-vmss000000"
    c = spec["containers"][0]
    assert c["image"] == "example.azurecr.io/busybox:1.36.1"
    assert _env(c)["AKSAUDIT_MODE"] == "apply"
    assert c["command"][2] == m.ONESHOT_LAUNCHER
    assert "readinessProbe" not in c
    assert spec["volumes"][0]["configMap"]["name"] == "cm"


def test_pod_names_fit_63_and_stay_distinct() -> None:
    long_a = "aks-averyveryverylongnodepoolname-12345678-vmss00000a" + "x" * 20
    long_b = long_a[:-1] + "y"
    a, b = m.pod_name("remove", long_a), m.pod_name("remove", long_b)
    assert len(a) <= 63 and len(b) <= 63 and a != b
    assert a.startswith("aksaudit-remove-aks-")
    assert m.pod_name("check", "Node_A") == "aksaudit-check-node-a"
    assert len(m.oneshot_configmap_name("r" * 100)) <= 63


def test_keeper_daemonset() -> None:
    ds = _keeper()
    tmpl = ds["spec"]["template"]
    spec = tmpl["spec"]
    _assert_secure_pod_spec(spec, SCRIPT)
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    exprs = terms["nodeSelectorTerms"][0]["matchExpressions"]
    assert {"key": "type", "operator": "NotIn", "values": ["virtual-kubelet"]} in exprs
    assert "nodeName" not in spec
    c = spec["containers"][0]
    assert c["image"] == m.DEFAULT_IMAGE and ":" in c["image"].rsplit("/", 1)[-1]
    assert not c["image"].endswith(":latest")
    assert c["command"][2] == m.KEEPER_LAUNCHER
    assert c["readinessProbe"]["exec"]["command"] == [
        "/bin/sh",
        "-c",
        "test -f ${AKSAUDIT_RUN:-/tmp}/aksaudit-ready",
    ]
    assert _env(c)["AKSAUDIT_KEEPER_INTERVAL"] == "120"
    for meta in (ds["metadata"], tmpl["metadata"]):
        assert meta["labels"] == {
            "app.kubernetes.io/managed-by": "aksaudit",
            "aksaudit.io/run": "run-1",
            "aksaudit.io/role": "keeper",
        }
    # The selector (immutable) must not carry the run id.
    assert "aksaudit.io/run" not in ds["spec"]["selector"]["matchLabels"]
    assert tmpl["metadata"]["annotations"]["aksaudit.io/script-sha256"] == m.script_sha256(SCRIPT)


def test_keeper_spec_hash_ignores_run_but_not_script() -> None:
    a, b = _keeper(run_id="run-1"), _keeper(run_id="run-2")
    c = _keeper(script_text=SCRIPT + "# changed\n")
    sha = m.ANNOTATION_SPEC_SHA
    assert a["metadata"]["annotations"][sha] == b["metadata"]["annotations"][sha]
    assert a["metadata"]["annotations"][sha] != c["metadata"]["annotations"][sha]
    # The template annotation changes with the script, so the DaemonSet rolls its pods.
    assert (
        a["spec"]["template"]["metadata"]["annotations"]
        != c["spec"]["template"]["metadata"]["annotations"]
    )
    assert _keeper() == _keeper()  # deterministic


def test_no_secret_anywhere() -> None:
    blobs = [
        json.dumps(x)
        for x in (
            _oneshot(),
            _keeper(),
            m.namespace_manifest(),
            m.admission_probe_pod("ns", m.DEFAULT_IMAGE, "a" * 64),
        )
    ]
    for blob in blobs:
        for word in SECRETISH:
            assert word not in blob.replace("AKSAUDIT_", ""), word
        assert '"secret"' not in blob and "projected" not in blob


def test_admission_probe_pod_has_the_same_privileges() -> None:
    pod = m.admission_probe_pod("ns", "img:1", "a" * 64)
    spec = pod["spec"]
    assert spec["hostPID"] is True
    assert spec["containers"][0]["securityContext"] == {"privileged": True}


# --- the launcher, run for real ----------------------------------------------------------------

SHELLS = [s for s in ("sh", "dash", "busybox") if shutil.which(s)]


def _launcher_env(tmp_path: Path, script: str, sha: str | None = None) -> dict[str, str]:
    mount = tmp_path / "mount"
    run = tmp_path / "run"
    bindir = tmp_path / "bin"
    for d in (mount, run, bindir):
        d.mkdir(exist_ok=True)
    (mount / "node.sh").write_text(script)
    nsenter = bindir / "nsenter"
    # Like the real nsenter: consume options up to "--", then run the command.
    nsenter.write_text(
        '#!/bin/sh\necho "nsenter $*" >> "$AKSAUDIT_TEST_LOG"\n'
        'while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n'
    )
    nsenter.chmod(0o755)
    return {
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "AKSAUDIT_MOUNT": str(mount),
        "AKSAUDIT_RUN": str(run),
        "AKSAUDIT_SCRIPT_SHA256": sha if sha is not None else m.script_sha256(script),
        "AKSAUDIT_MODE": "check",
        "AKSAUDIT_TEST_LOG": str(tmp_path / "calls.log"),
    }


def _shell_cmd(shell: str, launcher: str) -> list[str]:
    return [shell, "sh", "-c", launcher] if shell == "busybox" else [shell, "-c", launcher]


@pytest.mark.parametrize("shell", SHELLS)
def test_oneshot_launcher_runs_verified_script_through_nsenter(tmp_path: Path, shell: str) -> None:
    env = _launcher_env(tmp_path, SCRIPT)
    p = subprocess.run(
        _shell_cmd(shell, m.ONESHOT_LAUNCHER), env=env, capture_output=True, text=True, timeout=30
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "node script running in mode check" in p.stdout
    assert p.stdout.strip().splitlines()[-1].startswith('{"aksaudit": 1, "mode": "check"')
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls[0] == "nsenter -t 1 -m -u -i -n -p -- sh -s -- check"


@pytest.mark.parametrize("shell", SHELLS)
def test_oneshot_launcher_refuses_tampered_script(tmp_path: Path, shell: str) -> None:
    env = _launcher_env(tmp_path, SCRIPT)
    (Path(env["AKSAUDIT_MOUNT"]) / "node.sh").write_text(SCRIPT + "rm -rf /  # injected\n")
    p = subprocess.run(
        _shell_cmd(shell, m.ONESHOT_LAUNCHER), env=env, capture_output=True, text=True, timeout=30
    )
    assert p.returncode != 0
    assert "refusing to run node.sh" in p.stdout
    assert "does not match AKSAUDIT_SCRIPT_SHA256" in p.stdout
    assert not (tmp_path / "calls.log").exists()  # nsenter never ran


def test_launcher_refuses_without_sha(tmp_path: Path) -> None:
    env = _launcher_env(tmp_path, SCRIPT, sha="")
    p = subprocess.run(
        ["sh", "-c", m.ONESHOT_LAUNCHER], env=env, capture_output=True, text=True, timeout=30
    )
    assert p.returncode != 0 and "AKSAUDIT_SCRIPT_SHA256 is not set" in p.stdout
    assert not (tmp_path / "calls.log").exists()


def _wait_for(pred: Any, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_keeper_launcher_applies_checks_and_tracks_readiness(tmp_path: Path) -> None:
    # A node script whose check fails once (drift) while a flag file exists.
    drift = tmp_path / "drift"
    script = (
        '#!/bin/sh\necho "$1" >> "$AKSAUDIT_TEST_LOG"\n'
        f'if [ "$1" = check ] && [ -e {drift} ]; then rm -f {drift}; '
        'echo \'{"aksaudit": 1, "mode": "check", "ok": true, "compliant": false}\'; exit 3; fi\n'
        'echo \'{"aksaudit": 1, "mode": "\'"$1"\'", "ok": true, "compliant": true}\'\n'
    )
    env = _launcher_env(tmp_path, script)
    env["AKSAUDIT_MODE"] = "apply"
    env["AKSAUDIT_KEEPER_INTERVAL"] = "1"
    ready = Path(env["AKSAUDIT_RUN"]) / "aksaudit-ready"
    log = tmp_path / "calls.log"
    proc = subprocess.Popen(
        ["sh", "-c", m.KEEPER_LAUNCHER], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert _wait_for(ready.exists)
        assert log.read_text().splitlines()[:2] == [
            "nsenter -t 1 -m -u -i -n -p -- sh -s -- apply",
            "apply",
        ]
        drift.touch()
        # check finds drift -> not ready -> re-apply -> ready again

        def modes() -> list[str]:
            return [ln for ln in log.read_text().splitlines() if not ln.startswith("nsenter")]

        def reapplied() -> bool:
            seen = modes()
            return any(a == "check" and b == "apply" for a, b in itertools.pairwise(seen))

        assert _wait_for(reapplied, 10)
        assert modes()[0] == "apply" and not drift.exists()
        assert _wait_for(ready.exists)
        # The readiness probe command as the kubelet runs it.
        probe = subprocess.run(m.READINESS_COMMAND, env=env, timeout=5)
        assert probe.returncode == 0
        # Tamper with the script: the keeper refuses and exits non-zero, readiness drops.
        (Path(env["AKSAUDIT_MOUNT"]) / "node.sh").write_text(script + "# tampered\n")
        assert proc.wait(timeout=10) != 0
        assert not ready.exists()
        assert subprocess.run(m.READINESS_COMMAND, env=env, timeout=5).returncode != 0
        assert proc.stdout is not None
        assert "refusing to run node.sh" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=5)


def test_keeper_launcher_not_ready_when_script_fails(tmp_path: Path) -> None:
    script = (
        '#!/bin/sh\necho "$1" >> "$AKSAUDIT_TEST_LOG"\n'
        'echo \'{"aksaudit": 1, "mode": "apply", "ok": false, "errors": ["apt-get failed"]}\'\n'
        "exit 1\n"
    )
    env = _launcher_env(tmp_path, script)
    env["AKSAUDIT_MODE"] = "apply"
    env["AKSAUDIT_KEEPER_INTERVAL"] = "60"
    (Path(env["AKSAUDIT_RUN"]) / "aksaudit-ready").touch()  # stale from an earlier container
    p = subprocess.run(
        ["sh", "-c", m.KEEPER_LAUNCHER], env=env, capture_output=True, text=True, timeout=30
    )
    # A failed apply exits non-zero (the kubelet restarts it with back-off: CrashLoopBackOff).
    assert p.returncode == 1
    assert "apt-get failed" in p.stdout and "exiting so the kubelet retries (back-off)" in p.stdout
    assert not (Path(env["AKSAUDIT_RUN"]) / "aksaudit-ready").exists()


def test_keeper_launcher_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = _launcher_env(tmp_path, SCRIPT)
    env["AKSAUDIT_KEEPER_INTERVAL"] = "60"
    ready = Path(env["AKSAUDIT_RUN"]) / "aksaudit-ready"
    proc = subprocess.Popen(["sh", "-c", m.KEEPER_LAUNCHER], env=env, stdout=subprocess.PIPE)
    try:
        assert _wait_for(ready.exists)
        proc.send_signal(signal.SIGTERM)  # PID-1 style: the trap exits at once, not after 60 s
        assert proc.wait(timeout=5) == 0
        assert not ready.exists()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_launcher_names_a_missing_tool(tmp_path: Path) -> None:
    env = _launcher_env(tmp_path, SCRIPT)
    # A PATH with sh and the basics but no nsenter (an image without it).
    bindir = tmp_path / "minbin"
    bindir.mkdir()
    for tool in ("sh", "cp", "sha256sum", "mv", "rm"):
        src = shutil.which(tool)
        assert src is not None
        (bindir / tool).symlink_to(src)
    env["PATH"] = str(bindir)
    p = subprocess.run(
        [str(bindir / "sh"), "-c", m.ONESHOT_LAUNCHER],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 4
    assert "no nsenter on PATH" in p.stdout


@pytest.mark.parametrize("launcher", [m.ONESHOT_LAUNCHER, m.KEEPER_LAUNCHER])
def test_launchers_pass_shellcheck_as_posix_sh(tmp_path: Path, launcher: str) -> None:
    assert shutil.which("shellcheck"), "CI installs shellcheck"
    f = tmp_path / "launcher.sh"
    f.write_text(launcher)
    p = subprocess.run(
        ["shellcheck", "-s", "sh", str(f)], capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0, p.stdout

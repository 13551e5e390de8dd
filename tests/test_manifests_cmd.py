"""Issue 10 point 7: `aksaudit manifests PLAN` prints every object exactly as apply sends it.

Proof through the real code paths: the CLI applies a keeper plan to the emulator, then
`aksaudit manifests --run-id <that run>` prints the objects; the real `kubernetes` client reads
what the emulator stored, and every printed field is there with the same value (the server adds
only its own fields: uid, resourceVersion, status, defaults). `--out` writes the same objects as a
kustomize folder, atomically; bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

from kubernetes import client, config
from ruamel.yaml import YAML

from aksaudit_tui.errors import EXIT_OK, EXIT_USAGE
from engine_helpers import aksaudit_cmd, cli_env, scenario
from test_plan_io import GOOD

CLUSTER, WORKSPACE = "aks-prod-weu", "law-prod-weu"


def _sh(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*aksaudit_cmd(), *args], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _docs(text: str) -> list[dict[str, Any]]:
    return [json.loads(json.dumps(d)) for d in YAML(typ="safe").load_all(io.StringIO(text)) if d]


def _missing(sent: Any, stored: Any, path: str = "") -> list[str]:
    """Where ``stored`` lacks or differs from ``sent`` (dicts: every key of sent; lists: same
    length, item by item; scalars: equal)."""
    if isinstance(sent, dict):
        if not isinstance(stored, dict):
            return [path or "/"]
        return [p for k, v in sent.items() for p in _missing(v, stored.get(k), f"{path}/{k}")]
    if isinstance(sent, list):
        if not isinstance(stored, list) or len(stored) != len(sent):
            return [path]
        return [p for i, v in enumerate(sent) for p in _missing(v, stored[i], f"{path}/{i}")]
    return [] if sent == stored else [path]


def _stored(api: client.ApiClient, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    adm = client.AdmissionregistrationV1Api(api)
    read = {
        "ValidatingAdmissionPolicy": lambda: adm.read_validating_admission_policy(
            meta["name"], _preload_content=False
        ),
        "ValidatingAdmissionPolicyBinding": lambda: adm.read_validating_admission_policy_binding(
            meta["name"], _preload_content=False
        ),
        "Namespace": lambda: core.read_namespace(meta["name"], _preload_content=False),
        "ConfigMap": lambda: core.read_namespaced_config_map(
            meta["name"], meta["namespace"], _preload_content=False
        ),
        "DaemonSet": lambda: apps.read_namespaced_daemon_set(
            meta["name"], meta["namespace"], _preload_content=False
        ),
    }[obj["kind"]]
    data: dict[str, Any] = json.loads(read().data)
    return data


def test_manifests_are_what_apply_sent(make_emulator: Any, tmp_path: Path) -> None:
    emu = make_emulator(scenario())
    env = cli_env(emu, tmp_path / "state")
    plan = tmp_path / "plan.yaml"
    made = _sh(env, "plan", "--cluster", CLUSTER, "--workspace", WORKSPACE, "--delivery", "keeper",
               "--presets", "identity-and-config", "--out", str(plan), cwd=tmp_path)  # fmt: skip
    assert made.returncode == EXIT_OK, made.stderr
    applied = _sh(env, "apply", str(plan), "--yes", "--no-verify", "--json", cwd=tmp_path)
    assert applied.returncode == EXIT_OK, applied.stderr[-2000:]
    run_id = json.loads(applied.stdout.splitlines()[0])["run_id"]

    printed = _sh(env, "manifests", str(plan), "--run-id", run_id, cwd=tmp_path)
    assert printed.returncode == EXIT_OK, printed.stderr
    objs = _docs(printed.stdout)
    assert [o["kind"] for o in objs] == [
        "Namespace", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
        "ConfigMap", "DaemonSet",
    ]  # fmt: skip

    api = config.new_client_from_config(config_file=emu.info.kubeconfig, context=CLUSTER)
    try:
        for obj in objs:
            stored = _stored(api, obj)
            assert _missing(obj, stored) == [], (obj["kind"], _missing(obj, stored))
    finally:
        api.close()
    # the script in the ConfigMap is the one the pods verify (sha256 in the DaemonSet's env)
    ds_env = objs[4]["spec"]["template"]["spec"]["containers"][0]["env"]
    sha = {e["name"]: e["value"] for e in ds_env}["AKSAUDIT_SCRIPT_SHA256"]
    assert objs[3]["metadata"]["annotations"]["aksaudit.io/script-sha256"] == sha

    # --out: the same objects, one file each, listed by kustomization.yaml
    out = tmp_path / "bundle"
    wrote = _sh(env, "manifests", str(plan), "--run-id", run_id, "--out", str(out), cwd=tmp_path)
    assert wrote.returncode == EXIT_OK, wrote.stderr
    kust = YAML(typ="safe").load((out / "kustomization.yaml").read_text())
    assert kust["kind"] == "Kustomization"
    files = [_docs((out / name).read_text()) for name in kust["resources"]]
    assert [f[0] for f in files] == objs and all(len(f) == 1 for f in files)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*kust["resources"], "kustomization.yaml", ".aksaudit-manifests"]
    )


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home")}  # (its log file goes there)
    work = tmp_path / "work"
    work.mkdir()
    bad = work / "bad.yaml"
    bad.write_text("version: 1\nclusters: [\n")
    out = work / "bundle"
    for args in (["nope.yaml"], [str(bad)], [str(bad), "--out", str(out)]):
        p = _sh(env, "manifests", *args, cwd=work)
        assert p.returncode == EXIT_USAGE and p.stdout == ""
        assert p.stderr.count("\n") == 1 and p.stderr.startswith("aksaudit: error: ")
    assert sorted(x.name for x in work.iterdir()) == ["bad.yaml"]  # no folder, no temp
    good = work / "plan.yaml"
    good.write_text(GOOD)
    mine = work / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("x")
    p = _sh(env, "manifests", str(good), "--out", str(mine), cwd=work)
    assert p.returncode == EXIT_USAGE and "was not written by 'aksaudit manifests'" in p.stderr
    assert [x.name for x in mine.iterdir()] == ["keep.txt"]
    assert sorted(x.name for x in work.iterdir()) == ["bad.yaml", "mine", "plan.yaml"]


def test_one_shot_plans_show_the_pod_each_node_gets(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(GOOD.replace("delivery: keeper", "delivery: one-shot"))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home")}
    p = _sh(env, "manifests", str(plan), cwd=tmp_path)
    assert p.returncode == EXIT_OK, p.stderr
    ns, policy, binding, cm, template = _docs(p.stdout)
    assert (ns["kind"], cm["kind"], template["kind"]) == ("Namespace", "ConfigMap", "PodTemplate")
    assert (policy["kind"], binding["kind"]) == (
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    )  # fmt: skip
    # the fence admits exactly the image the pods run
    image = template["template"]["spec"]["containers"][0]["image"]
    assert any(image in v["expression"] for v in policy["spec"]["validations"])
    assert cm["metadata"]["name"] == "aksaudit-node-script-manifests"  # the run's own ConfigMap
    pod = template["template"]
    assert "nodeName" not in pod["spec"] and pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["volumes"][0]["configMap"]["name"] == cm["metadata"]["name"]
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert (
        env["AKSAUDIT_SCRIPT_SHA256"] == cm["metadata"]["annotations"]["aksaudit.io/script-sha256"]
    )
    assert env["AKSAUDIT_MODE"] == "apply"

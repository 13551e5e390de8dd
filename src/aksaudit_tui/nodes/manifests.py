"""Kubernetes objects the tool creates: namespace, ConfigMap, keeper DaemonSet, one-shot pods.

Pure functions returning plain dicts (the kubernetes client sends dicts as they are), so the
manifests are easy to assert on and deterministic: the same inputs give the same objects.

Security model (see docs/ARCHITECTURE.md, "Pods"): the pods are privileged with ``hostPID`` so
they can ``nsenter`` into the host, but they carry no service account token, ask for little CPU
and memory, run a pinned image, and the launcher refuses to run a node script whose sha256 differs
from the value baked into the pod spec, so edit rights on the ConfigMap do not give root on every
node.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from aksaudit_tui.nodes.image import pull_policy

DEFAULT_NAMESPACE = "aksaudit-system"
# Azure Linux 3 busybox (has sh, sha256sum, cp, tee, nsenter). The tag `aksaudit plan` resolves
# to a digest (nodes.image); overridable by the plan (a mirror, or a digest given directly).
DEFAULT_IMAGE = "mcr.microsoft.com/azurelinux/busybox:1.36"
SCRIPT_CONFIGMAP = "aksaudit-node-script"
KEEPER_NAME = "aksaudit-keeper"
CONTAINER_NAME = "aksaudit"
MOUNT_PATH = "/aksaudit"
SCRIPT_KEY = "node.sh"
RULES_KEY = "aksaudit.rules"

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "aksaudit"
LABEL_RUN = "aksaudit.io/run"
LABEL_ROLE = "aksaudit.io/role"
ANNOTATION_SCRIPT_SHA = "aksaudit.io/script-sha256"
ANNOTATION_SPEC_SHA = "aksaudit.io/spec-sha256"
ANNOTATION_PLAN_SHA = "aksaudit.io/plan-sha256"  # on our namespace: the plan that created it
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"

MANAGED_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY_VALUE}"
KEEPER_SELECTOR = f"{MANAGED_SELECTOR},{LABEL_ROLE}=keeper"

# OS SKUs whose host filesystem is immutable (no package install): the keeper avoids them.
IMMUTABLE_OS_SKUS: tuple[str, ...] = (
    "Flatcar",
    "AzureContainerLinux",
    "AzureLinuxOSGuard",
    "AzureLinux3OSGuard",
)
OS_SKU_LABEL = "kubernetes.azure.com/os-sku-effective"

Role = Literal["keeper", "oneshot"]
ScriptMode = Literal["apply", "check", "remove"]

REQUESTS = {"cpu": "10m", "memory": "32Mi"}
# apt/dpkg run inside the pod's cgroup (nsenter does not change cgroups): leave them headroom.
LIMITS = {"cpu": "500m", "memory": "256Mi"}

# --- the launcher --------------------------------------------------------------------------------
# Common part: copy node.sh out of the ConfigMap volume, hash the copy and run only the copy, so
# the bytes checked are the bytes run even if the volume changes in between.
_LAUNCHER_COMMON = r"""set -u
log() { printf 'aksaudit-launcher: %s\n' "$*"; }
src="${AKSAUDIT_MOUNT:-/aksaudit}/node.sh"
run="${AKSAUDIT_RUN:-/tmp}"
want="${AKSAUDIT_SCRIPT_SHA256:-}"
copy="$run/aksaudit-node.sh"
for tool in nsenter sha256sum cp; do
  command -v "$tool" >/dev/null 2>&1 || {
    log "the container image has no $tool on PATH; use an image with busybox or util-linux"
    exit 4
  }
done
verify() {
  if [ -z "$want" ]; then
    log "refusing to run: AKSAUDIT_SCRIPT_SHA256 is not set in the pod spec"; return 1
  fi
  if ! cp "$src" "$copy.tmp"; then log "refusing to run: cannot read $src"; return 1; fi
  got=$(sha256sum < "$copy.tmp") || { log "refusing to run: sha256sum failed"; return 1; }
  got=${got%% *}
  if [ "$got" != "$want" ]; then
    log "refusing to run node.sh: its sha256 $got does not match AKSAUDIT_SCRIPT_SHA256" \
      "$want in the pod spec (the ConfigMap was changed outside aksaudit; run aksaudit apply again)"
    rm -f "$copy.tmp"; return 1
  fi
  mv -f "$copy.tmp" "$copy"
}
run_node() { nsenter -t 1 -m -u -i -n -p -- sh -s -- "$1" < "$copy"; }
"""

ONESHOT_LAUNCHER = (
    _LAUNCHER_COMMON
    + r"""verify || exit 3
mode="${AKSAUDIT_MODE:-apply}"
log "running node script (mode $mode, sha256 $want)"
run_node "$mode"
"""
)

# The keeper: apply, then check every interval and re-apply on drift. The readiness file tracks
# the last JSON status (ok and compliant); the readinessProbe only tests that file. A failed apply
# exits non-zero: the kubelet retries it with back-off and the pod shows CrashLoopBackOff, which
# is how a rollout learns early that a node cannot be configured (and why).
KEEPER_LAUNCHER = (
    _LAUNCHER_COMMON
    + r"""ready="$run/aksaudit-ready"
out="$run/aksaudit-last.log"
interval="${AKSAUDIT_KEEPER_INTERVAL:-300}"
trap 'rm -f "$ready"; exit 0' TERM INT
pass() {
  verify || { rm -f "$ready"; exit 3; }
  run_node "$1" 2>&1 | tee "$out"
  last=$(grep '^{.*"aksaudit"' "$out" | tail -n 1)
  case "$last" in
    *'"compliant": false'*|*'"compliant":false'*) ;;
    *'"ok": true'*|*'"ok":true'*) touch "$ready"; return 0 ;;
  esac
  rm -f "$ready"; return 1
}
rm -f "$ready"
mode="${AKSAUDIT_MODE:-apply}"
log "keeper starting (mode $mode, every ${interval}s check, sha256 $want)"
fail() { log "node script did not report ok; exiting so the kubelet retries (back-off)"; exit 1; }
pass "$mode" || fail
while :; do
  sleep "$interval" & wait $!
  if ! pass check; then
    log "drift or error found; re-applying"
    pass "$mode" || fail
  fi
done
"""
)

READINESS_COMMAND = ["/bin/sh", "-c", "test -f ${AKSAUDIT_RUN:-/tmp}/aksaudit-ready"]

_DNS_LABEL_RE = re.compile(r"[^a-z0-9-]+")


def script_sha256(script_text: str) -> str:
    """Hex sha256 of the script bytes as the ConfigMap stores them (UTF-8)."""
    return hashlib.sha256(script_text.encode("utf-8")).hexdigest()


def _dns_label(text: str, limit: int = 63) -> str:
    """A DNS-1123 label from ``text``: lower case, [a-z0-9-], at most ``limit`` characters;
    long names keep a hash suffix so two long names do not collide."""
    clean = _DNS_LABEL_RE.sub("-", text.lower()).strip("-") or "x"
    if len(clean) <= limit:
        return clean
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{clean[: limit - 9].rstrip('-')}-{digest}"


def label_value(text: str) -> str:
    """A valid label value (<= 63 chars, alphanumeric at both ends)."""
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")
    if len(clean) <= 63:
        return clean
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{clean[:54].rstrip('-_.')}-{digest}"


def pod_name(mode: str, node: str) -> str:
    """``aksaudit-<mode>-<node>``, shortened with a hash suffix to fit 63 characters."""
    return _dns_label(f"aksaudit-{mode}-{node}")


def oneshot_configmap_name(run_id: str) -> str:
    """One-shot runs use their own ConfigMap so they never disturb a keeper's script."""
    return _dns_label(f"{SCRIPT_CONFIGMAP}-{run_id}")


def labels(run_id: str, role: Role | None = None) -> dict[str, str]:
    d = {LABEL_MANAGED_BY: MANAGED_BY_VALUE, LABEL_RUN: label_value(run_id)}
    if role is not None:
        d[LABEL_ROLE] = role
    return d


def spec_sha256(manifest: dict[str, Any]) -> str:
    """Hash of a manifest without its run label and our own spec annotation: equal hashes mean
    nothing that matters changed, so a second apply does not roll the keeper pods."""

    def strip(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {
                k: strip(v) for k, v in obj.items() if k not in (LABEL_RUN, ANNOTATION_SPEC_SHA)
            }
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    blob = json.dumps(strip(manifest), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def namespace_manifest(name: str = DEFAULT_NAMESPACE, plan_sha: str = "") -> dict[str, Any]:
    """Our namespace: Pod Security `privileged` (the pods need hostPID + privileged), annotated
    with the hash of the plan that created it (``aksaudit cleanup`` deletes only namespaces
    with our label and that annotation: a label alone is easy to copy)."""
    meta: dict[str, Any] = {
        "name": name,
        "labels": {
            PSA_ENFORCE: "privileged",
            LABEL_MANAGED_BY: MANAGED_BY_VALUE,
        },
    }
    if plan_sha:
        meta["annotations"] = {ANNOTATION_PLAN_SHA: plan_sha}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def configmap_manifest(
    namespace: str,
    script_text: str,
    rules_text: str,
    run_id: str,
    name: str = SCRIPT_CONFIGMAP,
) -> dict[str, Any]:
    """The node script (key ``node.sh``) and, for reference only, the rules it embeds."""
    sha = script_sha256(script_text)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels(run_id),
            "annotations": {ANNOTATION_SCRIPT_SHA: sha},
        },
        "data": {SCRIPT_KEY: script_text, RULES_KEY: rules_text},
    }


def _container(image: str, launcher: str, env: dict[str, str], readiness: bool) -> dict[str, Any]:
    c: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": image,
        "imagePullPolicy": pull_policy(image),
        "command": ["/bin/sh", "-c", launcher],
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "securityContext": {"privileged": True},
        "resources": {"requests": dict(REQUESTS), "limits": dict(LIMITS)},
        "volumeMounts": [{"name": "node-script", "mountPath": MOUNT_PATH, "readOnly": True}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if readiness:
        c["readinessProbe"] = {
            "exec": {"command": list(READINESS_COMMAND)},
            "initialDelaySeconds": 2,
            "periodSeconds": 5,
            "failureThreshold": 1,
        }
    return c


def _pod_spec(
    *,
    image: str,
    launcher: str,
    env: dict[str, str],
    configmap: str,
    readiness: bool,
) -> dict[str, Any]:
    return {
        "hostPID": True,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "priorityClassName": "system-node-critical",
        "tolerations": [{"operator": "Exists"}],
        "terminationGracePeriodSeconds": 10,
        "containers": [_container(image, launcher, env, readiness)],
        "volumes": [
            {
                "name": "node-script",
                "configMap": {
                    "name": configmap,
                    "items": [{"key": SCRIPT_KEY, "path": SCRIPT_KEY}],
                    "defaultMode": 0o444,
                },
            }
        ],
    }


def oneshot_pod_manifest(
    *,
    namespace: str,
    node: str,
    mode: ScriptMode,
    image: str,
    script_text: str,
    run_id: str,
    configmap: str,
    deadline_s: int = 600,
) -> dict[str, Any]:
    """A pod pinned to ``node`` that runs the node script once in ``mode`` and exits."""
    sha = script_sha256(script_text)
    spec = _pod_spec(
        image=image,
        launcher=ONESHOT_LAUNCHER,
        env={"AKSAUDIT_SCRIPT_SHA256": sha, "AKSAUDIT_MODE": mode},
        configmap=configmap,
        readiness=False,
    )
    spec["nodeName"] = node
    spec["restartPolicy"] = "Never"
    spec["activeDeadlineSeconds"] = int(deadline_s)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(mode, node),
            "namespace": namespace,
            "labels": labels(run_id, "oneshot"),
            "annotations": {ANNOTATION_SCRIPT_SHA: sha, "aksaudit.io/node": node},
        },
        "spec": spec,
    }


def keeper_daemonset_manifest(
    *,
    namespace: str,
    image: str,
    script_text: str,
    run_id: str,
    interval_s: int = 300,
    max_unavailable: int = 10,
    configmap: str = SCRIPT_CONFIGMAP,
) -> dict[str, Any]:
    """The keeper DaemonSet: one pod per Linux node (not virtual, not immutable OS), Ready when
    the node complies; a changed script changes the template annotation, which rolls the pods."""
    sha = script_sha256(script_text)
    spec = _pod_spec(
        image=image,
        launcher=KEEPER_LAUNCHER,
        env={
            "AKSAUDIT_SCRIPT_SHA256": sha,
            "AKSAUDIT_MODE": "apply",
            "AKSAUDIT_KEEPER_INTERVAL": str(int(interval_s)),
        },
        configmap=configmap,
        readiness=True,
    )
    spec["restartPolicy"] = "Always"
    spec["nodeSelector"] = {"kubernetes.io/os": "linux"}
    spec["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "type", "operator": "NotIn", "values": ["virtual-kubelet"]},
                            {
                                "key": OS_SKU_LABEL,
                                "operator": "NotIn",
                                "values": list(IMMUTABLE_OS_SKUS),
                            },
                        ]
                    }
                ]
            }
        }
    }
    selector = {LABEL_MANAGED_BY: MANAGED_BY_VALUE, LABEL_ROLE: "keeper"}
    ds: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": KEEPER_NAME,
            "namespace": namespace,
            "labels": labels(run_id, "keeper"),
            "annotations": {ANNOTATION_SCRIPT_SHA: sha},
        },
        "spec": {
            # The selector is immutable: it must not contain the run id.
            "selector": {"matchLabels": selector},
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": max(1, int(max_unavailable))},
            },
            "revisionHistoryLimit": 3,
            "template": {
                "metadata": {
                    "labels": labels(run_id, "keeper"),
                    "annotations": {ANNOTATION_SCRIPT_SHA: sha},
                },
                "spec": spec,
            },
        },
    }
    sha_spec = spec_sha256(ds)
    ds["metadata"]["annotations"][ANNOTATION_SPEC_SHA] = sha_spec
    ds["spec"]["template"]["metadata"]["annotations"][ANNOTATION_SPEC_SHA] = sha_spec
    return ds


def admission_probe_pod(namespace: str, image: str, script_sha: str) -> dict[str, Any]:
    """The pod a server-side dry run creates to ask admission whether our pods may run; it
    carries the run's script sha256 so it passes our own fence exactly as the run's pods must."""
    spec = _pod_spec(
        image=image,
        launcher=ONESHOT_LAUNCHER,  # never runs (dry run), but must pass our own fence
        env={"AKSAUDIT_SCRIPT_SHA256": script_sha, "AKSAUDIT_MODE": "check"},
        configmap=SCRIPT_CONFIGMAP,
        readiness=False,
    )
    spec["restartPolicy"] = "Never"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "aksaudit-admission-check",
            "namespace": namespace,
            "labels": {LABEL_MANAGED_BY: MANAGED_BY_VALUE, LABEL_ROLE: "oneshot"},
        },
        "spec": spec,
    }


# --- the fence: a ValidatingAdmissionPolicy on our namespace ---------------------------------
# Pod Security `privileged` lets anyone who may create pods (or edit the DaemonSet) in our
# namespace run anything as root on every node. The fence admits there only pods and DaemonSet
# templates of exactly our shape. It is cluster-scoped, so namespace editors cannot change it.
ADMISSION_API = "admissionregistration.k8s.io/v1"
FENCE_MIN_MINOR = 30  # ValidatingAdmissionPolicy is GA (admissionregistration v1) from 1.30
FENCE_ENV = ("AKSAUDIT_SCRIPT_SHA256", "AKSAUDIT_MODE", "AKSAUDIT_KEEPER_INTERVAL")
FENCE_ROLES = ("keeper", "oneshot")
VOLUME_NAME = "node-script"
SHA_ENV = "AKSAUDIT_SCRIPT_SHA256"
# On the policy (cluster-scoped, so namespace editors cannot change it): the script sha256 values
# it admits, comma-separated, so the next run knows which keeper script was ours.
ANNOTATION_FENCE_SHAS = "aksaudit.io/admitted-script-sha256"
_SHA_RE = re.compile(r"[0-9a-f]{64}")


def is_sha256(text: str) -> bool:
    return _SHA_RE.fullmatch(text) is not None


def fence_shas(*shas: str | None) -> tuple[str, ...]:
    """The script sha256 values a fence admits: the given ones in order, each once, empty ones
    left out. Raises ValueError for anything but 64 lower-case hex digits (it goes into CEL)."""
    out: list[str] = []
    for sha in shas:
        if not sha or sha in out:
            continue
        if not is_sha256(sha):
            raise ValueError(f"not a sha256 hex digest: {sha!r}")
        out.append(sha)
    if not out:
        raise ValueError("a fence needs at least one script sha256")
    return tuple(out)


def fence_name(namespace: str) -> str:
    """The policy's (and its binding's) name: one fence per namespace of ours."""
    return _dns_label(f"aksaudit-fence-{namespace}")


def fence_supported(kube_version: str) -> bool:
    """Whether a cluster's version (``v1.32.6``, ``1.29``) serves admissionregistration v1
    ValidatingAdmissionPolicy; an unreadable version counts as supported (the create says)."""
    m_ = re.match(r"v?(\d+)\.(\d+)", kube_version.strip())
    if m_ is None:
        return True
    return (int(m_.group(1)), int(m_.group(2))) >= (1, FENCE_MIN_MINOR)


def fence_warning(namespace: str, kube_version: str) -> str:
    return (
        f"Kubernetes {kube_version} has no ValidatingAdmissionPolicy (needs >= 1.{FENCE_MIN_MINOR})"
        f": namespace {namespace} is not fenced, so anyone who may create pods there gets root "
        "on every node"
    )


def _cel(text: str) -> str:
    """A CEL double-quoted string literal of ``text``."""
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


def _cel_list(items: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(_cel(i) for i in items) + "]"


def launcher_commands() -> tuple[list[str], ...]:
    """Every container command our pods run (one-shot, keeper, the admission probe)."""
    return tuple(["/bin/sh", "-c", text] for text in (ONESHOT_LAUNCHER, KEEPER_LAUNCHER))


def admission_policy_manifest(
    namespace: str, image: str, script_shas: tuple[str, ...]
) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy admitting in ``namespace`` only our pod shape: exactly one
    container, the pinned ``image``, one of our launcher commands, no args, only our env names
    (literal values, no ``valueFrom``), exactly one ``AKSAUDIT_SCRIPT_SHA256`` whose value is one
    of ``script_shas`` (the launcher runs only a script with that hash, so a ConfigMap of someone
    else's script never runs), only the node-script ConfigMap volume, our labels."""
    shas = fence_shas(*script_shas)
    where = f"aksaudit fence on namespace {namespace}"
    cmds = " || ".join(f"c.command == {_cel_list(cmd)}" for cmd in launcher_commands())
    validations = [
        (
            "size(variables.spec.containers) == 1"
            " && (!has(variables.spec.initContainers) || size(variables.spec.initContainers) == 0)"
            " && (!has(variables.spec.ephemeralContainers)"
            " || size(variables.spec.ephemeralContainers) == 0)",
            f"{where}: only the single aksaudit container may run here",
        ),
        (
            f"variables.spec.containers.all(c, c.image == {_cel(image)})",
            f"{where}: the image must be {image}",
        ),
        (
            f"variables.spec.containers.all(c, has(c.command) && ({cmds})"
            " && (!has(c.args) || size(c.args) == 0))",
            f"{where}: the command must be the aksaudit launcher",
        ),
        (
            "variables.spec.containers.all(c, !has(c.envFrom)"
            f" && (!has(c.env) || c.env.all(e, e.name in {_cel_list(FENCE_ENV)}"
            " && !has(e.valueFrom))))",
            f"{where}: only the aksaudit environment variables are allowed",
        ),
        (
            # exactly one: with two entries of one name the container gets the last one
            f"variables.spec.containers.all(c, has(c.env) && c.env.exists_one(e, e.name == "
            f"{_cel(SHA_ENV)}) && c.env.all(e, e.name != {_cel(SHA_ENV)}"
            f" || (has(e.value) && e.value in {_cel_list(shas)})))",
            f"{where}: {SHA_ENV} must be the sha256 of a node script aksaudit rendered"
            f" ({', '.join(shas)})",
        ),
        (
            "has(variables.spec.volumes) && size(variables.spec.volumes) == 1"
            f" && variables.spec.volumes.all(v, v.name == {_cel(VOLUME_NAME)}"
            f" && has(v.configMap) && v.configMap.name.startsWith({_cel(SCRIPT_CONFIGMAP)}))",
            f"{where}: the only volume must be the node-script ConfigMap",
        ),
        (
            "has(variables.meta.labels)"
            f" && {_cel(LABEL_MANAGED_BY)} in variables.meta.labels"
            f" && variables.meta.labels[{_cel(LABEL_MANAGED_BY)}] == {_cel(MANAGED_BY_VALUE)}"
            f" && {_cel(LABEL_ROLE)} in variables.meta.labels"
            f" && variables.meta.labels[{_cel(LABEL_ROLE)}] in {_cel_list(FENCE_ROLES)}",
            f"{where}: the pod must carry the aksaudit labels",
        ),
    ]
    return {
        "apiVersion": ADMISSION_API,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {
            "name": fence_name(namespace),
            "labels": {LABEL_MANAGED_BY: MANAGED_BY_VALUE},
            "annotations": {ANNOTATION_FENCE_SHAS: ",".join(shas)},
        },
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["pods"],
                    },
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["daemonsets"],
                    },
                ]
            },
            "variables": [
                {
                    "name": "spec",
                    "expression": "object.kind == 'Pod' ? object.spec : object.spec.template.spec",
                },
                {
                    "name": "meta",
                    "expression": (
                        "object.kind == 'Pod' ? object.metadata : object.spec.template.metadata"
                    ),
                },
            ],
            "validations": [{"expression": e, "message": msg} for e, msg in validations],
        },
    }


def admission_binding_manifest(namespace: str) -> dict[str, Any]:
    """Binds the fence to ``namespace`` only (by its immutable name label), denying."""
    name = fence_name(namespace)
    return {
        "apiVersion": ADMISSION_API,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": {LABEL_MANAGED_BY: MANAGED_BY_VALUE}},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": namespace},
                }
            },
        },
    }

"""Pod Security admission (enforce mode) with the API server's exact refusal text.

Checks are reported in the admission plugin's order (sorted by check id), so messages read like
`violates PodSecurity "baseline:latest": host namespaces (hostPID=true), privileged (container "c"
must not set securityContext.privileged=true)`.
"""

from __future__ import annotations

from typing import Any

from .store import ApiError

ENFORCE = "pod-security.kubernetes.io/enforce"
ENFORCE_VERSION = "pod-security.kubernetes.io/enforce-version"

_BASELINE_CAPS = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key in ("initContainers", "containers", "ephemeralContainers"):
        out.extend(spec.get(key) or [])
    return out


def _quote_list(names: list[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _plural(word: str, names: list[str]) -> str:
    return f"{word}s {_quote_list(names)}" if len(names) > 1 else f"{word} {_quote_list(names)}"


def _baseline(spec: dict[str, Any]) -> dict[str, str]:
    """check id -> violation text."""
    found: dict[str, str] = {}
    containers = _containers(spec)
    caps = [
        (c["name"], a)
        for c in containers
        for a in ((c.get("securityContext") or {}).get("capabilities") or {}).get("add") or []
        if a not in _BASELINE_CAPS
    ]
    if caps:
        names = sorted({n for n, _ in caps})
        adds = ", ".join(f'"{a}"' for a in sorted({a for _, a in caps}))
        found["capabilities_baseline"] = (
            f"non-default capabilities ({_plural('container', names)} must not include {adds} in "
            "securityContext.capabilities.add)"
        )
    hosts = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    if hosts:
        found["hostNamespaces"] = f"host namespaces ({', '.join(hosts)})"
    host_paths = [v["name"] for v in spec.get("volumes") or [] if "hostPath" in v]
    if host_paths:
        found["hostPathVolumes"] = f"hostPath volumes ({_plural('volume', host_paths)})"
    ports = [
        (c["name"], p["hostPort"])
        for c in containers
        for p in c.get("ports") or []
        if p.get("hostPort")
    ]
    if ports:
        names = sorted({n for n, _ in ports})
        nums = ", ".join(str(p) for p in sorted({p for _, p in ports}))
        word = "hostPorts" if len(ports) > 1 else "hostPort"
        found["hostPorts"] = f"hostPort ({_plural('container', names)} uses {word} {nums})"
    priv = [c["name"] for c in containers if (c.get("securityContext") or {}).get("privileged")]
    if priv:
        found["privileged"] = (
            f"privileged ({_plural('container', priv)} must not set "
            "securityContext.privileged=true)"
        )
    return found


def _restricted(spec: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    containers = _containers(spec)
    pod_sc = spec.get("securityContext") or {}
    ape = [
        c["name"]
        for c in containers
        if (c.get("securityContext") or {}).get("allowPrivilegeEscalation") is not False
    ]
    if ape:
        found["allowPrivilegeEscalation"] = (
            f"allowPrivilegeEscalation != false ({_plural('container', ape)} must set "
            "securityContext.allowPrivilegeEscalation=false)"
        )
    drop = [
        c["name"]
        for c in containers
        if "ALL"
        not in (((c.get("securityContext") or {}).get("capabilities") or {}).get("drop") or [])
    ]
    if drop:
        found["capabilities_restricted"] = (
            f"unrestricted capabilities ({_plural('container', drop)} must set "
            'securityContext.capabilities.drop=["ALL"])'
        )
    nonroot = [
        c["name"]
        for c in containers
        if (c.get("securityContext") or {}).get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        is not True
    ]
    if nonroot:
        found["runAsNonRoot"] = (
            f"runAsNonRoot != true (pod or {_plural('container', nonroot)} must set "
            "securityContext.runAsNonRoot=true)"
        )
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    seccomp = [
        c["name"]
        for c in containers
        if ((c.get("securityContext") or {}).get("seccompProfile") or {}).get("type", pod_seccomp)
        not in ("RuntimeDefault", "Localhost")
    ]
    if seccomp:
        found["seccompProfile_restricted"] = (
            f"seccompProfile (pod or {_plural('container', seccomp)} must set "
            'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'
        )
    return found


def check_pod(pod: dict[str, Any], ns_labels: dict[str, str]) -> None:
    """Raise the API server's 403 when the namespace enforces a level the pod violates."""
    level = ns_labels.get(ENFORCE, "privileged")
    if level not in ("baseline", "restricted"):
        return
    version = ns_labels.get(ENFORCE_VERSION, "latest")
    spec = pod.get("spec") or {}
    found = _baseline(spec)
    if level == "restricted":
        found.update(_restricted(spec))
    if not found:
        return
    name = pod["metadata"].get("name") or pod["metadata"].get("generateName", "")
    text = ", ".join(found[k] for k in sorted(found))
    raise ApiError(
        403,
        "Forbidden",
        f'pods "{name}" is forbidden: violates PodSecurity "{level}:{version}": {text}',
        {"name": name, "kind": "pods"},
    )

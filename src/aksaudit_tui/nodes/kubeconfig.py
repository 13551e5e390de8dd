"""The kubeconfig's contexts, read as plain YAML: no kubernetes client, so completion,
``whoami`` and the start screen stay fast and offline. :func:`context_for` is how a discovered
cluster finds its context: by name (as ``az aks get-credentials`` writes it), else by the API
server's host name."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class KubeContext:
    name: str
    server_host: str  # the API server's host name ("" when unknown)


def kubeconfig_paths(kubeconfig: str | None = None) -> list[Path]:
    """``--kubeconfig``, else every file in ``KUBECONFIG``, else ``~/.kube/config``."""
    if kubeconfig:
        return [Path(kubeconfig).expanduser()]
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return [Path(p).expanduser() for p in listed] or [Path.home() / ".kube" / "config"]


def contexts(kubeconfig: str | None = None) -> list[KubeContext]:
    import yaml

    # libyaml when installed: a kubeconfig of a hundred clusters (certificates inline) takes the
    # pure-Python parser a noticeable moment on the UI loop
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    found: list[KubeContext] = []
    for path in kubeconfig_paths(kubeconfig):
        try:
            doc = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # a safe loader
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # unreadable files are skipped, as kubectl merges what it can read
        if not isinstance(doc, dict):
            continue
        servers = {
            c.get("name"): str((c.get("cluster") or {}).get("server") or "")
            for c in doc.get("clusters") or []
            if isinstance(c, dict) and isinstance(c.get("cluster") or {}, dict)
        }
        for ctx in doc.get("contexts") or []:
            if not isinstance(ctx, dict) or not isinstance(ctx.get("name"), str):
                continue
            body = ctx.get("context")
            server = servers.get(body.get("cluster"), "") if isinstance(body, dict) else ""
            found.append(KubeContext(ctx["name"], urlsplit(server).hostname or ""))
    return found


def context_for(name: str, fqdn: str, contexts: Sequence[KubeContext]) -> str | None:
    """The context named ``name``, else one whose server is ``fqdn``; None when neither."""
    for ctx in contexts:
        if ctx.name == name:
            return ctx.name
    host = fqdn.lower()
    for ctx in contexts:
        if host and ctx.server_host.lower() == host:
            return ctx.name
    return None

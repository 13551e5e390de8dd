"""The emulator's test CA (trustme) and the kubeconfig that trusts it."""

from __future__ import annotations

import base64
import os
import ssl
from pathlib import Path
from typing import Any

import trustme
import yaml


class Tls:
    """A fresh CA and a server certificate for 127.0.0.1 / localhost."""

    def __init__(self) -> None:
        self.ca = trustme.CA(organization_name="aksaudit emulator")
        self.cert = self.ca.issue_cert("127.0.0.1", "localhost", "::1")

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(ctx)
        return ctx

    @property
    def ca_pem(self) -> bytes:
        return bytes(self.ca.cert_pem.bytes())

    def write_ca(self, path: Path) -> Path:
        _write_private(path, self.ca_pem)
        return path.resolve()


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically with mode 0600 (the kubeconfig holds the emulator's token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def write_kubeconfig(
    path: Path, *, port: int, clusters: list[str], token: str, ca_pem: bytes
) -> Path:
    """One context per cluster, named after the cluster (as ``az aks get-credentials`` does)."""
    ca_data = base64.b64encode(ca_pem).decode()
    user = "clusterUser_aksaudit_emulator"
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": f"https://127.0.0.1:{port}/k8s/{name}",
                    "certificate-authority-data": ca_data,
                },
            }
            for name in clusters
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": user}} for name in clusters
        ],
        "current-context": clusters[0] if clusters else "",
    }
    # libyaml's dumper when there: a fleet's kubeconfig (1,000 contexts, each with the CA) took
    # the pure-Python emulator ~10 s of its start-up
    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    _write_private(path, yaml.dump(doc, Dumper=dumper, sort_keys=False).encode())
    return path.resolve()

"""A minimal OCI distribution registry on the emulator's port, so image pinning is tested offline.

Routes (no ARM auth; the registry has its own, as public registries do):
- ``GET|HEAD /v2/``: 401 with ``WWW-Authenticate: Bearer realm="https://HOST/oauth2/token",
  service="HOST"`` unless a registry token is sent (then 200 ``{}``).
- ``GET /oauth2/token?service=...&scope=repository:REPO:pull``: an anonymous pull token (random
  per start, not the ARM/kube token) as ``{"token", "access_token", "expires_in"}``.
- ``GET|HEAD /v2/<repo>/manifests/<tag or sha256:...>``: without the token 401 with the
  challenge (``scope`` included); else the manifest with ``Docker-Content-Digest``,
  ``Content-Type`` and ``Content-Length``; an unknown one 404 ``MANIFEST_UNKNOWN``.

The registry stands in for any host (an image's registry host is not part of the key): images
are ``repository:tag`` -> a deterministic OCI image manifest whose sha256 is the digest.
``IMAGES`` is what every emulator serves (the product's default image); tests add more with
``Registry.add``. The simulated kubelet asks ``knows(image)`` before starting a container: a
digest the registry does not serve is ErrImagePull/ImagePullBackOff, like a real node.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field

from aiohttp import web

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# Served by every emulator: the product's default pod image.
IMAGES: tuple[tuple[str, str], ...] = (("azurelinux/busybox", "1.36"),)


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest_for(repository: str, tag: str) -> bytes:
    """A small valid OCI image manifest; its bytes (and so its digest) depend on repo:tag."""
    seed = f"{repository}:{tag}".encode()
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _sha(b"config " + seed),
            "size": 1024,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": _sha(b"layer " + seed),
                "size": 2_000_000,
            }
        ],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Registry:
    """Tags and manifests by repository; thread-safe (the kubelet and tests read it)."""

    token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    tags: dict[tuple[str, str], str] = field(default_factory=dict)  # (repo, tag) -> digest
    blobs: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (repo, digest) -> body
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for repo, tag in IMAGES:
            self.add(repo, tag)

    def add(self, repository: str, tag: str, body: bytes | None = None) -> str:
        """Serve ``repository:tag`` (``body`` or a generated manifest); returns its digest. A tag
        added again moves to the new body (a mutable tag), the old digest stays pullable."""
        data = body if body is not None else manifest_for(repository, tag)
        digest = _sha(data)
        with self.lock:
            self.tags[(repository, tag)] = digest
            self.blobs[(repository, digest)] = data
        return digest

    def digest(self, repository: str, tag: str) -> str | None:
        with self.lock:
            return self.tags.get((repository, tag))

    def manifest(self, repository: str, reference: str) -> tuple[str, bytes] | None:
        with self.lock:
            digest = reference if reference.startswith("sha256:") else None
            if digest is None:
                digest = self.tags.get((repository, reference))
            body = self.blobs.get((repository, digest)) if digest else None
        return (digest, body) if digest and body is not None else None

    def knows(self, image: str) -> bool:
        """Whether a node could pull ``image``: a digest reference must be served here; a tag
        reference is pulled from wherever it names (not checked)."""
        name, sep, digest = image.partition("@")
        if not sep:
            return True
        repo = repository_of(name)
        with self.lock:
            return (repo, digest) in self.blobs


def repository_of(name: str) -> str:
    """The repository path of an image name: the registry host and any tag dropped."""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name.rsplit(":", 1)[0]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    elif len(parts) == 1:
        parts = ["library", *parts]
    return "/".join(parts)


def is_registry_path(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/") or path == "/oauth2/token"


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"errors": [{"code": code, "message": message, "detail": None}]}
    return web.json_response(body, status=status, headers=headers)


def register(app: web.Application, registry: Registry) -> None:
    """Add the registry routes (before the ARM catch-all)."""

    def challenge(request: web.Request, scope: str | None = None) -> dict[str, str]:
        host = request.host
        value = f'Bearer realm="https://{host}/oauth2/token",service="{host}"'
        if scope:
            value += f',scope="{scope}"'
        return {"WWW-Authenticate": value}

    def authorized(request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(token.strip(), registry.token)

    async def base(request: web.Request) -> web.Response:
        if not authorized(request):
            return _error(401, "UNAUTHORIZED", "authentication required", challenge(request))
        return web.json_response({})

    async def token(request: web.Request) -> web.Response:
        return web.json_response(
            {"token": registry.token, "access_token": registry.token, "expires_in": 3600}
        )

    async def manifests(request: web.Request) -> web.Response:
        repo = request.match_info["repo"]
        reference = request.match_info["reference"]
        if not authorized(request):
            scope = f"repository:{repo}:pull"
            return _error(401, "UNAUTHORIZED", "authentication required", challenge(request, scope))
        found = registry.manifest(repo, reference)
        if found is None:
            return _error(404, "MANIFEST_UNKNOWN", f"manifest unknown: {repo}:{reference}")
        digest, body = found
        headers = {"Docker-Content-Digest": digest, "Content-Type": OCI_MANIFEST}
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return web.Response(status=200, headers=headers)
        return web.Response(status=200, body=body, headers=headers)

    for path in ("/v2/", "/v2"):
        app.router.add_get(path, base)  # add_get answers HEAD too
    app.router.add_get("/oauth2/token", token)
    app.router.add_get("/v2/{repo:.+}/manifests/{reference}", manifests)

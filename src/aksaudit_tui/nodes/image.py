"""The pod image: parse a reference, and resolve a tag to its digest through the registry.

What runs as root on every node must not change under a plan: a tag is mutable (a mirror can
retag), a digest is not. ``aksaudit plan`` therefore resolves the tag once, through the
registry's OCI distribution API, and the plan carries ``REPO@sha256:...``; apply refuses an
image without a digest (``require_digest``). An air-gapped user passes the digest itself and no
registry is contacted.

Registry protocol (distribution spec, as public registries serve it): ``HEAD
/v2/<repo>/manifests/<tag>`` with the OCI and Docker manifest media types in ``Accept``; a 401
carries ``WWW-Authenticate: Bearer realm=...,service=...[,scope=...]``, answered by an anonymous
``GET realm?service=...&scope=repository:<repo>:pull`` whose JSON ``token`` (or
``access_token``) is sent back as a bearer token. The digest is the ``Docker-Content-Digest``
header; if a registry leaves it out, a GET of the manifest is hashed instead. ``endpoint``
replaces ``https://<registry host>`` (a loopback registry in tests and the demo); ``ca_bundle``
is then the CA to trust. Plain aiohttp: the three requests are documented and small.

``parse_image`` is the one parser of image references (the CLI validates ``--image`` with it
before any network call).
"""

from __future__ import annotations

import hashlib
import re
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aksaudit_tui.errors import UsageError, UserError

if TYPE_CHECKING:
    import aiohttp

MANIFEST_TYPES: tuple[str, ...] = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9.-]+(?::[0-9]+)?$")
# Docker Hub's API host differs from the name users write.
_API_HOSTS = {"docker.io": "registry-1.docker.io", "index.docker.io": "registry-1.docker.io"}
_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class ImageRef:
    """``name`` as written (registry host included when given), ``registry`` the host the API
    is on, ``repository`` the path in it; ``tag`` and ``digest`` as written (either may be
    missing)."""

    name: str
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def pinned(self) -> bool:
        return self.digest is not None

    def with_digest(self, digest: str) -> str:
        """``name@digest``: the form a plan and the pods carry."""
        return f"{self.name}@{digest}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image(text: str) -> ImageRef:
    """Parse ``[host[:port]/]path[:tag][@sha256:HEX]``; UsageError (one line) when malformed."""
    raw = text.strip() if isinstance(text, str) else ""
    if not raw or any(ch.isspace() for ch in raw):
        raise UsageError(f"image {text!r} is not a valid image reference")
    rest, digest = raw, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise UsageError(f"image {raw}: the digest must be sha256: and 64 lower-case hex")
    name, tag = rest, None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = rest.rsplit(":", 1)
        if not _TAG_RE.match(tag):
            raise UsageError(f"image {raw}: invalid tag {tag!r}")
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry, path = parts[0], parts[1:]
        if not _HOST_RE.match(registry):
            raise UsageError(f"image {raw}: invalid registry host {registry!r}")
    else:
        registry, path = "docker.io", (["library"] if len(parts) == 1 else []) + parts
    if not path or not all(_COMPONENT_RE.match(p) for p in path):
        raise UsageError(f"image {raw}: the repository path must be lower-case name components")
    if tag is None and digest is None:
        raise UsageError(f"image {raw} is not pinned; add a tag (resolved by plan) or @sha256:")
    return ImageRef(name, registry, "/".join(path), tag, digest)


# How to give a digest, where the image came from (the second half of require_digest's line).
PLAN_FIX = (
    "run `aksaudit plan` again (it resolves the tag) or set image: NAME@sha256:... in the plan"
)
FLAG_FIX = "pass --image NAME@sha256:... (the digest your mirror serves)"


def require_digest(image: str, fix: str = PLAN_FIX) -> ImageRef:
    """The reference, if it carries a digest; else the one line apply refuses with (``fix``:
    how to give one where the image came from)."""
    ref = parse_image(image)
    if not ref.pinned:
        raise UsageError(f"image {image} has no digest; {fix}")
    return ref


def _ssl(ca_bundle: str | None) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True


def _challenge(header: str) -> dict[str, str]:
    scheme, _, params = header.partition(" ")
    if scheme.lower() != "bearer":
        return {}
    return {k.lower(): v for k, v in _CHALLENGE_RE.findall(params)}


async def _token(
    session: aiohttp.ClientSession, header: str, ref: ImageRef, ssl_ctx: ssl.SSLContext | bool
) -> str:
    ch = _challenge(header)
    realm = ch.get("realm")
    if not realm:
        raise UserError(f"registry {ref.registry} asks for credentials this tool does not hold")
    params = {"scope": ch.get("scope") or f"repository:{ref.repository}:pull"}
    if ch.get("service"):
        params["service"] = ch["service"]
    async with session.get(realm, params=params, ssl=ssl_ctx) as resp:
        if resp.status != 200:
            raise UserError(
                f"registry {ref.registry}: anonymous token refused (HTTP {resp.status}); "
                "a private registry needs the digest given with --image NAME@sha256:..."
            )
        body = await resp.json(content_type=None)
    token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise UserError(f"registry {ref.registry}: the token endpoint sent no token")
    return token


async def resolve_digest(
    ref: ImageRef,
    *,
    endpoint: str | None = None,
    ca_bundle: str | None = None,
    timeout_s: float = 30.0,
) -> str:
    """The ``sha256:...`` digest the registry serves for ``ref``'s tag (see module doc)."""
    if ref.digest is not None:
        return ref.digest
    # startup time: aiohttp costs ~0.2 s and the plan module (on the wizard's start path) imports us
    import aiohttp

    base = (endpoint or f"https://{_API_HOSTS.get(ref.registry, ref.registry)}").rstrip("/")
    url = f"{base}/v2/{ref.repository}/manifests/{ref.tag}"
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    ssl_ctx = _ssl(ca_bundle)
    where = f"{ref} at {base}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as s:
            for attempt in (0, 1):
                async with s.head(url, headers=headers, ssl=ssl_ctx) as resp:
                    status = resp.status
                    digest = resp.headers.get("Docker-Content-Digest", "")
                    challenge = resp.headers.get("WWW-Authenticate", "")
                if status == 401 and attempt == 0:
                    token = await _token(s, challenge, ref, ssl_ctx)
                    headers["Authorization"] = f"Bearer {token}"
                    continue
                break
            if status == 404:
                raise UsageError(f"image {where}: no such tag in the registry")
            if status != 200:
                raise UserError(f"cannot resolve image {where}: HTTP {status}")
            if not digest:
                digest = await _hash_manifest(s, url, headers, ssl_ctx)
    except (aiohttp.ClientError, TimeoutError, ssl.SSLError) as exc:
        reason = str(exc) or type(exc).__name__
        raise UserError(
            f"cannot resolve image {where} to a digest ({reason}); air-gapped: pass --image "
            "NAME@sha256:..."
        ) from None
    if not _DIGEST_RE.match(digest):
        raise UserError(f"image {where}: the registry sent an unusable digest {digest!r}")
    return digest


async def _hash_manifest(
    s: aiohttp.ClientSession, url: str, headers: dict[str, str], ssl_ctx: ssl.SSLContext | bool
) -> str:
    async with s.get(url, headers=headers, ssl=ssl_ctx) as resp:
        if resp.status != 200:
            raise UserError(f"cannot read manifest {url}: HTTP {resp.status}")
        body = await resp.read()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def pull_policy(image: str) -> str:
    """A digest never changes: the node's copy is the one wanted. A tag may: pull again."""
    return "IfNotPresent" if "@sha256:" in image else "Always"

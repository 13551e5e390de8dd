"""Who is signed in: the principal named by the token's claims, and what it can read.

The claims of an Entra ID access token (the JWT's middle part, base64url JSON) are read
without verifying the signature: they are shown (``whoami``, the start screen) or recorded (who
enabled a cluster), never trusted, and the token came from our own credential. Only names and
ids leave this module, never the token. A token that is not a JWT (the emulator's, a static
``AKSAUDIT_ACCESS_TOKEN``) gives a ``static-token`` principal and no name, not an error.

- :func:`principal_from_token`: kind (user, service principal, managed identity, static
  token), name, tenant; :func:`token_name` / :func:`identity_name`: the one name for a
  cluster's record (``user@host`` when the token names nobody).
- :func:`whoami`: the principal, the subscriptions it can read and the AKS clusters listed in
  them (one list call per subscription, no detail reads).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import getpass
import json
import socket
from dataclasses import dataclass, field
from typing import Any, Literal

from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.cloud.credentials import Source, require_sign_in
from aksaudit_tui.cloud.errors import describe, user_error
from aksaudit_tui.cloud.settings import CloudSettings

# Claims that name an identity, most readable first (user tokens, then service principals).
_NAME_CLAIMS = ("upn", "unique_name", "preferred_username", "email", "app_displayname", "appid")

PrincipalKind = Literal["user", "service-principal", "managed-identity", "static-token"]


def token_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT, or ``None`` when ``token`` is not one."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    body = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(body.encode("ascii")))
    except (binascii.Error, UnicodeError, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def token_name(token: str | None) -> str | None:
    """The identity's name from a JWT access token's claims (None: not a JWT or no name)."""
    claims = token_claims(token) if token else None
    if claims is None:
        return None
    for key in _NAME_CLAIMS:
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return None


def local_name() -> str:
    """``user@host`` of this machine: the fallback when the token names nobody."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


async def identity_name(clients: AsyncClients) -> str:
    """The name of whoever the clients act as (see the module docstring)."""
    token = clients.settings.access_token
    if not token:
        try:
            token = (await clients.credential.get_token(clients.settings.arm_scope)).token
        except Exception:  # no token, no name from it: the local name still says who
            token = None
    return token_name(token) or local_name()


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    name: str = ""  # user principal name, or the app's display name
    tenant_id: str = ""
    object_id: str = ""
    app_id: str = ""

    def describe(self) -> str:
        """Completes "signed in ...": ``as user alice@contoso.com in tenant ...``."""
        if self.kind == "static-token":
            return "with a static token (AKSAUDIT_ACCESS_TOKEN)"
        who = {"user": "user", "service-principal": "service principal"}.get(
            self.kind, "managed identity"
        )
        name = self.name or self.app_id or self.object_id or "(no name in the token)"
        tenant = f" in tenant {self.tenant_id}" if self.tenant_id else ""
        return f"as {who} {name}{tenant}"

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "name": self.name,
            "tenant_id": self.tenant_id,
            "object_id": self.object_id,
            "app_id": self.app_id,
        }


def principal_from_token(token: str) -> Principal:
    claims = token_claims(token)
    if claims is None:
        return Principal("static-token")

    def text(*keys: str) -> str:
        for key in keys:
            value = claims.get(key)
            if isinstance(value, str) and value:
                return value
        return ""

    upn = text("upn", "unique_name", "preferred_username", "email")
    app_id = text("appid", "azp")
    kind: PrincipalKind
    if claims.get("xms_mirid"):
        kind = "managed-identity"  # carries the identity's resource id
    elif claims.get("idtyp") == "app" or not upn:
        kind = "service-principal"
    else:
        kind = "user"
    name = upn if kind == "user" else text("app_displayname", "xms_mirid") or app_id
    return Principal(kind, name, text("tid"), text("oid"), app_id)


@dataclass(frozen=True)
class SubscriptionSeen:
    id: str
    name: str
    state: str


@dataclass(frozen=True)
class ClusterSeen:
    name: str
    id: str
    subscription_id: str
    fqdn: str


@dataclass
class WhoAmI:
    principal: Principal
    sources: tuple[Source, ...]
    subscriptions: list[SubscriptionSeen] = field(default_factory=list)
    clusters: list[ClusterSeen] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # one line per subscription not listed


async def whoami(settings: CloudSettings) -> WhoAmI:
    """Sign in, then list subscriptions and the clusters in each (concurrently)."""
    sources = require_sign_in(settings)
    async with AsyncClients(settings) as clients:
        try:
            token = await clients.credential.get_token(clients.settings.arm_scope)
        except Exception as exc:
            raise user_error(exc, doing="signing in") from None
        seen = WhoAmI(principal_from_token(token.token), sources)
        del token  # only the claims are kept
        try:
            subs = [s async for s in clients.subscriptions().subscriptions.list()]
        except Exception as exc:
            raise user_error(exc, doing="listing subscriptions") from None
        seen.subscriptions = sorted(
            (
                SubscriptionSeen(
                    str(s.subscription_id or ""),
                    str(s.display_name or ""),
                    str(getattr(s.state, "value", s.state) or ""),  # an enum in the SDK model
                )
                for s in subs
            ),
            key=lambda s: s.name.lower(),
        )

        async def clusters_of(sub: SubscriptionSeen) -> list[ClusterSeen]:
            try:
                listed = clients.containerservice(sub.id).managed_clusters.list()
                return [
                    ClusterSeen(str(c.name), str(c.id), sub.id, str(c.fqdn or c.private_fqdn or ""))
                    async for c in listed
                ]
            except Exception as exc:
                seen.errors.append(f"{sub.name or sub.id}: {describe(exc).message}")
                return []

        found = await asyncio.gather(*(clusters_of(s) for s in seen.subscriptions))
    seen.clusters = sorted((c for group in found for c in group), key=lambda c: c.name.lower())
    return seen

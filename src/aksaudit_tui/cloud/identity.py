"""Who is applying: the name of the Azure identity behind the token, for the cluster's record.

Only a name leaves this module (a user principal name, an app id, or ``user@host`` when the
token carries no readable claims); never the token. The token's claims are read without
verifying the signature: the name is informational (who enabled a cluster), not a trust
decision, and the token came from our own credential.
"""

from __future__ import annotations

import base64
import getpass
import json
import socket
from typing import Any

from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.cloud.settings import ARM_SCOPE

# Claims that name an identity, most readable first (user tokens, then service principals).
_NAME_CLAIMS = ("upn", "unique_name", "preferred_username", "email", "app_displayname", "appid")


def token_name(token: str | None) -> str | None:
    """The identity's name from a JWT access token's claims (None: not a JWT or no name)."""
    if not token or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict):
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
            token = (await clients.credential.get_token(ARM_SCOPE)).token
        except Exception:  # no token, no name from it: the local name still says who
            token = None
    return token_name(token) or local_name()

"""Credentials: a static bearer token (AKSAUDIT_ACCESS_TOKEN), or the Azure credential chain.

The chain (AzureCliCredential first, so an ``az login`` is reused, then DefaultAzureCredential)
is imported and constructed only when no token is given; tests always give one.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aksaudit_tui.cloud.settings import CloudSettings

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, AccessTokenInfo, TokenCredential
    from azure.core.credentials_async import AsyncTokenCredential

# A static token carries no expiry we can read without decoding it; say one hour so azure-core's
# BearerTokenCredentialPolicy caches it and never asks again within a run.
_STATIC_LIFETIME_S = 3600


class StaticTokenCredential:
    """Sync credential returning one fixed bearer token for any scope."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("empty token")
        self.__token = token

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token=<redacted>)"

    __str__ = __repr__

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        from azure.core.credentials import AccessToken

        return AccessToken(self.__token, int(time.time()) + _STATIC_LIFETIME_S)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(self.__token, int(time.time()) + _STATIC_LIFETIME_S)

    def close(self) -> None:
        return None

    def __enter__(self) -> StaticTokenCredential:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class AsyncStaticTokenCredential:
    """Async twin of :class:`StaticTokenCredential`."""

    def __init__(self, token: str) -> None:
        self._sync = StaticTokenCredential(token)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token=<redacted>)"

    __str__ = __repr__

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return self._sync.get_token(*scopes)

    async def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return self._sync.get_token_info(*scopes)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> AsyncStaticTokenCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def sync_credential(settings: CloudSettings) -> TokenCredential:
    """The credential for sync SDK clients."""
    if settings.access_token:
        return StaticTokenCredential(settings.access_token)
    from azure.identity import (  # lazy: slow import, and never reached in tests
        AzureCliCredential,
        ChainedTokenCredential,
        DefaultAzureCredential,
    )

    return ChainedTokenCredential(
        AzureCliCredential(), DefaultAzureCredential(exclude_cli_credential=True)
    )


def async_credential(settings: CloudSettings) -> AsyncTokenCredential:
    """The credential for ``.aio`` SDK clients (close it when done)."""
    if settings.access_token:
        return AsyncStaticTokenCredential(settings.access_token)
    from azure.identity.aio import (
        AzureCliCredential,
        ChainedTokenCredential,
        DefaultAzureCredential,
    )

    return ChainedTokenCredential(
        AzureCliCredential(), DefaultAzureCredential(exclude_cli_credential=True)
    )

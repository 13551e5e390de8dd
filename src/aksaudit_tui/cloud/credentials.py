"""Credentials: a static bearer token (AKSAUDIT_ACCESS_TOKEN), or a credential chain that fits a
terminal tool.

The chain holds only the sign-in sources that are configured on this machine, found without a
network call or a subprocess (:func:`sign_in_sources`): the Azure CLI's login first (an ``az``
on PATH and an account in its profile), then the environment (a service principal's
``AZURE_*`` variables) and workload identity (``AZURE_FEDERATED_TOKEN_FILE``), and managed
identity only when asked (``--managed-identity`` / ``AKSAUDIT_MANAGED_IDENTITY=1``): off Azure
its endpoint costs a timeout, and it is traffic the user did not ask for. When no source is
configured, building a credential raises :class:`NotSignedInError` (exit 1, one line) before
anything touches the network. The chain is wrapped in a token cache (:class:`AsyncCachedChain`):
every SDK client asks for its own token, and the Azure CLI credential runs ``az`` (a second or
more) on each ask; 9 runs of ``az`` for one discovery of 2 subscriptions became 1.
azure-identity is imported only when a chain is built; tests
never build one that can reach a real endpoint.
"""

from __future__ import annotations

import asyncio
import importlib
import ipaddress
import json
import os
import shutil
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlsplit

from aksaudit_tui.cloud.settings import (
    AZURE_CLOUD_HOSTS,
    ENV_ACCESS_TOKEN,
    ENV_MANAGED_IDENTITY,
    CloudSettings,
)
from aksaudit_tui.errors import UsageError, UserError

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


# A token is reused until this many seconds before it expires (azure-core refreshes 5 min early).
_REFRESH_MARGIN_S = 300


def _fresh(info: Any) -> bool:
    return bool(info is not None and info.expires_on - _REFRESH_MARGIN_S > time.time())


def _token_key(
    scopes: tuple[str, ...], claims: str | None, tenant_id: str | None, enable_cae: bool
) -> tuple[Any, ...] | None:
    """The cache key of a ``get_token`` call; None for a claims challenge (always asked)."""
    return None if claims else ("token", scopes, tenant_id, enable_cae)


def _info_key(scopes: tuple[str, ...], options: Any) -> tuple[Any, ...] | None:
    """The cache key of a ``get_token_info`` call; None for a claims challenge."""
    opts = dict(options or {})
    if opts.get("claims"):
        return None
    return ("info", scopes, opts.get("tenant_id"), bool(opts.get("enable_cae")))


class CachedChain:
    """A sync chain that asks its credentials once per scope set and reuses the token until
    shortly before it expires: the Azure CLI credential runs ``az`` (about a second) on every
    call, and every SDK client would ask on its own. A claims challenge always asks afresh."""

    def __init__(self, chain: Any) -> None:
        self._chain = chain
        self._tokens: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()

    @property
    def credentials(self) -> tuple[Any, ...]:
        """The chain's credentials, in order (what tests assert on)."""
        return tuple(self._chain.credentials)

    def _ask(self, key: tuple[Any, ...] | None, ask: Callable[[], Any]) -> Any:
        if key is None:
            return ask()
        with self._lock:
            if not _fresh(self._tokens.get(key)):
                self._tokens[key] = ask()
            return self._tokens[key]

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        key = _token_key(scopes, claims, tenant_id, enable_cae)
        kw = {"claims": claims} if claims else {}
        return cast(
            "AccessToken",
            self._ask(
                key,
                lambda: self._chain.get_token(
                    *scopes, tenant_id=tenant_id, enable_cae=enable_cae, **kw, **kwargs
                ),
            ),
        )

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return cast(
            "AccessTokenInfo",
            self._ask(
                _info_key(scopes, options),
                lambda: self._chain.get_token_info(*scopes, options=options),
            ),
        )

    def close(self) -> None:
        self._chain.close()

    def __enter__(self) -> CachedChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncCachedChain:
    """Async twin of :class:`CachedChain`; concurrent first requests wait for one answer."""

    def __init__(self, chain: Any) -> None:
        self._chain = chain
        self._tokens: dict[tuple[Any, ...], Any] = {}
        self._lock = asyncio.Lock()

    @property
    def credentials(self) -> tuple[Any, ...]:
        return tuple(self._chain.credentials)

    async def _ask(self, key: tuple[Any, ...] | None, ask: Callable[[], Awaitable[Any]]) -> Any:
        if key is None:
            return await ask()
        async with self._lock:
            if not _fresh(self._tokens.get(key)):
                self._tokens[key] = await ask()
            return self._tokens[key]

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        key = _token_key(scopes, claims, tenant_id, enable_cae)
        kw = {"claims": claims} if claims else {}
        return cast(
            "AccessToken",
            await self._ask(
                key,
                lambda: self._chain.get_token(
                    *scopes, tenant_id=tenant_id, enable_cae=enable_cae, **kw, **kwargs
                ),
            ),
        )

    async def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return cast(
            "AccessTokenInfo",
            await self._ask(
                _info_key(scopes, options),
                lambda: self._chain.get_token_info(*scopes, options=options),
            ),
        )

    async def close(self) -> None:
        await self._chain.close()

    async def __aenter__(self) -> AsyncCachedChain:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


NOT_SIGNED_IN = f"not signed in to Azure: run az login (or set {ENV_ACCESS_TOKEN})"

Source = Literal[
    "static-token", "azure-cli", "environment", "workload-identity", "managed-identity"
]

SOURCE_TITLES: dict[Source, str] = {
    "static-token": f"a static token ({ENV_ACCESS_TOKEN})",
    "azure-cli": "the Azure CLI's login (az login)",
    "environment": "a service principal from the environment (AZURE_CLIENT_SECRET)",
    "workload-identity": "workload identity (AZURE_FEDERATED_TOKEN_FILE)",
    "managed-identity": f"the managed identity of this Azure VM ({ENV_MANAGED_IDENTITY})",
}


class NotSignedInError(UserError):
    """No sign-in source is configured: nothing was sent anywhere."""

    def __init__(self) -> None:
        super().__init__(NOT_SIGNED_IN)


@dataclass(frozen=True)
class CliAccount:
    """The Azure CLI's default account, as its profile file says (no secret in it)."""

    user: str
    user_type: str  # "user" or "servicePrincipal"
    tenant_id: str
    subscription_id: str
    subscription_name: str


def az_config_dir(env: Mapping[str, str]) -> Path:
    configured = env.get("AZURE_CONFIG_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".azure"


def cli_accounts(env: Mapping[str, str]) -> list[CliAccount]:
    """Accounts in the Azure CLI's profile (``azureProfile.json``); empty when logged out."""
    path = az_config_dir(env) / "azureProfile.json"
    try:
        # az writes the file with a byte-order mark
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return []
    subs = data.get("subscriptions") if isinstance(data, dict) else None
    accounts: list[CliAccount] = []
    for sub in subs if isinstance(subs, list) else []:
        if not isinstance(sub, dict):
            continue
        user = sub.get("user")
        if not isinstance(user, dict):
            user = {}
        account = CliAccount(
            user=str(user.get("name") or ""),
            user_type=str(user.get("type") or "user"),
            tenant_id=str(sub.get("tenantId") or ""),
            subscription_id=str(sub.get("id") or ""),
            subscription_name=str(sub.get("name") or ""),
        )
        # the default account first
        accounts.insert(0, account) if sub.get("isDefault") else accounts.append(account)
    return accounts


def sign_in_sources(
    settings: CloudSettings,
    env: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> tuple[Source, ...]:
    """The sign-in sources configured here, in chain order. Reads files and the environment
    only: no network, no subprocess, well under a second."""
    environ: Mapping[str, str] = os.environ if env is None else env
    if settings.access_token:
        return ("static-token",)
    found: list[Source] = []
    if which("az") and cli_accounts(environ):
        found.append("azure-cli")
    has_app = bool(environ.get("AZURE_TENANT_ID") and environ.get("AZURE_CLIENT_ID"))
    if has_app and (
        environ.get("AZURE_CLIENT_SECRET") or environ.get("AZURE_CLIENT_CERTIFICATE_PATH")
    ):
        found.append("environment")
    if has_app and environ.get("AZURE_FEDERATED_TOKEN_FILE"):
        found.append("workload-identity")
    if settings.managed_identity:
        found.append("managed-identity")
    return tuple(found)


def sign_in_summary(
    settings: CloudSettings,
    env: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> str:
    """Who would sign in, in words, found offline; "" when nobody can."""
    environ: Mapping[str, str] = os.environ if env is None else env
    where = settings.arm_endpoint or "Azure (management.azure.com)"
    sources = sign_in_sources(settings, environ, which)
    accounts = cli_accounts(environ) if "azure-cli" in sources else []
    if accounts:
        a = accounts[0]
        return f"{a.user or 'az login'} (az login, tenant {a.tenant_id or '?'}) · {where}"
    if sources and sources[0] in ("environment", "workload-identity"):
        app = environ.get("AZURE_CLIENT_ID", "?")
        how = "service principal" if sources[0] == "environment" else "workload identity"
        return f"{how} {app} (tenant {environ.get('AZURE_TENANT_ID', '?')}) · {where}"
    if sources:
        return f"{SOURCE_TITLES[sources[0]]} · {where}"
    return ""


def require_sign_in(
    settings: CloudSettings,
    env: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> tuple[Source, ...]:
    """The configured sources; :class:`NotSignedInError` when there is none."""
    sources = sign_in_sources(settings, env, which)
    if not sources:
        raise NotSignedInError()
    return sources


def _host_allowed(url: str, hosts: frozenset[str]) -> bool:
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host == "localhost" or host in hosts:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_foreign_endpoints(settings: CloudSettings) -> None:
    """:class:`UsageError` when a token from the credential chain would go to an ARM or Logs
    endpoint that is neither a known Azure cloud's (public, US Government, China) nor loopback:
    az login's token opens the user's whole tenant, so it is sent nowhere else. A static
    ``AKSAUDIT_ACCESS_TOKEN`` goes where the user points it."""
    for flag, url, kind in (
        ("--arm-endpoint", settings.arm_endpoint, 0),
        ("--logs-endpoint", settings.logs_endpoint, 1),
    ):
        hosts = frozenset().union(*(cloud[kind] for cloud in AZURE_CLOUD_HOSTS.values()))
        if url and not _host_allowed(url, hosts):
            raise UsageError(
                f"{flag} {url} is not an endpoint of a known Azure cloud "
                f"({', '.join(AZURE_CLOUD_HOSTS)}) nor loopback, so no token from the Azure "
                f"sign-in is sent there: set {ENV_ACCESS_TOKEN} to a token meant for it"
            )


def sync_credential(
    settings: CloudSettings,
    env: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> TokenCredential:
    """The credential for sync SDK clients; :class:`NotSignedInError` when nothing can sign in."""
    if settings.access_token:
        return StaticTokenCredential(settings.access_token)
    chain = _chain_credential("azure.identity", settings, env, which)
    return cast("TokenCredential", CachedChain(chain))


def async_credential(
    settings: CloudSettings,
    env: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> AsyncTokenCredential:
    """The credential for ``.aio`` SDK clients (close it when done)."""
    if settings.access_token:
        return AsyncStaticTokenCredential(settings.access_token)
    chain = _chain_credential("azure.identity.aio", settings, env, which)
    return cast("AsyncTokenCredential", AsyncCachedChain(chain))


def _chain_credential(
    module_name: Literal["azure.identity", "azure.identity.aio"],
    settings: CloudSettings,
    env: Mapping[str, str] | None,
    which: Callable[[str], str | None],
) -> Any:
    """The configured sources as one ``ChainedTokenCredential`` of ``module_name`` (sync and
    async have the same class names), after refusing foreign endpoints and a missing sign-in:
    nothing is imported or sent before those checks."""
    refuse_foreign_endpoints(settings)
    sources = require_sign_in(settings, env, which)
    module = importlib.import_module(module_name)  # lazy: slow import, only without a token
    return module.ChainedTokenCredential(*_chain(module, sources, env))


def _chain(module: Any, sources: tuple[Source, ...], env: Mapping[str, str] | None) -> list[Any]:
    """One credential per configured source, from ``azure.identity`` or ``azure.identity.aio``
    (the two have the same class names). Constructing them sends nothing."""
    environ: Mapping[str, str] = os.environ if env is None else env
    creds: list[Any] = []
    for source in sources:
        if source == "azure-cli":
            creds.append(module.AzureCliCredential())
        elif source == "environment" and environ.get("AZURE_CLIENT_SECRET"):
            creds.append(
                module.ClientSecretCredential(
                    environ["AZURE_TENANT_ID"],
                    environ["AZURE_CLIENT_ID"],
                    environ["AZURE_CLIENT_SECRET"],
                )
            )
        elif source == "environment":
            creds.append(
                module.CertificateCredential(
                    environ["AZURE_TENANT_ID"],
                    environ["AZURE_CLIENT_ID"],
                    certificate_path=environ["AZURE_CLIENT_CERTIFICATE_PATH"],
                    password=environ.get("AZURE_CLIENT_CERTIFICATE_PASSWORD") or None,
                )
            )
        elif source == "workload-identity":
            creds.append(
                module.WorkloadIdentityCredential(
                    tenant_id=environ["AZURE_TENANT_ID"],
                    client_id=environ["AZURE_CLIENT_ID"],
                    token_file_path=environ["AZURE_FEDERATED_TOKEN_FILE"],
                )
            )
        elif source == "managed-identity":
            creds.append(module.ManagedIdentityCredential(client_id=environ.get("AZURE_CLIENT_ID")))
    return creds

"""The one place that builds Azure SDK clients (sync and ``.aio``).

Every client gets the same endpoint, CA bundle, credential scope, retry and polling settings, so a
test pointing ``CloudSettings`` at the emulator reaches every call. SDK modules are imported only
when a client is first asked for: ``import aksaudit_tui.cloud`` stays Azure-free (startup time).
"""

from __future__ import annotations

import contextlib
import importlib
from typing import TYPE_CHECKING, Any

from aksaudit_tui.cloud.credentials import async_credential, sync_credential
from aksaudit_tui.cloud.settings import CloudSettings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.mgmt.compute.aio import ComputeManagementClient
    from azure.mgmt.containerservice.aio import ContainerServiceClient
    from azure.mgmt.loganalytics.aio import LogAnalyticsManagementClient
    from azure.mgmt.monitor.aio import MonitorManagementClient
    from azure.mgmt.resource.resources.aio import ResourceManagementClient
    from azure.mgmt.resource.subscriptions.aio import SubscriptionClient
    from azure.monitor.query.aio import LogsQueryClient

# kind -> (package, class); ".aio" is appended for async clients.
_KINDS: dict[str, tuple[str, str]] = {
    "subscriptions": ("azure.mgmt.resource.subscriptions", "SubscriptionClient"),
    "resources": ("azure.mgmt.resource.resources", "ResourceManagementClient"),
    "containerservice": ("azure.mgmt.containerservice", "ContainerServiceClient"),
    "compute": ("azure.mgmt.compute", "ComputeManagementClient"),
    "loganalytics": ("azure.mgmt.loganalytics", "LogAnalyticsManagementClient"),
    "monitor": ("azure.mgmt.monitor", "MonitorManagementClient"),
}


def client_kwargs(settings: CloudSettings) -> dict[str, Any]:
    """Keyword arguments shared by every management client."""
    kw: dict[str, Any] = {
        "credential_scopes": [settings.arm_scope],
        "polling_interval": settings.effective_polling_interval,
        # azure-core retries 408/429/5xx and honours Retry-After; the back-off is the settings'
        # profile (ARM's pace on Azure, brief on the emulator so fault tests stay fast).
        "retry_total": 6,
        "retry_backoff_factor": settings.retry_backoff_factor,
        "retry_backoff_max": settings.retry_backoff_max,
    }
    if settings.arm_endpoint:
        kw["base_url"] = settings.arm_endpoint
    if settings.ca_bundle:
        kw["connection_verify"] = settings.ca_bundle
    return kw


def build_client(
    kind: str,
    settings: CloudSettings,
    credential: Any,
    subscription_id: str | None = None,
    *,
    aio: bool = True,
    transport: Any = None,
) -> Any:
    """Build one management client of ``kind`` (see ``_KINDS``). With ``transport`` (a shared
    aiohttp transport whose session already trusts the CA) the per-request CA setting is left
    out, so connections are pooled and reused."""
    package, cls_name = _KINDS[kind]
    module = importlib.import_module(package + (".aio" if aio else ""))
    cls = getattr(module, cls_name)
    kw = client_kwargs(settings)
    if transport is not None:
        kw.pop("connection_verify", None)
        kw["transport"] = transport
    if kind == "subscriptions":
        return cls(credential, **kw)
    if subscription_id is None:
        raise ValueError(f"{kind} client needs a subscription id")
    return cls(credential, subscription_id, **kw)


def logs_client_kwargs(settings: CloudSettings) -> dict[str, Any]:
    """Keyword arguments for LogsQueryClient (endpoint, audience, trust, retries)."""
    kw: dict[str, Any] = {
        "audience": settings.logs_audience,
        "retry_total": 4,
        "retry_backoff_factor": settings.retry_backoff_factor,
    }
    if settings.logs_base_url:
        endpoint = settings.logs_base_url.rstrip("/")
        # azure-monitor-query 2.x strips the *whole path* of an endpoint ending in "/v1"
        # (https://host/logs/v1 -> https://host), so pass the base and the version apart.
        if endpoint.endswith("/v1"):
            endpoint = endpoint[: -len("/v1")]
        kw["endpoint"] = endpoint
        kw["api_version"] = "v1"
    if settings.ca_bundle:
        kw["connection_verify"] = settings.ca_bundle
    return kw


def _shared_transport(settings: CloudSettings) -> tuple[Any, Any]:
    """One aiohttp session (and azure-core transport over it) for every client of a piece of
    work. azure-core would otherwise build a fresh SSLContext from the CA file on every request,
    which defeats aiohttp's connection pool: one TLS handshake per call."""
    import ssl

    import aiohttp
    from azure.core.pipeline.transport import AioHttpTransport

    ctx: ssl.SSLContext | bool = True
    if settings.ca_bundle:
        ctx = ssl.create_default_context(cafile=settings.ca_bundle)
    connector = aiohttp.TCPConnector(ssl=ctx, limit=max(8, settings.concurrency * 2))
    session = aiohttp.ClientSession(
        connector=connector,
        trust_env=True,  # honour HTTPS_PROXY / NO_PROXY as azure-core does
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,  # azure-core decodes itself
    )
    return session, AioHttpTransport(session=session, session_owner=False)


class AsyncClients:
    """Cache of ``.aio`` clients for one piece of work; ``await close()`` closes every one.

    All clients share one aiohttp session (connection pool). Use as
    ``async with AsyncClients(settings) as clients: ...`` inside a running event loop.
    """

    def __init__(
        self, settings: CloudSettings, credential: AsyncTokenCredential | None = None
    ) -> None:
        self.settings = settings
        self._owns_credential = credential is None
        self.credential: AsyncTokenCredential = credential or async_credential(settings)
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._session: Any = None
        self._transport: Any = None

    def transport(self) -> Any:
        if self._transport is None:
            self._session, self._transport = _shared_transport(self.settings)
        return self._transport

    def _get(self, kind: str, subscription_id: str | None) -> Any:
        key = (kind, subscription_id)
        client = self._clients.get(key)
        if client is None:
            client = build_client(
                kind, self.settings, self.credential, subscription_id, transport=self.transport()
            )
            self._clients[key] = client
        return client

    def subscriptions(self) -> SubscriptionClient:
        return self._get("subscriptions", None)  # type: ignore[no-any-return]

    def resources(self, subscription_id: str) -> ResourceManagementClient:
        return self._get("resources", subscription_id)  # type: ignore[no-any-return]

    def containerservice(self, subscription_id: str) -> ContainerServiceClient:
        return self._get("containerservice", subscription_id)  # type: ignore[no-any-return]

    def compute(self, subscription_id: str) -> ComputeManagementClient:
        return self._get("compute", subscription_id)  # type: ignore[no-any-return]

    def loganalytics(self, subscription_id: str) -> LogAnalyticsManagementClient:
        return self._get("loganalytics", subscription_id)  # type: ignore[no-any-return]

    def monitor(self, subscription_id: str) -> MonitorManagementClient:
        return self._get("monitor", subscription_id)  # type: ignore[no-any-return]

    def logs(self) -> LogsQueryClient:
        key = ("logs", None)
        client = self._clients.get(key)
        if client is None:
            from azure.monitor.query.aio import LogsQueryClient

            kw = logs_client_kwargs(self.settings)
            kw.pop("connection_verify", None)
            client = LogsQueryClient(self.credential, transport=self.transport(), **kw)
            self._clients[key] = client
        return client

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            with contextlib.suppress(Exception):  # closing must not mask the real outcome
                await client.close()
        session, self._session, self._transport = self._session, None, None
        if session is not None:
            with contextlib.suppress(Exception):
                await session.close()
        if self._owns_credential:
            await self.credential.close()

    async def __aenter__(self) -> AsyncClients:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class SyncClients:
    """Sync twin of :class:`AsyncClients` (for scripts and thread workers)."""

    def __init__(self, settings: CloudSettings, credential: TokenCredential | None = None) -> None:
        self.settings = settings
        self.credential: TokenCredential = credential or sync_credential(settings)
        self._clients: dict[tuple[str, str | None], Any] = {}

    def get(self, kind: str, subscription_id: str | None = None) -> Any:
        key = (kind, subscription_id)
        if key not in self._clients:
            if kind == "logs":
                from azure.monitor.query import LogsQueryClient

                self._clients[key] = LogsQueryClient(
                    self.credential, **logs_client_kwargs(self.settings)
                )
            else:
                self._clients[key] = build_client(
                    kind, self.settings, self.credential, subscription_id, aio=False
                )
        return self._clients[key]

    def close(self) -> None:
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                client.close()
        self._clients = {}

    def __enter__(self) -> SyncClients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Azure Resource Graph: the queries discovery sends, and reading every page of them.

One ``POST /providers/Microsoft.ResourceGraph/resources`` answers a KQL query across every
subscription named (up to ``SUBSCRIPTIONS_PER_REQUEST`` a request), or, with none named, at
tenant scope: every subscription the caller can read (``subscriptions`` is optional in the
2021-03-01 ``QueryRequest``, whose "Basic tenant query" example names none; past 10,000
subscriptions the service answers for the first 10,000 and discovery walks the rest through ARM
as any subscription missing from ``ResourceContainers``), so a fleet's clusters, pool
scale sets, scale-set instances, workspaces, data collection rules and their associations come
in a few paged queries instead of several ARM calls per subscription and per cluster. Where
things live (Microsoft's table reference): tracked resources in ``Resources`` (scale sets with
their extension profile), scale-set instances in ``ComputeResources`` (with
``properties.latestModelApplied``), associations in ``InsightsResources``. Instances are folded
to one row per scale set in the query (``make_list``), so ten thousand nodes are a thousand rows.

Paging: 1,000 rows a page (``$top``), following ``$skipToken``. The service pages only a result
with an ``id`` column (no ``limit``/``take``, not all columns dynamic): otherwise it answers the
first page with ``resultTruncated: true`` and no ``$skipToken`` (Microsoft's "Guidance for
pagination"). So every query here projects an ``id`` (a folded one names its key ``id``), and an
answer truncated without a token is a ``GraphUnavailable`` (discovery walks ARM and says why),
never a silently partial inventory. Throttling: Resource Graph
grants each user a quota per window and says what is left on every answer
(``x-ms-user-quota-remaining``, ``x-ms-user-quota-resets-after`` as hh:mm:ss); a query waits for
the window when the quota is spent, and a 429 waits for its ``Retry-After`` (or the reset) and
is sent again, up to ``MAX_WAITS`` times a query. The client's own status retries are off
(``retry_status=0``) so this module is the one place that decides.

``GraphUnavailable`` means "use the ARM walk instead" (403: no access to Resource Graph; 404:
not served; a 400 or an exhausted retry budget), with a one-line reason (no secrets: codes and
messages only, through ``errors.describe``). A 401 or a sign-in failure is a ``UserError``, as
it would be for the walk.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson

from aksaudit_tui.cloud.clients import client_kwargs
from aksaudit_tui.cloud.errors import describe, user_error
from aksaudit_tui.cloud.settings import CloudSettings

if TYPE_CHECKING:
    from azure.core.rest import AsyncHttpResponse, HttpRequest

log = logging.getLogger(__name__)

PAGE_ROWS = 1000  # the service's largest page
RESOURCES_PATH = "/providers/Microsoft.ResourceGraph/resources"
API_VERSION = "2021-03-01"  # the SDK's; the request and answer shapes are the same up to 2024-04-01
SUBSCRIPTIONS_PER_REQUEST = 1000
MAX_WAITS = 8  # throttled or failed answers waited out per query before giving up
MAX_WAIT_S = 60.0  # one wait is never longer (the service's windows are seconds)
_HMS = re.compile(r"^(?:(\d+)\.)?(\d+):(\d{2}):(\d{2})(?:\.\d+)?$")

# The properties parse_listed_cluster, parse_monitoring and the pool match read, nothing more.
CLUSTERS = """Resources
| where type =~ 'microsoft.containerservice/managedclusters'
| project id, name, location, subscriptionId, properties = bag_pack(
    'nodeResourceGroup', properties.nodeResourceGroup,
    'fqdn', properties.fqdn,
    'kubernetesVersion', properties.kubernetesVersion,
    'currentKubernetesVersion', properties.currentKubernetesVersion,
    'nodeResourceGroupProfile', properties.nodeResourceGroupProfile,
    'addonProfiles', properties.addonProfiles,
    'azureMonitorProfile', properties.azureMonitorProfile,
    'agentPoolProfiles', properties.agentPoolProfiles)
| order by id asc"""

# Only what parse_scale_set and the pool match read: the rest of a scale set's model is large.
SCALE_SETS = """Resources
| where type =~ 'microsoft.compute/virtualmachinescalesets'
| project id, name, location, subscriptionId,
    pool = tostring(tags['aks-managed-poolName']),
    upgradeMode = tostring(properties.upgradePolicy.mode),
    osType = tostring(properties.virtualMachineProfile.storageProfile.osDisk.osType),
    windows = isnotnull(properties.virtualMachineProfile.osProfile.windowsConfiguration),
    extensions = properties.virtualMachineProfile.extensionProfile.extensions
| order by id asc"""

# One row per scale set, keyed ``id`` (the scale set's id, lower case) so the service can page it;
# an instance is its id's last segment, computer name and model state (its full id is the scale
# set's plus /virtualMachines/<instance>).
INSTANCES = """ComputeResources
| where type =~ 'microsoft.compute/virtualmachinescalesets/virtualmachines'
| extend scaleSet = extract('^(.+)/virtualmachines/[^/]+$', 1, tolower(id))
| summarize instances = make_list(bag_pack('i', tostring(split(id, '/')[-1]),
    'c', properties.osProfile.computerName,
    'l', properties.latestModelApplied)) by scaleSet
| project id = scaleSet, instances
| order by id asc"""

WORKSPACES_AND_RULES = """Resources
| where type in~ ('microsoft.operationalinsights/workspaces',
    'microsoft.insights/datacollectionrules')
| project id, name, type, location, subscriptionId, properties
| order by id asc"""

ASSOCIATIONS = """InsightsResources
| where type =~ 'microsoft.insights/datacollectionruleassociations'
| where name =~ 'ContainerInsightsExtension'
| project id, name, rule = tostring(properties.dataCollectionRuleId)
| order by id asc"""

# The subscriptions Resource Graph can read: one listed by ARM but missing here (no read
# access, or not indexed yet) is walked through ARM instead, which reports why.
SUBSCRIPTIONS = """ResourceContainers
| where type =~ 'microsoft.resources/subscriptions'
| project id, subscriptionId
| order by id asc"""

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class PerQuery(Generic[T]):
    """One value per discovery query (its text, its running task, its rows): a field each, so
    a misspelt query name is a mypy error, not a ``KeyError`` at run time."""

    subscriptions: T
    clusters: T
    scale_sets: T
    instances: T
    workspaces_and_rules: T
    associations: T

    def values(self) -> list[T]:
        return [getattr(self, f.name) for f in fields(self)]

    def map(self, fn: Callable[[str, T], U]) -> PerQuery[U]:
        """``fn(name, value)`` for every query; the name is for the stats and the logs."""
        return PerQuery(**{f.name: fn(f.name, getattr(self, f.name)) for f in fields(self)})


async def settled(tasks: PerQuery[asyncio.Future[T]]) -> PerQuery[T]:
    """Every task's result, in one ``PerQuery`` (the first failure raises)."""
    names = [f.name for f in fields(tasks)]
    results = await asyncio.gather(*(getattr(tasks, n) for n in names))
    return PerQuery(**dict(zip(names, results, strict=True)))


QUERIES: PerQuery[str] = PerQuery(
    subscriptions=SUBSCRIPTIONS,
    clusters=CLUSTERS,
    scale_sets=SCALE_SETS,
    instances=INSTANCES,
    workspaces_and_rules=WORKSPACES_AND_RULES,
    associations=ASSOCIATIONS,
)


class GraphUnavailable(Exception):
    """Resource Graph cannot answer (refused, not served, a query it rejects, or throttled past
    the budget): discovery walks ARM instead. ``reason`` is one line, free of secrets."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass
class GraphStats:
    """What the queries cost (for the discovery report and the benchmark)."""

    queries: int = 0
    pages: int = 0
    throttled: int = 0  # 429 answers waited out
    quota_waits: int = 0  # waits because the quota said 0 before a 429
    waited_s: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Page:
    """One answer (``QueryResponse``): its rows, the token to the next page, and whether the
    service cut it short without one (``resultTruncated``, a string in the REST shape)."""

    rows: list[dict[str, Any]]
    skip_token: str | None
    truncated: bool
    total: int | None

    @classmethod
    def read(cls, answer: Mapping[str, Any]) -> _Page:
        data = answer.get("data")
        total = answer.get("totalRecords")
        return cls(
            rows=[r for r in data if isinstance(r, dict)] if isinstance(data, list) else [],
            skip_token=str(answer.get("$skipToken") or "") or None,
            truncated=str(answer.get("resultTruncated", "false")).lower() == "true",
            total=total if isinstance(total, int) else None,
        )


def _seconds(text: str | None) -> float | None:
    if not text:
        return None
    m = _HMS.match(text.strip())
    if m:
        days, h, mi, s = (int(g) if g else 0 for g in m.groups())
        return float(days * 86400 + h * 3600 + mi * 60 + s)
    try:
        return float(text)
    except ValueError:
        return None


class _Quota:
    """The user's Resource Graph quota as the last answer told it; shared by all queries."""

    def __init__(self) -> None:
        self.remaining: int | None = None
        self.resets_at = 0.0

    def update(self, headers: Mapping[str, str]) -> None:
        remaining = headers.get("x-ms-user-quota-remaining")
        resets = _seconds(headers.get("x-ms-user-quota-resets-after"))
        if remaining is not None and remaining.strip().lstrip("-").isdigit():
            self.remaining = int(remaining)
        if resets is not None:
            self.resets_at = time.monotonic() + min(resets, MAX_WAIT_S)

    def wait_s(self) -> float:
        """How long to hold the next query: until the window resets when nothing is left."""
        if self.remaining is None or self.remaining > 0:
            return 0.0
        return max(0.0, self.resets_at - time.monotonic())

    def spend(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1


def query_body(query: str, subscriptions: list[str] | None, token: str | None) -> dict[str, Any]:
    """The REST body of one page's request (``QueryRequest`` as the service reads it);
    ``subscriptions`` None: tenant scope (the field left out)."""
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions  # startup time

    options = QueryRequestOptions(top=PAGE_ROWS, skip_token=token, result_format="objectArray")
    return dict(QueryRequest(subscriptions=subscriptions, query=query, options=options).serialize())


def graph_client(settings: CloudSettings, credential: Any, transport: Any = None) -> Any:
    """The async ``ResourceGraphClient`` on the settings' endpoint and trust, status retries
    off (this module waits out 429s itself, by the quota headers)."""
    from azure.mgmt.resourcegraph.aio import ResourceGraphClient  # startup time: the Azure SDK

    kw = client_kwargs(settings)
    kw.pop("polling_interval", None)
    kw["retry_status"] = 0
    if transport is not None:
        kw.pop("connection_verify", None)
        kw["transport"] = transport
    return ResourceGraphClient(credential, **kw)


def send_raw(client: Any, request: HttpRequest) -> Awaitable[AsyncHttpResponse]:
    """Send ``request`` through the generated client's own pipeline (credential, endpoint,
    trust, retry policy) and hand back the raw answer, unparsed.

    Why not ``client.resources()``: the generated operation decodes each body twice, then walks
    every value of ``data`` (typed "object") through its model deserializer; seven of eight
    seconds of a 1,000-cluster discovery went there. The one private SDK seam the product uses
    is here: ``_send_request`` is what the generated management clients call ``send_request``
    (https://aka.ms/azsdk/dpcodegen/python/send_request), kept underscored on them.
    ``tests/test_discover_resourcegraph.py::test_sdk_still_has_send_request`` fails if an SDK
    release drops or reshapes it; then send through ``client._client.send_request`` after
    ``client._client.format_url(request.url)`` (what ``_send_request`` does today), or fall back
    to ``client.resources(QueryRequest, cls=...)`` (slower, same answer)."""
    response: Awaitable[AsyncHttpResponse] = client._send_request(request, stream=True)
    return response


class ResourceGraph:
    """Runs discovery's queries over a set of subscriptions (None: at tenant scope, every
    subscription the caller can read); every page, quota honoured."""

    def __init__(self, client: Any, subscriptions: list[str] | None) -> None:
        self._client = client
        self._api_version = str(getattr(client._config, "api_version", "") or API_VERSION)
        self._subscriptions = subscriptions
        self._quota = _Quota()
        self._lock = asyncio.Lock()
        self.stats = GraphStats()

    async def rows(self, name: str, query: str) -> list[dict[str, Any]]:
        """Every row of ``query`` across the subscriptions (chunks of
        ``SUBSCRIPTIONS_PER_REQUEST``, run at once)."""
        self.stats.queries += 1
        subs = self._subscriptions
        chunks: list[list[str] | None] = [None]  # tenant scope: one request (and its pages)
        if subs is not None:
            chunks = [
                subs[i : i + SUBSCRIPTIONS_PER_REQUEST]
                for i in range(0, len(subs), SUBSCRIPTIONS_PER_REQUEST)
            ]
        parts = await asyncio.gather(*(self._all_pages(name, query, chunk) for chunk in chunks))
        out = [row for part in parts for row in part]
        self.stats.rows[name] = len(out)
        return out

    async def _all_pages(
        self, name: str, query: str, subscriptions: list[str] | None
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = await self._page(query, subscriptions, token)
            out.extend(page.rows)
            token = page.skip_token
            if page.truncated and not token:  # the rest exists, but cannot be asked for
                raise GraphUnavailable(
                    f"Resource Graph cut the {name} query short ({len(out)} of "
                    f"{page.total if page.total is not None else 'more'} rows, "
                    "resultTruncated without a $skipToken)"
                )
            if not token:
                return out

    async def _page(self, query: str, subscriptions: list[str] | None, token: str | None) -> _Page:
        # startup time: the Azure SDK loads when discovery first asks, not when the CLI starts
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

        body = query_body(query, subscriptions, token)
        waits = 0
        while True:
            await self._hold()
            try:
                page, headers = await self._send(body)
            except ClientAuthenticationError as exc:
                raise user_error(exc, doing="querying Azure Resource Graph") from None
            except HttpResponseError as exc:
                status = exc.status_code
                headers = getattr(exc.response, "headers", None) or {}
                self._quota.update(headers)
                info = describe(exc, action="Microsoft.ResourceGraph/resources/read")
                retryable = status == 429 or (status is not None and status >= 500)
                if not retryable or waits >= MAX_WAITS:
                    why = f"{info.code}: {info.message}"
                    if retryable:
                        why = f"still {status} after {waits} waits ({why})"
                    raise GraphUnavailable(why, status) from None
                waits += 1
                await self._back_off(status, headers, waits)
                continue
            self._quota.update(headers)
            self.stats.pages += 1
            return page

    async def _send(self, body: dict[str, Any]) -> tuple[_Page, Mapping[str, str]]:
        """One query through the client's own pipeline (``send_raw``), its answer parsed once."""
        # startup time: the Azure SDK loads when discovery first asks, not when the CLI starts
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
        from azure.core.rest import HttpRequest
        from azure.mgmt.core.exceptions import ARMErrorFormat

        request = HttpRequest(
            "POST", RESOURCES_PATH, params={"api-version": self._api_version}, json=body
        )
        response = await send_raw(self._client, request)
        raw = await response.read()
        if response.status_code == 401:
            raise ClientAuthenticationError(response=response, error_format=ARMErrorFormat)
        if response.status_code != 200:
            raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        try:
            # orjson: a fleet's pages are megabytes (1,000 clusters with their pool profiles, a
            # thousand scale sets' instances); the stdlib decoder spent ~0.1 s of CPU on them
            # while the workspaces' ARM reads waited on the loop
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise GraphUnavailable("Resource Graph answered with a body that is not JSON") from None
        if not isinstance(answer, dict):
            raise GraphUnavailable("Resource Graph answered with a body that is not an object")
        return _Page.read(answer), response.headers

    async def _hold(self) -> None:
        """Wait while the quota is spent (one waiter at a time keeps the order), then take one."""
        async with self._lock:
            wait = self._quota.wait_s()
            if wait > 0:
                self.stats.quota_waits += 1
                self.stats.waited_s += wait
                log.info("Resource Graph quota spent: waiting %.1f s for it to reset", wait)
                await asyncio.sleep(wait)
                self._quota.remaining = None  # unknown until the next answer says
            self._quota.spend()

    async def _back_off(self, status: int | None, headers: Mapping[str, str], n: int) -> None:
        if status == 429:
            self.stats.throttled += 1
            wait = _seconds(headers.get("Retry-After")) or _seconds(
                headers.get("x-ms-user-quota-resets-after")
            )
            wait = 1.0 if wait is None else wait
        else:
            wait = min(8.0, 0.5 * 2 ** (n - 1))
        wait = min(MAX_WAIT_S, wait)
        self.stats.waited_s += wait
        log.info("Resource Graph answered %s: waiting %.1f s, then asking again", status, wait)
        await asyncio.sleep(wait)

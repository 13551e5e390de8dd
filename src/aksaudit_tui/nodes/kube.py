"""Adapter over the official (synchronous) ``kubernetes`` client, for asyncio callers.

Every API call runs on a small private thread pool (``asyncio.to_thread``'s default pool is too
small to keep a few dozen pods in flight); pods and nodes are read as plain JSON dicts (no model
deserialisation: cheaper, and the shapes are the API's own). Pods of one run are followed with ONE
watch (:class:`PodWatch`), resumed from the last resourceVersion when the stream ends or drops and
relisted on 410 Gone, so the API cost of a run is O(1) per run plus a few calls per node.

Tokens never leave the client configuration: nothing here logs or formats one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast

import orjson
import urllib3
from kubernetes import client
from kubernetes import config as _config
from kubernetes import watch as _watch
from kubernetes.client.exceptions import ApiException
from kubernetes.config import kube_config as _kube_config

from aksaudit_tui.errors import UsageError, UserError
from aksaudit_tui.nodes import manifests as m
from aksaudit_tui.nodes.record import parse_record
from aksaudit_tui.nodes.status import NodeStatus, parse_node_status

Obj = dict[str, Any]
T = TypeVar("T")
# Parts of the client without usable annotations for mypy --strict.
config: Any = _config
kube_config: Any = _kube_config
watch: Any = _watch

_PROVIDER_RE = re.compile(
    r"^azure:///subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.Compute/(?P<kind>virtualMachineScaleSets|virtualMachines)/(?P<vm>[^/]+)"
    r"(?:/virtualMachines/(?P<inst>[^/]+))?",
    re.IGNORECASE,
)
_RETRY_STATUS = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class ReadBounds:
    """Limits for a client that reads one cluster among many (a fleet status): the clients
    share one thread pool, so a cluster must neither hold more than its share of it nor hold
    it for long when its API server does not answer.

    ``in_flight``: API calls of this client running at once (the rest wait their turn); 1
    keeps every call on one kept-alive connection: one TLS handshake per cluster, the main
    CPU cost of a fleet status. ``connect_s`` (TCP connect and TLS handshake) and ``read_s``
    (each wait for bytes) bound one call, which urllib3 does not send again (the client
    still retries 429 and 5xx answers): a cluster whose API server accepts and never answers,
    or drops the packets, gives up its thread after at most connect_s + read_s."""

    in_flight: int = 1
    connect_s: float = 5.0
    read_s: float = 10.0


def unreachable(exc: BaseException, bounds: ReadBounds | None = None) -> str | None:
    """One line for an API server that did not answer or refused the connection (what the
    urllib3 layer raises under the kubernetes client); None for any other error."""
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    errors = urllib3.exceptions
    limits = (
        f" ({bounds.connect_s:g} s to connect, {bounds.read_s:g} s to answer)" if bounds else ""
    )
    # NewConnectionError is a ConnectTimeoutError in urllib3: asked first
    if isinstance(reason, errors.NewConnectionError):
        return "the API server refused the connection (nothing listens at its address)"
    if isinstance(reason, errors.ConnectTimeoutError):
        return f"the API server could not be reached in time{limits} (unreachable or private)"
    if isinstance(reason, errors.ReadTimeoutError):
        # a TLS handshake that never ends times out as a read too
        return f"the API server accepted the connection but did not answer in time{limits}"
    return None


# --- connection ------------------------------------------------------------------------------


_PARSED_LOCK = threading.Lock()
_PARSED: dict[str, tuple[tuple[tuple[int, int], ...], Any]] = {}


def _parsed_kubeconfig(paths: str) -> Any:
    """The kubeconfig file(s) (``a:b`` as KUBECONFIG lists them) parsed and merged once while
    they do not change. A fleet's kubeconfig holds every cluster (100 contexts take ~0.1 s of
    CPU to parse); status and apply open one client per cluster, from threads that would
    otherwise parse it again each time and starve the event loop's Azure calls."""
    files = [os.path.expanduser(p) for p in paths.split(kube_config.ENV_KUBECONFIG_PATH_SEPARATOR)]
    stamp = tuple(
        (st.st_mtime_ns, st.st_size) if (st := _stat(f)) is not None else (0, -1) for f in files
    )
    with _PARSED_LOCK:
        hit = _PARSED.get(paths)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    merged = kube_config.KubeConfigMerger(paths)
    if merged.config is None:
        raise config.ConfigException("Invalid kube-config file. No configuration found.")
    with _PARSED_LOCK:
        _PARSED[paths] = (stamp, merged.config)
    return merged.config


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def load_api(
    kubeconfig: str | None, context: str | None, ca_bundle: str | None = None
) -> client.ApiClient:
    """An ApiClient for ``context`` (None: the kubeconfig's current context).

    ``ca_bundle`` overrides the CA the kubeconfig names (the emulator's test CA)."""
    cfg = client.Configuration()
    try:
        loader = kube_config.KubeConfigLoader(
            config_dict=_parsed_kubeconfig(kubeconfig or kube_config.KUBE_CONFIG_DEFAULT_LOCATION),
            config_base_path=None,
            active_context=context,
        )
        loader.load_and_set(cfg)
    except (config.ConfigException, FileNotFoundError, OSError) as e:
        where = kubeconfig or "KUBECONFIG / ~/.kube/config"
        what = f"kube context {context!r}" if context else "the current kube context"
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UsageError(
            f"cannot load {what} from {where}: {detail}; run `az aks get-credentials` for the "
            "cluster or pass --context / --kubeconfig"
        ) from None
    if ca_bundle:
        cfg.ssl_ca_cert = ca_bundle
    # One-shot rollouts keep `concurrency` pods in flight plus the watch: room for them.
    cfg.connection_pool_maxsize = 32
    api = client.ApiClient(cfg)
    _one_tls_context(api, cfg)
    return api


def _one_tls_context(api: client.ApiClient, cfg: client.Configuration) -> None:
    """Every connection of this client (one cluster) shares one TLS context, with the CA and
    client certificate loaded once. The client hands urllib3 file names, so each new
    connection built a context and read and parsed the CA (and client key) again: ~3 ms of
    CPU per connection, holding the GIL, for a fleet status 2+ connections per cluster.
    Proxies and unverified TLS keep the client's own path (rare; nothing to gain there)."""
    pm: Any = cast(Any, api).rest_client.pool_manager
    if not cfg.verify_ssl or type(pm) is not urllib3.PoolManager:
        return
    kw = pm.connection_pool_kw
    ctx = urllib3.util.create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    try:
        if kw.get("ca_certs") or kw.get("ca_cert_data"):
            ctx.load_verify_locations(cafile=kw.get("ca_certs"), cadata=kw.get("ca_cert_data"))
        else:
            ctx.load_default_certs()
        if kw.get("cert_file"):
            ctx.load_cert_chain(kw["cert_file"], kw.get("key_file"))
    except (ssl.SSLError, OSError, ValueError):
        return  # a bad CA or key: the first call reports it, as the client always did
    for k in ("ca_certs", "ca_cert_data", "cert_file", "key_file"):
        kw.pop(k, None)
    kw["ssl_context"] = ctx


def api_message(e: ApiException) -> str:
    """The API's own Status message (what admission or validation said), else the reason."""
    body = getattr(e, "body", None)
    if body:
        try:
            data = json.loads(body)
        except (TypeError, ValueError):
            data = None
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])
    return f"{e.status} {e.reason}".strip()


# --- nodes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderRef:
    subscription_id: str
    resource_group: str
    vm_set: str  # scale set name, or the VM name for VM pools
    instance: str | None


def parse_provider_id(provider_id: str | None) -> ProviderRef | None:
    """Parse an Azure ``spec.providerID`` (any letter case); None for other providers."""
    if not provider_id:
        return None
    mt = _PROVIDER_RE.match(provider_id)
    if not mt:
        return None
    return ProviderRef(mt["sub"], mt["rg"], mt["vm"], mt["inst"])


@dataclass(frozen=True)
class NodeInfo:
    name: str
    pool: str
    os_sku: str
    os: str  # "linux" | "windows"
    arch: str
    ready: bool
    virtual: bool
    taints: tuple[str, ...]
    provider_id: str
    skip_reason: str | None  # None: the tool configures this node
    os_image: str = ""
    created: str = ""  # metadata.creationTimestamp (ISO 8601): when the node joined

    @property
    def eligible(self) -> bool:
        return self.skip_reason is None


def _immutable_sku(os_sku: str, os_image: str) -> bool:
    low = os_sku.lower()
    if any(s.lower() == low for s in m.IMMUTABLE_OS_SKUS):
        return True
    if "flatcar" in low or "containerlinux" in low or "osguard" in low:
        return True
    img = os_image.lower()
    return "flatcar" in img or "os guard" in img


def node_info(raw: Obj) -> NodeInfo:
    """A NodeInfo from a Node as the API returns it (JSON)."""
    meta = raw.get("metadata") or {}
    spec = raw.get("spec") or {}
    status = raw.get("status") or {}
    lbl: dict[str, str] = meta.get("labels") or {}
    info = status.get("nodeInfo") or {}
    name = str(meta.get("name", ""))
    os_name = (lbl.get("kubernetes.io/os") or info.get("operatingSystem") or "linux").lower()
    os_sku = lbl.get(m.OS_SKU_LABEL) or lbl.get("kubernetes.azure.com/os-sku") or ""
    os_image = str(info.get("osImage") or "")
    pool = lbl.get("kubernetes.azure.com/agentpool") or lbl.get("agentpool") or ""
    arch = lbl.get("kubernetes.io/arch") or info.get("architecture") or ""
    taints_raw = spec.get("taints") or []
    taints = tuple(
        f"{t.get('key', '')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect', '')}"
        for t in taints_raw
    )
    virtual = lbl.get("type") == "virtual-kubelet" or any(
        str(t.get("key", "")).startswith("virtual-kubelet.io/") for t in taints_raw
    )
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    reason: str | None = None
    if os_name == "windows":
        reason = "Windows node (auditd is Linux only)"
    elif virtual:
        reason = "virtual node (virtual-kubelet): no host to configure"
    elif _immutable_sku(os_sku, os_image):
        reason = f"immutable OS ({os_sku or os_image}): packages cannot be installed"
    elif not ready:
        reason = "node NotReady"
    return NodeInfo(
        name=name,
        pool=pool,
        os_sku=os_sku,
        os=os_name,
        arch=arch,
        ready=ready,
        virtual=virtual,
        taints=taints,
        provider_id=str(spec.get("providerID") or ""),
        skip_reason=reason,
        os_image=os_image,
        created=str(meta.get("creationTimestamp") or ""),
    )


# --- leftovers -------------------------------------------------------------------------------


@dataclass
class Leftovers:
    """Objects labelled ``app.kubernetes.io/managed-by=aksaudit`` (namespace, name)."""

    pods: list[tuple[str, str]] = field(default_factory=list)
    daemonsets: list[tuple[str, str]] = field(default_factory=list)
    configmaps: list[tuple[str, str]] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.pods or self.daemonsets or self.configmaps or self.namespaces)

    @property
    def privileged_pods(self) -> int:
        return len(self.pods)


def _annotations(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def admission_hint(namespace: str, message: str) -> str:
    """What to fix, from an admission rejection message."""
    low = message.lower()
    if "podsecurity" in low or "pod-security" in low:
        return (
            f"label the namespace: kubectl label namespace {namespace} "
            f"{m.PSA_ENFORCE}=privileged --overwrite"
        )
    if "gatekeeper" in low or "azurepolicy" in low or "safeguard" in low or "policy" in low:
        return (
            f"exclude namespace {namespace} from AKS deployment safeguards / Azure Policy "
            f"(az aks update --safeguards-excluded-ns {namespace} ...)"
        )
    if "cannot create resource" in low or "forbidden: user" in low:
        return f"grant your identity the right to create pods in namespace {namespace}"
    return "allow privileged hostPID pods in that namespace, or choose another namespace"


# --- the client ------------------------------------------------------------------------------


class KubeClient:
    """Async facade over CoreV1Api / AppsV1Api for one cluster (one kube context)."""

    def __init__(
        self,
        api: client.ApiClient,
        *,
        context: str = "",
        max_workers: int = 24,
        executor: ThreadPoolExecutor | None = None,
        bounds: ReadBounds | None = None,
    ):
        """``executor``: a pool shared with other clusters' clients (the caller owns it; a
        fleet read would otherwise start new threads for every cluster), else a private one.
        ``bounds``: this client's share of it and its timeouts (:class:`ReadBounds`); None:
        no limit, no timeout (a run's own client, which waits for its cluster)."""
        self.api = api
        self.bounds = bounds
        self._gate = asyncio.Semaphore(bounds.in_flight) if bounds else None
        self._timeout = (bounds.connect_s, bounds.read_s) if bounds else None
        if bounds is not None:
            # no call is sent again by urllib3: its default retries a GET that timed out
            # three times (four waits of read_s, or of connect_s, holding the thread)
            pm: Any = cast(Any, api).rest_client.pool_manager
            pm.connection_pool_kw["retries"] = urllib3.Retry(total=0, redirect=0)
        self.context = context
        # Typed Any: we call them with _preload_content=False and read raw JSON.
        self.core: Any = client.CoreV1Api(api)
        self.apps: Any = client.AppsV1Api(api)
        self._owns_pool = executor is None
        self._pool = executor or ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="aksaudit-kube"
        )
        # API requests by kind ("list_node", "create_pod", "watch_pods", ...) for the O(1) checks.
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._version: str | None = None  # server_version, once asked

    def count(self, name: str) -> None:
        with self._lock:
            self.calls[name] += 1

    def close(self) -> None:
        if self._owns_pool:
            self._pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            cast(Any, self.api).close()

    async def _run(self, name: str, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """Run one blocking API call on the pool; retry 429/5xx with Retry-After or backoff."""
        loop = asyncio.get_running_loop()
        delay = 0.5
        for attempt in range(5):
            self.count(name)
            try:
                if self._gate is None:
                    return await loop.run_in_executor(self._pool, lambda: fn(*args, **kw))
                async with self._gate:
                    return await loop.run_in_executor(self._pool, lambda: fn(*args, **kw))
            except ApiException as e:
                if e.status not in _RETRY_STATUS or attempt == 4:
                    raise
                wait = delay
                headers = getattr(e, "headers", None) or {}
                with contextlib.suppress(TypeError, ValueError):
                    wait = float(headers.get("Retry-After", delay))
                await asyncio.sleep(min(wait, 10.0))
                delay = min(delay * 2, 8.0)
        raise AssertionError("unreachable")

    async def _json(self, name: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Obj:
        """A call whose response is read as raw JSON (no model deserialisation)."""
        kw["_preload_content"] = False
        if self._timeout is not None:
            kw["_request_timeout"] = self._timeout

        def go() -> Obj:
            resp = fn(*args, **kw)
            try:
                data = resp.data
            finally:
                resp.release_conn()
            # orjson: a 50-node list is ~170 KB, ~3x faster to parse than json's (on the
            # pool's threads, holding the GIL the event loop's Azure calls wait for)
            return cast(Obj, orjson.loads(data)) if data else {}

        return await self._run(name, go)

    # -- nodes and identity --

    async def list_nodes(self) -> list[NodeInfo]:
        data = await self._json("list_node", self.core.list_node)
        return [node_info(n) for n in data.get("items") or []]

    async def check_identity(self, node_resource_group: str) -> list[NodeInfo]:
        """The nodes, after checking they belong to ``node_resource_group`` (case-insensitive).

        Raises UsageError naming the context and the resource group it really points at."""
        nodes = await self.list_nodes()
        groups = {
            ref.resource_group
            for n in nodes
            if (ref := parse_provider_id(n.provider_id)) is not None
        }
        if not groups:
            raise UsageError(
                f"kube context {self.context!r} has no Azure nodes (no azure:// providerID), so "
                f"it cannot be confirmed as the cluster whose nodes are in {node_resource_group}; "
                "pass --context with the right context"
            )
        want = node_resource_group.lower()
        if any(g.lower() != want for g in groups):
            other = sorted(g for g in groups if g.lower() != want)[0]
            raise UsageError(
                f"kube context {self.context!r} points at a cluster whose nodes are in RG "
                f"{other}, not {node_resource_group}; pass --context with the context for this "
                "cluster (or set kube_context in the plan)"
            )
        return nodes

    # -- admission --

    async def check_admission(
        self, namespace: str, image: str, script_sha: str | None
    ) -> str | None:
        """Server-side dry run of our privileged hostPID pod in ``namespace``.

        ``script_sha`` is the run's script sha256 once our fence admits it; None before this run
        made its fence (a denial by our own fence is then no problem: the run re-makes it before
        its first pod). Returns None when admission accepts it, or a note when the namespace
        does not exist yet (nothing to ask). Raises UserError with the API's exact reason and
        what to fix."""
        body = m.admission_probe_pod(namespace, image, script_sha or "0" * 64)
        try:
            await self._json(
                "dryrun_pod", self.core.create_namespaced_pod, namespace, body, dry_run="All"
            )
        except ApiException as e:
            msg = api_message(e)
            if e.status == 404 and "namespace" in msg.lower():
                return f"namespace {namespace} does not exist yet; it will be created privileged"
            ours = f"ValidatingAdmissionPolicy '{m.fence_name(namespace)}'"
            if script_sha is None and ours in msg:
                return f"namespace {namespace}: aksaudit's fence is updated for this run"
            raise UserError(
                f"admission rejects the privileged hostPID pod in namespace {namespace}: "
                f"{msg} -- fix: {admission_hint(namespace, msg)}"
            ) from None
        return None

    # -- the fence (ValidatingAdmissionPolicy + binding, cluster-scoped) --

    async def server_version(self) -> str:
        """The API server's gitVersion (``v1.32.6``), asked once per client: the review, the
        fence and the rollout of one run each need it, and one run's client never outlives
        a command (an upgrade during it changes nothing the fence decides before the next)."""
        if self._version is None:
            data = await self._json("get_version", client.VersionApi(self.api).get_code)
            self._version = str(data.get("gitVersion") or "")
        return self._version

    async def admitted_shas(self, namespace: str) -> tuple[str, ...] | None:
        """The script sha256 values the fence of ``namespace`` admits now, from the policy's
        annotation (cluster-scoped: namespace editors cannot change it); None when there is no
        fence of ours, or one from before it pinned scripts (nothing was pinned then)."""
        adm: Any = client.AdmissionregistrationV1Api(self.api)
        try:
            cur = await self._read(
                "read_vap", adm.read_validating_admission_policy, m.fence_name(namespace)
            )
        except ApiException as e:
            if e.status in (403, 404, 405):  # no such API (old cluster) or no right to it
                return None
            raise
        meta = (cur or {}).get("metadata") or {}
        if (meta.get("labels") or {}).get(m.LABEL_MANAGED_BY) != m.MANAGED_BY_VALUE:
            return None
        text = (meta.get("annotations") or {}).get(m.ANNOTATION_FENCE_SHAS)
        # only well-formed values: anything else makes the policy differ from ours (status says)
        return None if text is None else tuple(t for t in text.split(",") if m.is_sha256(t))

    async def ensure_fence(
        self, namespace: str, image: str, script_shas: tuple[str, ...]
    ) -> str | None:
        """Create or update the admission policy and binding that admit only our pod shape,
        running only a script whose sha256 is one of ``script_shas``, in ``namespace`` (before
        any pod of ours is created there). Returns a warning instead on clusters older than
        1.30 (no admissionregistration v1 policies)."""
        version = await self.server_version()
        if not m.fence_supported(version):
            return m.fence_warning(namespace, version)
        adm: Any = client.AdmissionregistrationV1Api(self.api)
        policy = m.admission_policy_manifest(namespace, image, script_shas)
        binding = m.admission_binding_manifest(namespace)
        for what, body in (("policy", policy), ("binding", binding)):
            suffix = "" if what == "policy" else "_binding"
            name = body["metadata"]["name"]
            read = getattr(adm, f"read_validating_admission_policy{suffix}")
            cur = await self._read(f"read_vap{suffix}", read, name)
            if cur is None:
                create = getattr(adm, f"create_validating_admission_policy{suffix}")
                await self._json(f"create_vap{suffix}", create, body)
                continue
            self._require_ours(cur, body["kind"], "(cluster)")
            if cur.get("spec") == body["spec"] and _annotations(cur) == _annotations(body):
                continue
            new = json.loads(json.dumps(body))
            new["metadata"]["resourceVersion"] = cur["metadata"].get("resourceVersion")
            replace = getattr(adm, f"replace_validating_admission_policy{suffix}")
            await self._json(f"replace_vap{suffix}", replace, name, new)
        return None

    async def fence_problem(self, namespace: str, image: str | None) -> str | None:
        """Why ``namespace`` is not fenced for ``image`` (too old a cluster, the policy or its
        binding missing or changed), or None when the fence is in place. Without ``image``
        (not known to the caller) the policy's rules are not compared, only its presence; with
        it, against the rules for the script sha256 values the policy says it admits."""
        version = await self.server_version()
        if not m.fence_supported(version):
            return m.fence_warning(namespace, version)
        adm: Any = client.AdmissionregistrationV1Api(self.api)
        name = m.fence_name(namespace)
        shas = await self.admitted_shas(namespace) if image else None
        want: dict[str, Any] = {
            "": m.admission_policy_manifest(namespace, image, shas) if image and shas else None,
            "_binding": m.admission_binding_manifest(namespace),
        }
        for suffix, body in want.items():
            read = getattr(adm, f"read_validating_admission_policy{suffix}")
            cur = await self._read(f"read_vap{suffix}", read, name)
            what = "admission policy" if not suffix else "admission policy binding"
            if cur is None:
                return (
                    f"namespace {namespace} is not fenced: {what} {name} is missing "
                    "(run `aksaudit apply` again)"
                )
            if not suffix and image and not shas:
                return (
                    f"namespace {namespace}: admission policy {name} does not pin the node "
                    "script's sha256 (run `aksaudit apply` again)"
                )
            if body is not None and cur.get("spec") != body["spec"]:
                return (
                    f"namespace {namespace}: {what} {name} was changed outside aksaudit "
                    "(run `aksaudit apply` again)"
                )
        return None

    async def delete_fence(self, namespace: str) -> None:
        """Delete the fence of ``namespace`` (binding first); gone or not ours is fine."""
        adm: Any = client.AdmissionregistrationV1Api(self.api)
        name = m.fence_name(namespace)
        for suffix in ("_binding", ""):
            read = getattr(adm, f"read_validating_admission_policy{suffix}")
            try:
                cur = await self._read(f"read_vap{suffix}", read, name)
            except ApiException as e:
                if e.status in (403, 404, 405):  # no such API (old cluster) or no right to it
                    return
                raise
            labels = ((cur or {}).get("metadata") or {}).get("labels") or {}
            if cur is None or labels.get(m.LABEL_MANAGED_BY) != m.MANAGED_BY_VALUE:
                continue
            delete = getattr(adm, f"delete_validating_admission_policy{suffix}")
            try:
                await self._json(f"delete_vap{suffix}", delete, name)
            except ApiException as e:
                if e.status != 404:
                    raise

    # -- namespace, ConfigMap, DaemonSet --

    async def _read(self, name: str, fn: Callable[..., Any], *args: Any) -> Obj | None:
        try:
            return await self._json(name, fn, *args)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    async def ensure_namespace(self, name: str, wait_s: float = 120.0, plan_sha: str = "") -> bool:
        """Create our namespace (Pod Security privileged) or fix the labels of ours.

        A namespace we did not create is left as it is (admission then says what to fix).
        Waits for a namespace still terminating from an earlier cleanup. Returns changed."""
        want = m.namespace_manifest(name, plan_sha)
        end = time.monotonic() + wait_s
        while True:
            cur = await self._read("read_namespace", self.core.read_namespace, name)
            if cur is None:
                try:
                    await self._json("create_namespace", self.core.create_namespace, want)
                except ApiException as e:
                    if e.status != 409:
                        raise
                    continue
                return True
            if (cur.get("status") or {}).get("phase") == "Terminating":
                if time.monotonic() > end:
                    raise UserError(f"namespace {name} is still terminating; try again later")
                await asyncio.sleep(0.5)
                continue
            lbl = (cur.get("metadata") or {}).get("labels") or {}
            if lbl.get(m.LABEL_MANAGED_BY) != m.MANAGED_BY_VALUE:
                return False
            missing = {k: v for k, v in want["metadata"]["labels"].items() if lbl.get(k) != v}
            ann = (cur.get("metadata") or {}).get("annotations") or {}
            # a namespace of ours made before runs annotated their plan: annotate it now, so
            # cleanup can tell it from a copy of our label (not a change the caller undoes)
            annotate = bool(plan_sha) and not ann.get(m.ANNOTATION_PLAN_SHA)
            if not missing and not annotate:
                return False
            patch: Obj = {"metadata": {}}
            if missing:
                patch["metadata"]["labels"] = missing
            if annotate:
                patch["metadata"]["annotations"] = {m.ANNOTATION_PLAN_SHA: plan_sha}
            await self._json("patch_namespace", self.core.patch_namespace, name, patch)
            return bool(missing)

    async def ensure_configmap(self, manifest: Obj) -> bool:
        """Create or replace (only when the data differs) a ConfigMap of ours."""
        ns, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        cur = await self._read("read_configmap", self.core.read_namespaced_config_map, name, ns)
        if cur is None:
            await self._json(
                "create_configmap", self.core.create_namespaced_config_map, ns, manifest
            )
            return True
        self._require_ours(cur, "ConfigMap", ns)
        same_labels = (cur["metadata"].get("labels") or {}).get(m.LABEL_MANAGED_BY) == (
            m.MANAGED_BY_VALUE
        )
        if (cur.get("data") or {}) == manifest["data"] and same_labels:
            return False
        body = json.loads(json.dumps(manifest))
        body["metadata"]["resourceVersion"] = cur["metadata"].get("resourceVersion")
        await self._json(
            "replace_configmap", self.core.replace_namespaced_config_map, name, ns, body
        )
        return True

    async def ensure_daemonset(self, manifest: Obj, wait_s: float = 120.0) -> bool:
        """Create the keeper DaemonSet, or replace it when its spec hash differs (not when only
        the run id changed: a second apply must not roll every keeper pod).

        One still being deleted (we delete it in the foreground: the API server keeps it, with
        ``deletionTimestamp``, until its pods are gone) is not in place whatever its spec, and
        its name is taken until then: wait for it to go, then create ours anew."""
        ns, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        end = time.monotonic() + wait_s
        while True:
            cur = await self._read("read_daemonset", self.apps.read_namespaced_daemon_set, name, ns)
            if cur is not None and cur["metadata"].get("deletionTimestamp"):
                self._require_ours(cur, "DaemonSet", ns)
                if time.monotonic() > end:
                    raise UserError(
                        f"DaemonSet {ns}/{name} is still being deleted (its pods are "
                        "terminating); run again when it is gone"
                    )
                await asyncio.sleep(0.5)
                continue
            if cur is not None:
                break
            try:
                await self._json(
                    "create_daemonset", self.apps.create_namespaced_daemon_set, ns, manifest
                )
            except ApiException as e:
                if e.status != 409:  # AlreadyExists: created or deleted meanwhile; read again
                    raise
                continue
            return True
        self._require_ours(cur, "DaemonSet", ns)
        sha = m.ANNOTATION_SPEC_SHA
        if (cur["metadata"].get("annotations") or {}).get(sha) == manifest["metadata"][
            "annotations"
        ][sha]:
            return False
        body = json.loads(json.dumps(manifest))
        body["metadata"]["resourceVersion"] = cur["metadata"].get("resourceVersion")
        await self._json(
            "replace_daemonset", self.apps.replace_namespaced_daemon_set, name, ns, body
        )
        return True

    @staticmethod
    def _require_ours(cur: Obj, kind: str, ns: str) -> None:
        lbl = (cur.get("metadata") or {}).get("labels") or {}
        if lbl.get(m.LABEL_MANAGED_BY) != m.MANAGED_BY_VALUE:
            name = cur["metadata"].get("name")
            raise UserError(
                f"{kind} {ns}/{name} exists but was not created by aksaudit (no "
                f"{m.MANAGED_SELECTOR} label); rename or delete it, or choose another namespace"
            )

    async def get_namespace(self, name: str) -> Obj | None:
        """One namespace (None when it does not exist)."""
        return await self._read("read_namespace", self.core.read_namespace, name)

    async def get_configmap(self, namespace: str, name: str) -> Obj | None:
        """One ConfigMap (None when it or its namespace does not exist)."""
        return await self._read(
            "read_configmap", self.core.read_namespaced_config_map, name, namespace
        )

    async def list_configmaps(self, selector: str) -> list[Obj]:
        """ConfigMaps matching ``selector`` in every namespace (one call)."""
        data = await self._json(
            "list_configmaps_all",
            self.core.list_config_map_for_all_namespaces,
            label_selector=selector,
        )
        return list(data.get("items") or [])

    async def list_daemonsets(self, selector: str) -> list[Obj]:
        """DaemonSets matching ``selector`` in every namespace (one call)."""
        data = await self._json(
            "list_daemonsets_all",
            self.apps.list_daemon_set_for_all_namespaces,
            label_selector=selector,
        )
        return list(data.get("items") or [])

    async def get_daemonset(self, namespace: str, name: str = m.KEEPER_NAME) -> Obj | None:
        """The DaemonSet, or None when it is absent or being deleted (it is on its way out:
        nothing to compare a plan with, nothing left to delete)."""
        ds = await self._read(
            "read_daemonset", self.apps.read_namespaced_daemon_set, name, namespace
        )
        if ds is not None and ds["metadata"].get("deletionTimestamp"):
            return None
        return ds

    # -- pods --

    async def create_pod(self, manifest: Obj) -> Obj:
        """Create a pod; a leftover of ours with the same name (an interrupted run) is deleted
        first. A same-named pod that is not ours is an error."""
        ns, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        for _ in range(3):
            try:
                return await self._json("create_pod", self.core.create_namespaced_pod, ns, manifest)
            except ApiException as e:
                if e.status != 409:
                    raise
            cur = await self._read("read_pod", self.core.read_namespaced_pod, name, ns)
            if cur is not None:
                self._require_ours(cur, "Pod", ns)
                await self.delete_pod(ns, name, grace_s=0)
                await self.wait_pod_gone(ns, name)
        raise UserError(f"pod {ns}/{name} keeps coming back; delete it and retry")

    async def wait_namespace_gone(self, name: str, timeout_s: float = 60.0) -> bool:
        """Wait until a deleted namespace has finished terminating; False on timeout."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if await self._read("read_namespace", self.core.read_namespace, name) is None:
                return True
            await asyncio.sleep(0.25)
        return False

    async def wait_pod_gone(self, ns: str, name: str, timeout_s: float = 30.0) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if await self._read("read_pod", self.core.read_namespaced_pod, name, ns) is None:
                return
            await asyncio.sleep(0.2)

    async def delete_pod(self, ns: str, name: str, grace_s: int | None = None) -> bool:
        """Delete one pod; False when it was already gone."""
        kw: dict[str, Any] = {}
        if grace_s is not None:
            kw["grace_period_seconds"] = grace_s
        try:
            await self._json("delete_pod", self.core.delete_namespaced_pod, name, ns, **kw)
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        return True

    async def delete_pods(self, ns: str, selector: str, grace_s: int | None = None) -> None:
        """Delete every pod matching ``selector`` in ``ns`` (one call)."""
        kw: dict[str, Any] = {"label_selector": selector}
        if grace_s is not None:
            kw["grace_period_seconds"] = grace_s
        try:
            await self._json("delete_pods", self.core.delete_collection_namespaced_pod, ns, **kw)
        except ApiException as e:
            if e.status == 404:
                return
            if e.status not in (403, 405):
                raise
            # No `deletecollection` right (narrow RBAC): delete them one by one.
            pods, _ = await self.list_pods(ns, selector)
            await asyncio.gather(
                *(self.delete_pod(ns, p["metadata"]["name"], grace_s) for p in pods)
            )

    async def list_pods(self, ns: str, selector: str) -> tuple[list[Obj], str]:
        """Pods matching ``selector`` and the list's resourceVersion (to start a watch from)."""
        data = await self._json(
            "list_pods", self.core.list_namespaced_pod, ns, label_selector=selector
        )
        rv = str((data.get("metadata") or {}).get("resourceVersion") or "")
        return list(data.get("items") or []), rv

    async def pod_log(
        self,
        ns: str,
        name: str,
        *,
        previous: bool = False,
        tail_lines: int | None = None,
        limit_bytes: int = 1 << 20,
    ) -> str:
        """A pod's log as text ('' when there is none yet)."""
        kw: dict[str, Any] = {
            "container": m.CONTAINER_NAME,
            "limit_bytes": limit_bytes,
            "_preload_content": False,
        }
        if previous:
            kw["previous"] = True
        if tail_lines is not None:
            kw["tail_lines"] = tail_lines
        if self._timeout is not None:
            kw["_request_timeout"] = self._timeout

        def go() -> str:
            resp = self.core.read_namespaced_pod_log(name, ns, **kw)
            try:
                data: bytes = resp.data
            finally:
                resp.release_conn()
            return data.decode("utf-8", errors="replace")

        try:
            return await self._run("read_log", go)
        except ApiException as e:
            if e.status in (400, 404):  # container not started yet / pod gone
                return ""
            raise

    async def read_node_status(
        self, ns: str, name: str, *, previous: bool = False, tail_lines: int | None = 400
    ) -> NodeStatus | None:
        """The node script's last JSON status in a pod's log (a keeper's latest pass, or a
        one-shot pod's only one); ``previous``: the container before the last restart."""
        return parse_node_status(
            await self.pod_log(ns, name, previous=previous, tail_lines=tail_lines)
        )

    def watch_pods(self, ns: str, selector: str, *, timeout_s: int = 290) -> PodWatch:
        return PodWatch(self, ns, selector, timeout_s=timeout_s)

    # -- removal and cleanup --

    async def delete_owned(
        self, kind: Literal["daemonset", "configmap", "namespace"], ns: str, name: str
    ) -> bool:
        """Delete one object of ours; objects without our label are left alone."""
        if kind == "daemonset":
            cur = await self._read("read_daemonset", self.apps.read_namespaced_daemon_set, name, ns)
        elif kind == "configmap":
            cur = await self._read("read_configmap", self.core.read_namespaced_config_map, name, ns)
        else:
            cur = await self._read("read_namespace", self.core.read_namespace, name)
        if cur is None:
            return False
        lbl = (cur.get("metadata") or {}).get("labels") or {}
        if lbl.get(m.LABEL_MANAGED_BY) != m.MANAGED_BY_VALUE:
            return False
        try:
            if kind == "daemonset":
                await self._json(
                    "delete_daemonset",
                    self.apps.delete_namespaced_daemon_set,
                    name,
                    ns,
                    propagation_policy="Foreground",
                )
            elif kind == "configmap":
                await self._json(
                    "delete_configmap", self.core.delete_namespaced_config_map, name, ns
                )
            else:
                await self._json("delete_namespace", self.core.delete_namespace, name)
        except ApiException as e:
            if e.status != 404:
                raise
            return False
        if kind == "namespace":
            await self.delete_fence(name)  # the namespace's fence goes with it
        return True

    async def list_leftovers(self, known_plans: Collection[str] = ()) -> Leftovers:
        """Everything labelled as ours, in every namespace. A namespace counts only when its
        plan-sha256 annotation names a plan known to have run: one of ``known_plans`` (this
        machine's journal) or the plan of an ``aksaudit-applied`` record in the cluster. Our
        label and some annotation are easy to put on someone else's namespace; a hash of a
        plan that ran is not."""
        sel = m.MANAGED_SELECTOR

        def pairs(data: Obj) -> list[tuple[str, str]]:
            # Objects already being deleted are on their way out: not leftovers.
            return [
                (str(i["metadata"].get("namespace", "")), str(i["metadata"]["name"]))
                for i in data.get("items") or []
                if not i["metadata"].get("deletionTimestamp")
                and (i.get("status") or {}).get("phase") != "Terminating"
            ]

        pods, dss, cms, nss = await asyncio.gather(
            self._json("list_pods_all", self.core.list_pod_for_all_namespaces, label_selector=sel),
            self._json(
                "list_daemonsets_all",
                self.apps.list_daemon_set_for_all_namespaces,
                label_selector=sel,
            ),
            self._json(
                "list_configmaps_all",
                self.core.list_config_map_for_all_namespaces,
                label_selector=sel,
            ),
            self._json("list_namespaces", self.core.list_namespace, label_selector=sel),
        )
        known = set(known_plans) | {
            r.plan_hash for i in cms.get("items") or [] if (r := parse_record(i)) and r.plan_hash
        }
        planned = {
            str(i["metadata"]["name"])
            for i in nss.get("items") or []
            if (i["metadata"].get("annotations") or {}).get(m.ANNOTATION_PLAN_SHA) in known
        }
        return Leftovers(
            pods=pairs(pods),
            daemonsets=pairs(dss),
            configmaps=pairs(cms),
            # a namespace counts only with our label and the annotation of the plan that made it
            namespaces=[n for _, n in pairs(nss) if n in planned],
        )

    async def delete_leftovers(self, found: Leftovers) -> None:
        """Delete what :meth:`list_leftovers` found: DaemonSets first (they recreate pods)."""
        for ns, name in found.daemonsets:
            await self.delete_owned("daemonset", ns, name)
        await asyncio.gather(*(self.delete_pod(ns, name, grace_s=0) for ns, name in found.pods))
        for ns, name in found.configmaps:
            await self.delete_owned("configmap", ns, name)
        for name in found.namespaces:
            await self.delete_owned("namespace", "", name)


# --- the one watch per run -------------------------------------------------------------------


@dataclass(frozen=True)
class PodEvent:
    """``type``: ADDED | MODIFIED | DELETED, or RELISTED (``pods`` is then the full current
    list: anything not in it was deleted while the watch was away), or ERROR (``message``)."""

    type: str
    pod: Obj | None = None
    pods: tuple[Obj, ...] = ()
    message: str = ""


class PodWatch:
    """One watch on the pods matching a label selector, on its own thread.

    ``start()`` lists once and returns the pods; events then arrive on ``next()``. The stream is
    resumed from the last resourceVersion when the server ends it (``timeout_s``) or the
    connection drops, and relisted (RELISTED event) when the server answers 410 Gone."""

    def __init__(self, kube: KubeClient, ns: str, selector: str, *, timeout_s: int = 290):
        self.kube = kube
        self.ns = ns
        self.selector = selector
        self.timeout_s = timeout_s
        self.rv = ""
        self.started_with: list[Obj] = []  # what start() listed
        self.watch_requests = 0
        self.relists = 0
        self.drops = 0
        self._queue: asyncio.Queue[PodEvent] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._w: Any = None
        self._thread: threading.Thread | None = None

    async def start(self) -> list[Obj]:
        pods, self.rv = await self.kube.list_pods(self.ns, self.selector)
        self.started_with = pods
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="aksaudit-pod-watch", daemon=True)
        self._thread.start()
        return pods

    async def next(self, wait_s: float) -> PodEvent | None:
        """The next event, or None after ``wait_s`` seconds without one."""
        try:
            return await asyncio.wait_for(self._queue.get(), wait_s)
        except TimeoutError:
            return None

    def drain(self) -> list[PodEvent]:
        out: list[PodEvent] = []
        while not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out

    def stop(self) -> None:
        self._stop.set()
        w = self._w
        if w is not None:
            w.stop()  # shuts the socket down: the blocked read returns at once

    def _post(self, ev: PodEvent) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            self._stop.set()
            return
        try:
            loop.call_soon_threadsafe(self._queue.put_nowait, ev)
        except RuntimeError:  # loop closed under us
            self._stop.set()

    def _relist(self) -> None:
        self.relists += 1
        self.kube.count("list_pods")
        resp = self.kube.core.list_namespaced_pod(
            self.ns, label_selector=self.selector, _preload_content=False
        )
        try:
            data = orjson.loads(resp.data)
        finally:
            resp.release_conn()
        self.rv = str((data.get("metadata") or {}).get("resourceVersion") or "")
        self._post(PodEvent("RELISTED", pods=tuple(data.get("items") or [])))

    def _list_pods(self, *args: Any, **kw: Any) -> Any:
        # No annotation or docstring on purpose: the watch finds no return type to build, so
        # each event stays the JSON dict we read (``raw_object``) instead of also becoming a
        # V1Pod model (pure Python on this thread, holding the GIL the UI loop waits for).
        return self.kube.core.list_namespaced_pod(*args, **kw)

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                self._w = watch.Watch()
                self.watch_requests += 1
                self.kube.count("watch_pods")
                kw: dict[str, Any] = {
                    "label_selector": self.selector,
                    "timeout_seconds": self.timeout_s,
                    "allow_watch_bookmarks": True,
                    # Read timeout past the server's own end of the stream: a silent dead
                    # connection is noticed and resumed; stop() does not wait for it.
                    "_request_timeout": (30, self.timeout_s + 30),
                }
                if self.rv:
                    kw["resource_version"] = self.rv
                for ev in self._w.stream(self._list_pods, self.ns, **kw):
                    raw = ev.get("raw_object") or ev.get("object")
                    typ = str(ev.get("type"))
                    if isinstance(raw, dict):
                        rv = (raw.get("metadata") or {}).get("resourceVersion")
                        if rv:
                            self.rv = str(rv)
                        if typ in ("ADDED", "MODIFIED", "DELETED"):
                            self._post(PodEvent(typ, pod=raw))
                    backoff = 0.1
                    if self._stop.is_set():
                        break
            except ApiException as e:
                if self._stop.is_set():
                    break
                if e.status == 410:
                    try:
                        self._relist()
                    except Exception:
                        self.drops += 1
                        time.sleep(backoff)
                        backoff = min(backoff * 2, 5.0)
                    continue
                if e.status in (401, 403):
                    self._post(PodEvent("ERROR", message=f"pod watch refused: {api_message(e)}"))
                    return
                self.drops += 1
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:  # connection dropped / reset / timed out: resume from self.rv
                if self._stop.is_set():
                    break
                self.drops += 1
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

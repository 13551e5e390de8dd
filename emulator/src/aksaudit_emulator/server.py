"""The emulator's HTTPS server (aiohttp) and its in-process handle, ``Emulator``.

One port serves ARM (``/``), the Log Analytics query API (``/logs/v1`` and ``/v1``, because
azure-monitor-query strips a path ending in ``/v1`` from its endpoint) and Kubernetes
(``/k8s/<cluster>``, routes from ``emulator.kube`` when that module provides them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import tempfile
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from aksaudit_emulator import ingestion, logs, lro, registry
from aksaudit_emulator.arm import router
from aksaudit_emulator.scenario import load_scenario
from aksaudit_emulator.state import EmulatorState, identity_token, token_accepted
from aksaudit_emulator.tls import Tls, write_kubeconfig
from aksaudit_emulator.world import build_state

log = logging.getLogger(__name__)

STATE_KEY: web.AppKey[EmulatorState] = web.AppKey("state", EmulatorState)


@dataclass(frozen=True)
class EmulatorInfo:
    """Where the running emulator listens and how to trust and authenticate to it: the ARM and
    Log Analytics endpoints, a kubeconfig with one context per cluster, the CA bundle (absolute
    paths), the bearer token (never printed; ``public()`` leaves it out) and the workspaces."""

    arm_endpoint: str
    logs_endpoint: str
    kubeconfig: str
    ca_bundle: str
    token: str = field(repr=False)  # the emulator's bearer token: never printed
    workspaces: list[dict[str, str]]
    port: int = 0
    # the loopback OCI registry (any image's registry host maps here: AKSAUDIT_REGISTRY_ENDPOINT)
    registry_endpoint: str = ""
    # `. env_file` points the aksaudit CLI at this emulator (mode 0600: it holds the token)
    env_file: str = ""

    def public(self) -> dict[str, Any]:
        """The JSON line ``aksaudit emulator`` prints (no token)."""
        return {
            "arm_endpoint": self.arm_endpoint,
            "logs_endpoint": self.logs_endpoint,
            "kubeconfig": self.kubeconfig,
            "ca_bundle": self.ca_bundle,
            "registry_endpoint": self.registry_endpoint,
            "env_file": self.env_file,
            "workspaces": self.workspaces,
        }


def _area(path: str) -> str:
    if registry.is_registry_path(path):
        return "registry"
    if path.startswith("/k8s/"):
        return "kube"
    if path.startswith("/logs/") or path.startswith("/v1/"):
        return "logs"
    return "arm"


def _unauthorized(area: str, message: str) -> web.Response:
    if area == "logs":
        body = {
            "error": {
                "message": "Valid authentication was not provided",
                "code": "AuthorizationRequiredError",
                "correlationId": "00000000-0000-0000-0000-000000000000",
            }
        }
    else:
        body = {
            "error": {
                "code": "AuthenticationFailed"
                if "missing" in message
                else "InvalidAuthenticationToken",
                "message": message,
            }
        }
    return router.json_response(
        401,
        body,
        {
            "WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/'
            'common", error="invalid_token", error_description="The authentication failed"'
        },
    )


def make_app(state: EmulatorState) -> web.Application:
    """The aiohttp application: auth + latency middleware, kube, logs and ARM routes."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        area = _area(request.path)
        delay = state.latency_ms.get(area, 0.0)
        if delay > 0:
            await asyncio.sleep(delay / 1000.0)
        # the kube side answers with a Kubernetes Status itself; the registry has its own tokens
        if area not in ("kube", "registry"):
            auth = request.headers.get("Authorization", "")
            if not auth:
                return _unauthorized(
                    area, "Authentication failed. The 'Authorization' header is missing."
                )
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token_accepted(state.token, token.strip()):
                return _unauthorized(area, "Authentication failed. The access token is invalid.")
        return await handler(request)

    app = web.Application(middlewares=[middleware], client_max_size=16 * 1024 * 1024)
    app[STATE_KEY] = state
    _register_kube(app, state)
    logs.register(app, state)
    registry.register(app, state.registry)

    async def arm(request: web.Request) -> web.StreamResponse:
        return await router.handle(request, state)

    app.router.add_route("*", "/{tail:.*}", arm)
    return app


def _kube_module() -> Any:
    try:
        from aksaudit_emulator import kube
    except Exception as exc:  # built in parallel by the kube side: serve ARM/logs regardless
        log.warning("kube side unavailable: %s", exc)
        return None
    return kube


def _register_kube(app: web.Application, state: EmulatorState) -> None:
    kube = _kube_module()
    if kube is None:
        return
    register = getattr(kube, "register_kube_routes", None)
    options = getattr(kube, "KubeOptions", None)
    if register is None or options is None:
        return
    opts = options(token=state.token)
    from_scenario = getattr(kube.runtime, "options_from_scenario", None)
    if from_scenario is not None and state.scenario.get("kube"):
        opts = from_scenario(state.scenario["kube"], opts)  # the scenario's `kube:` knobs
    # the kube side runs its controller and kubelet from the app's startup/cleanup hooks
    register(app, state, opts)


def write_env_file(path: Path, values: dict[str, str]) -> Path:
    """``export NAME=VALUE`` lines (shell-quoted) for ``. path``; created 0600 before any byte
    of the token is written (never world-readable, not even briefly)."""
    text = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in values.items())
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a stale file from an earlier start may have other modes
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


class Emulator:
    """The emulated estate (ARM, Log Analytics, one Kubernetes API per cluster) served over HTTPS
    on 127.0.0.1, in a background thread with its own event loop.

    ``Emulator(load_scenario(None), state_dir).start()`` returns once the server listens; the
    answer (also ``info``) says where and how to trust it. ``state`` is the live estate that
    tests inspect or script faults in (``call`` runs code on the server's thread). ``stop()``
    (or leaving the ``with`` block) kills every simulated container and removes a temporary
    ``state_dir``. A bad scenario raises ``ScenarioError`` from the constructor or ``start``.
    """

    def __init__(
        self,
        scenario: dict[str, Any] | str | Path | None = None,
        state_dir: str | Path | None = None,
        port: int = 0,
    ) -> None:
        scenario = load_scenario(scenario)  # idempotent on an already loaded scenario
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="aksaudit-emulator-")
            state_dir = self._tmp.name
        self.state_dir = Path(state_dir).resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state: EmulatorState = build_state(scenario, self.state_dir)
        self._port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._info: EmulatorInfo | None = None
        self._stopped = threading.Event()

    @property
    def info(self) -> EmulatorInfo:
        """Endpoints, kubeconfig, CA bundle and token of the started emulator."""
        if self._info is None:
            raise RuntimeError("the emulator is not started")
        return self._info

    def token_for(self, name: str) -> str:
        """A bearer token for another person named ``name`` (a JWT whose ``upn`` claim says
        it, signed with this start's token): accepted by ARM and the query API like the
        emulator's own, so "someone else" can act (``enabled_elsewhere`` in a scenario)."""
        return identity_token(self.state.token, name)

    def enabled_elsewhere(self) -> list[dict[str, Any]]:
        """The scenario's clusters enabled by someone else: ``{"cluster", "by", "workspace"}``
        plus ``log_path`` / ``presets`` when the scenario gives them (see scenario.py)."""
        out: list[dict[str, Any]] = []
        for sub in self.state.scenario["subscriptions"]:
            for rg in sub["resource_groups"]:
                for cl in rg["clusters"]:
                    if cl.get("enabled_elsewhere"):
                        out.append({"cluster": cl["name"], **cl["enabled_elsewhere"]})
        return out

    def start(self) -> EmulatorInfo:
        """Listen (a free port unless one was given) and serve; idempotent. Raises ``OSError``
        when the port is taken and ``RuntimeError`` when the server does not come up in 60 s."""
        if self._thread is not None:
            return self.info
        self._thread = threading.Thread(target=self._run, name="aksaudit-emulator", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=60)
        if self._error is not None:
            raise self._error
        if not self._ready.is_set():
            raise RuntimeError("the emulator did not start within 60 s")
        return self.info

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:  # surfaced to start()
            self._error = exc
            with contextlib.suppress(Exception):
                loop.run_until_complete(self._cleanup())  # the kube side may have started
            loop.close()
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._cleanup())
            loop.close()
            self._stopped.set()

    async def _startup(self) -> None:
        tls = Tls()
        app = make_app(self.state)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, "127.0.0.1", self._port, ssl_context=tls.server_context(), backlog=1024
        )
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if not sockets:
            raise RuntimeError("the emulator's server did not open a socket")
        port = int(sockets[0].getsockname()[1])
        ca_path = tls.write_ca(self.state_dir / "ca.pem")
        kubeconfig = write_kubeconfig(
            self.state_dir / "kubeconfig",
            port=port,
            clusters=list(self.state.clusters),
            token=self.state.token,
            ca_pem=tls.ca_pem,
        )
        base = f"https://127.0.0.1:{port}"
        env_file = write_env_file(
            self.state_dir / "env",
            {
                "AKSAUDIT_ARM_ENDPOINT": f"{base}/",
                "AKSAUDIT_LOGS_ENDPOINT": f"{base}/logs/v1",
                "AKSAUDIT_CA_BUNDLE": str(ca_path),
                "AKSAUDIT_REGISTRY_ENDPOINT": base,
                "AKSAUDIT_ACCESS_TOKEN": self.state.token,
                "KUBECONFIG": str(kubeconfig),
                "AKSAUDIT_PROFILE": "fast",
            },
        )
        self._info = EmulatorInfo(
            arm_endpoint=f"{base}/",
            logs_endpoint=f"{base}/logs/v1",
            kubeconfig=str(kubeconfig),
            ca_bundle=str(ca_path),
            token=self.state.token,
            workspaces=ingestion.workspace_list(self.state),
            port=port,
            registry_endpoint=base,
            env_file=str(env_file),
        )
        self._tasks.append(asyncio.create_task(self._sweeper()))
        self._tasks.append(asyncio.create_task(ingestion.run(self.state)))

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            lro.sweep(self.state)

    async def _cleanup(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._runner is not None:
            await self._runner.cleanup()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's loop thread and return its result (for tests)."""
        if self._loop is None:
            return fn()

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    def stop(self) -> None:
        """Stop serving and wait for the loop thread; safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
        self._thread = None
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

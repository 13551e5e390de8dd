"""Where the Azure (and kube) endpoints are, which CA to trust and which token to send.

Built from command-line flags first, then the ``AKSAUDIT_*`` environment variables. The access
token comes only from the environment (a flag would show in ``ps``) and never shows in repr/str.
Importing this module imports no Azure SDK.

The pace (LRO polling, retry back-off, and through ``engine.config.Timing`` the engine's
deadlines) comes from the explicit ``profile``: "azure" unless the demo, a test or a benchmark
asks for "fast" (an emulator). A loopback endpoint alone changes nothing.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

from aksaudit_tui.errors import UsageError

ENV_ARM_ENDPOINT = "AKSAUDIT_ARM_ENDPOINT"
ENV_LOGS_ENDPOINT = "AKSAUDIT_LOGS_ENDPOINT"
ENV_CA_BUNDLE = "AKSAUDIT_CA_BUNDLE"
ENV_ACCESS_TOKEN = "AKSAUDIT_ACCESS_TOKEN"
ENV_KUBECONFIG = "KUBECONFIG"
ENV_PROFILE = "AKSAUDIT_PROFILE"
# Base URL answering for the pod image's registry (a mirror or a loopback registry); the image's
# own host when unset. Trusted with the CA bundle.
ENV_REGISTRY_ENDPOINT = "AKSAUDIT_REGISTRY_ENDPOINT"

# "azure": Azure's pace. "fast": an emulator's (no LRO poll wait, short retry back-off, short
# engine deadlines); set by `aksaudit demo`, the tests and the benchmarks, never guessed.
Profile = Literal["azure", "fast"]
PROFILES: tuple[str, ...] = get_args(Profile)

# Managed identity joins the credential chain only when asked (off Azure it costs a timeout).
ENV_MANAGED_IDENTITY = "AKSAUDIT_MANAGED_IDENTITY"
# Discovery walks ARM per subscription instead of asking Azure Resource Graph (also the flag
# --no-resource-graph on the commands that discover).
ENV_NO_RESOURCE_GRAPH = "AKSAUDIT_NO_RESOURCE_GRAPH"


@dataclass(frozen=True)
class AzureCloud:
    """One known Azure cloud: its ARM and Logs query hosts, and what a token for each is asked
    for (a token for public Azure's ARM scope is refused by US Government's ARM, and so on)."""

    name: str
    arm_hosts: frozenset[str]
    logs_hosts: frozenset[str]
    arm_endpoint: str
    logs_endpoint: str
    logs_audience: str

    @property
    def arm_scope(self) -> str:
        """The OAuth scope of ARM tokens: the resource manager endpoint + ``/.default``."""
        return f"{self.arm_endpoint}/.default"


# The known Azure clouds (public, US Government, China). A token from the credential chain
# (az login, a service principal, ...) is sent only to their hosts or to loopback (an emulator):
# any other endpoint needs AKSAUDIT_ACCESS_TOKEN, a token the user chose to give it (see
# credentials.refuse_foreign_endpoints). Values: Azure's sovereign-cloud documentation.
AZURE_CLOUDS: tuple[AzureCloud, ...] = (
    AzureCloud(
        "public",
        frozenset({"management.azure.com"}),
        frozenset({"api.loganalytics.io", "api.loganalytics.azure.com"}),
        "https://management.azure.com",
        "https://api.loganalytics.io",
        "https://api.loganalytics.io",
    ),
    AzureCloud(
        "US Government",
        frozenset({"management.usgovcloudapi.net"}),
        frozenset({"api.loganalytics.us"}),
        "https://management.usgovcloudapi.net",
        "https://api.loganalytics.us",
        "https://api.loganalytics.us",
    ),
    AzureCloud(
        "China",
        frozenset({"management.chinacloudapi.cn"}),
        frozenset({"api.loganalytics.azure.cn"}),
        "https://management.chinacloudapi.cn",
        "https://api.loganalytics.azure.cn",
        "https://api.loganalytics.azure.cn",
    ),
)
PUBLIC_CLOUD = AZURE_CLOUDS[0]
AZURE_CLOUD_HOSTS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    c.name: (c.arm_hosts, c.logs_hosts) for c in AZURE_CLOUDS
}
AZURE_ARM_ENDPOINT = PUBLIC_CLOUD.arm_endpoint
AZURE_LOGS_ENDPOINT = PUBLIC_CLOUD.logs_endpoint
ARM_SCOPE = PUBLIC_CLOUD.arm_scope  # public Azure's; a run asks CloudSettings.arm_scope
LOGS_AUDIENCE = PUBLIC_CLOUD.logs_audience  # public Azure's; see CloudSettings.logs_audience


def _cloud_of(url: str | None, logs: bool) -> AzureCloud | None:
    """The known cloud whose ARM (or Logs) hosts include ``url``'s host; None: none does."""
    host = (urlsplit(url).hostname or "").lower() if url else ""
    return next((c for c in AZURE_CLOUDS if host in (c.logs_hosts if logs else c.arm_hosts)), None)


@dataclass(frozen=True)
class CloudSettings:
    """Endpoints, trust and credentials for every Azure call. ``None`` means real Azure."""

    arm_endpoint: str | None = None
    logs_endpoint: str | None = None
    ca_bundle: str | None = None
    access_token: str | None = field(default=None, repr=False, compare=False)
    kubeconfig: str | None = None
    # Bound on concurrent ARM requests per discovery / log-path call (ARM throttles per
    # subscription and principal; 16 keeps well under the 25 reads/s refill).
    concurrency: int = 16
    # Seconds between long-running-operation polls when Azure sends no Retry-After; None = the
    # profile's (the SDK's 30 s on "azure", 0 on "fast").
    polling_interval: float | None = None
    profile: Profile = "azure"
    # Add Azure managed identity to the credential chain (--managed-identity or the env var).
    managed_identity: bool = False
    # Where `aksaudit plan` resolves the image tag to a digest; None = the image's registry.
    registry_endpoint: str | None = None
    # Discovery asks Azure Resource Graph first (False: the per-subscription ARM walk).
    resource_graph: bool = True

    def __str__(self) -> str:
        return repr(self)

    @property
    def has_token(self) -> bool:
        return bool(self.access_token)

    @property
    def fast(self) -> bool:
        """The explicit emulator pace (demo, tests, bench)."""
        return self.profile == "fast"

    @property
    def effective_polling_interval(self) -> float:
        """Seconds between LRO polls when the service sends no Retry-After."""
        if self.polling_interval is not None:
            return self.polling_interval
        return 0.0 if self.fast else 30.0

    @property
    def retry_backoff_factor(self) -> float:
        """azure-core's retry back-off factor: ARM's pace, or brief so fault tests stay fast."""
        return 0.05 if self.fast else 0.8

    @property
    def retry_backoff_max(self) -> float:
        """azure-core's cap on one retry wait, in seconds."""
        return 2 if self.fast else 60

    @property
    def arm_base_url(self) -> str:
        return (self.arm_endpoint or AZURE_ARM_ENDPOINT).rstrip("/")

    @property
    def cloud(self) -> AzureCloud:
        """The Azure cloud the ARM endpoint belongs to: public Azure when it is unset or not a
        known cloud's (loopback: an emulator, which takes public Azure's token shape)."""
        return _cloud_of(self.arm_endpoint, logs=False) or PUBLIC_CLOUD

    @property
    def arm_scope(self) -> str:
        """What ARM tokens are asked for: the scope of the ARM endpoint's cloud."""
        return self.cloud.arm_scope

    @property
    def logs_audience(self) -> str:
        """What Logs query tokens are asked for: the Logs endpoint's cloud, else the ARM
        endpoint's (one sign-in reaches one cloud)."""
        return (_cloud_of(self.logs_endpoint, logs=True) or self.cloud).logs_audience

    @property
    def logs_base_url(self) -> str | None:
        """The Logs query endpoint: the one given, else the ARM endpoint's sovereign cloud's;
        None leaves the SDK's default (public Azure)."""
        if self.logs_endpoint:
            return self.logs_endpoint
        return None if self.cloud is PUBLIC_CLOUD else self.cloud.logs_endpoint

    @classmethod
    def from_env_and_args(
        cls, args: argparse.Namespace | None = None, env: Mapping[str, str] | None = None
    ) -> CloudSettings:
        """Flags win over environment variables; validates what it can without the network."""
        environ: Mapping[str, str] = os.environ if env is None else env

        def pick(attr: str, var: str) -> str | None:
            value = getattr(args, attr, None) if args is not None else None
            if value in (None, ""):
                value = environ.get(var) or None
            return str(value) if value is not None else None

        arm = pick("arm_endpoint", ENV_ARM_ENDPOINT)
        logs = pick("logs_endpoint", ENV_LOGS_ENDPOINT)
        ca = pick("ca_bundle", ENV_CA_BUNDLE)
        kube = pick("kubeconfig", ENV_KUBECONFIG)
        token = environ.get(ENV_ACCESS_TOKEN) or None
        profile = environ.get(ENV_PROFILE) or "azure"
        registry = environ.get(ENV_REGISTRY_ENDPOINT) or None
        if profile not in PROFILES:
            raise UsageError(f"{ENV_PROFILE} must be one of {', '.join(PROFILES)}, got {profile!r}")
        for name, url in (
            ("--arm-endpoint", arm),
            ("--logs-endpoint", logs),
            (ENV_REGISTRY_ENDPOINT, registry),
        ):
            if url is not None:
                _check_url(name, url)
        if ca is not None:
            ca_path = Path(ca).expanduser()
            if not ca_path.is_file():
                raise UsageError(f"--ca-bundle / {ENV_CA_BUNDLE}: no such file: {ca}")
            ca = str(ca_path.resolve())
        if token is not None and any(ch.isspace() for ch in token.strip()):
            raise UsageError(f"{ENV_ACCESS_TOKEN} must be a single bearer token (no spaces)")
        managed = bool(getattr(args, "managed_identity", False)) or environ.get(
            ENV_MANAGED_IDENTITY, ""
        ).strip().lower() in ("1", "true", "yes")
        no_graph = bool(getattr(args, "no_resource_graph", False)) or environ.get(
            ENV_NO_RESOURCE_GRAPH, ""
        ).strip().lower() in ("1", "true", "yes")
        return cls(
            arm_endpoint=arm.rstrip("/") if arm else None,
            logs_endpoint=logs.rstrip("/") if logs else None,
            ca_bundle=ca,
            access_token=token.strip() if token else None,
            kubeconfig=kube,
            profile=profile,  # type: ignore[arg-type]  # checked against PROFILES above
            managed_identity=managed,
            registry_endpoint=registry.rstrip("/") if registry else None,
            resource_graph=not no_graph,
        )


def add_cloud_arguments(parser: argparse.ArgumentParser) -> None:
    """The endpoint/trust flags every Azure-facing command shares."""
    group = parser.add_argument_group("Azure endpoints (default: real Azure)")
    group.add_argument(
        "--arm-endpoint",
        metavar="URL",
        default=None,
        help=f"Azure Resource Manager base URL (env {ENV_ARM_ENDPOINT})",
    )
    group.add_argument(
        "--logs-endpoint",
        metavar="URL",
        default=None,
        help=f"Log Analytics query API base URL (env {ENV_LOGS_ENDPOINT})",
    )
    group.add_argument(
        "--ca-bundle",
        metavar="FILE",
        default=None,
        help=f"PEM file of CAs to trust for those endpoints (env {ENV_CA_BUNDLE})",
    )
    group.add_argument(
        "--kubeconfig",
        metavar="FILE",
        default=None,
        help=f"kubeconfig with one context per cluster (env {ENV_KUBECONFIG})",
    )
    group.add_argument(
        "--managed-identity",
        action="store_true",
        default=False,
        help=f"also sign in with the Azure VM's managed identity (env {ENV_MANAGED_IDENTITY}=1)",
    )


def add_discovery_arguments(parser: argparse.ArgumentParser) -> None:
    """The flag of the commands that discover (discover, plan, status)."""
    parser.add_argument(
        "--no-resource-graph",
        action="store_true",
        default=False,
        help="discover by walking ARM per subscription instead of asking Azure Resource Graph "
        f"(env {ENV_NO_RESOURCE_GRAPH}=1)",
    )


def _check_url(flag: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        # Bearer tokens are refused over plain http by azure-core, so say it up front.
        raise UsageError(f"{flag} must be an https:// URL, got {url!r}")

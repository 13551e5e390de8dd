"""Turn azure-core exceptions into one-line messages that say what to fix.

The SDK's own exception text carries the whole response (and its ``.response.request`` the
request body, which may hold a workspace key); :func:`user_error` builds a fresh ``UserError``
from the error code and message only, scrubs any secret, and is raised ``from None``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from aksaudit_tui import redaction
from aksaudit_tui.errors import UserError

_ACTION_RE = re.compile(r"action '([^']+)'")
_SCOPE_RE = re.compile(r"scope '([^']+)'")
_NODE_RG_RE = re.compile(r"/resourceGroups/(MC_[^/']+)", re.IGNORECASE)


@dataclass(frozen=True)
class AzureErrorInfo:
    status: int | None
    code: str
    message: str


def error_info(exc: BaseException) -> AzureErrorInfo:
    """Status, ARM error code and message of an azure-core exception (or anything else)."""
    status = getattr(exc, "status_code", None)
    code = ""
    message = ""
    err = getattr(exc, "error", None)  # ODataV4Format when the body parsed
    if err is not None:
        code = str(getattr(err, "code", "") or "")
        message = str(getattr(err, "message", "") or "")
    if not code:
        model = getattr(exc, "model", None)
        inner = getattr(model, "error", None)
        if inner is not None:
            code = str(getattr(inner, "code", "") or "")
            message = str(getattr(inner, "message", "") or "")
    if not message:
        message = str(getattr(exc, "message", "") or "") or str(exc)
    if not code:
        code = {
            401: "AuthenticationFailed",
            403: "AuthorizationFailed",
            404: "ResourceNotFound",
            409: "Conflict",
            429: "TooManyRequests",
        }.get(status or 0, type(exc).__name__)
    return AzureErrorInfo(status if isinstance(status, int) else None, code, _one_line(message))


def is_not_found(exc: BaseException) -> bool:
    info = error_info(exc)
    return info.status == 404 or info.code in ("ResourceNotFound", "NotFound")


def is_deny_assignment(info: AzureErrorInfo) -> bool:
    text = f"{info.code} {info.message}".lower()
    return "denyassignment" in text or "deny assignment" in text


def describe(
    exc: BaseException, *, action: str | None = None, scope: str | None = None
) -> AzureErrorInfo:
    """One-line, actionable description of ``exc`` (code kept, message rewritten)."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        ServiceRequestError,
        ServiceResponseError,
    )

    info = error_info(exc)
    msg = info.message
    if isinstance(exc, ClientAuthenticationError) and info.status is None:
        # Raised by the credential itself, before any request: the sign-in failed (an expired
        # az login, a wrong secret); Azure never saw a request, so nothing was "refused".
        return AzureErrorInfo(
            None,
            "SignInFailed",
            f"signing in to Azure failed ({_sign_in_reason(str(getattr(exc, 'message', exc)))}): "
            "run az login again (or set AKSAUDIT_ACCESS_TOKEN)",
        )
    if isinstance(exc, ClientAuthenticationError) or info.status == 401:
        return AzureErrorInfo(
            401,
            info.code or "AuthenticationFailed",
            "Azure refused the credentials: run `az login` again (or set AKSAUDIT_ACCESS_TOKEN "
            "to a valid token)",
        )
    if info.status == 403 or info.code.startswith("AuthorizationFailed"):
        the_action = _first(_ACTION_RE, msg) or action or "the needed permission"
        the_scope = _first(_SCOPE_RE, msg) or scope or "the resource"
        if is_deny_assignment(info):
            return AzureErrorInfo(
                403,
                info.code,
                f"{the_action} on {the_scope} is denied by the AKS node resource group lockdown "
                "(deny assignment, restrictionLevel ReadOnly): use the container-insights log "
                "path, or set the cluster's node resource group restriction level to Unrestricted",
            )
        role = (
            "Contributor on the node resource group"
            if _NODE_RG_RE.search(the_scope) or "virtualMachineScaleSets" in the_action
            else "Reader (to discover) or Contributor (to change) on that scope"
        )
        return AzureErrorInfo(
            403,
            info.code,
            f"you lack {the_action} on {the_scope}; ask for {role}",
        )
    if info.status == 404:
        return AzureErrorInfo(404, info.code, f"not found: {msg}")
    if info.status == 429:
        return AzureErrorInfo(
            429, info.code, f"Azure throttled the requests even after retries; try later ({msg})"
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
            return AzureErrorInfo(
                None,
                "TLSError",
                "TLS verification failed: pass --ca-bundle (or AKSAUDIT_CA_BUNDLE) with the "
                "endpoint's CA",
            )
        return AzureErrorInfo(
            None,
            "ConnectionError",
            f"cannot reach Azure: {_one_line(text)} (check --arm-endpoint/--logs-endpoint and "
            "the network)",
        )
    return info


def user_error(
    exc: BaseException,
    *,
    doing: str | None = None,
    action: str | None = None,
    scope: str | None = None,
    secrets: Iterable[str] = (),
    exit_code: int | None = None,
) -> UserError:
    """A ``UserError`` with one line: ``<doing>: <what to fix>`` (secrets scrubbed)."""
    info = describe(exc, action=action, scope=scope)
    text = info.message if info.code in info.message else f"{info.message} ({info.code})"
    if doing:
        text = f"{doing}: {text}"
    err = UserError(scrub(text, secrets), exit_code=exit_code)
    err.azure_code = info.code  # type: ignore[attr-defined]
    err.azure_status = info.status  # type: ignore[attr-defined]
    return err


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` without ``secrets`` nor any secret registered with the redactor."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return redaction.scrub(text)


def _sign_in_reason(text: str) -> str:
    """The credentials' own reasons from a chain's message, without its troubleshooting links."""
    _head, sep, attempts = text.partition("Attempted credentials:")
    body = attempts if sep else text
    body = body.split("To mitigate this issue", 1)[0].split("To troubleshoot", 1)[0]
    return _one_line(body.replace("\t", " "), limit=300) or "no reason given"


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    m = pattern.search(text)
    return m.group(1) if m else None


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    # azure-core appends "Code: ...\nMessage: ..." blocks; the first sentence is enough.
    for marker in (" Code: ", " Content: ", " Summary: "):
        idx = line.find(marker)
        if idx > 0:
            line = line[:idx]
    return line if len(line) <= limit else line[: limit - 1] + "…"

"""Small helpers shared by discovery and the log-path adapters: REST-shaped dicts from SDK models,
ARM id parsing, case-insensitive lookups, bounded calls."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterable, Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def rest(obj: Any) -> dict[str, Any]:
    """The REST (camelCase JSON) shape of an SDK model, hybrid or msrest, or a plain dict."""
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    if isinstance(obj, Mapping):  # hybrid (TypeSpec) models are mappings of the JSON body
        as_dict = getattr(obj, "as_dict", None)
        return dict(as_dict()) if callable(as_dict) else dict(obj)
    serialize = getattr(obj, "serialize", None)  # msrest models (azure-mgmt-monitor)
    if callable(serialize):
        return dict(serialize(keep_readonly=True))
    raise TypeError(f"cannot read {type(obj).__name__} as a REST body")


def json_body(body: Mapping[str, Any]) -> io.BytesIO:
    """A request body sent byte-for-byte: msrest clients would otherwise round-trip a dict through
    their model and drop fields their API version does not know."""
    return io.BytesIO(json.dumps(body).encode())


def props(body: Mapping[str, Any]) -> dict[str, Any]:
    p = body.get("properties")
    return p if isinstance(p, dict) else {}


def iget(mapping: Mapping[str, Any] | None, key: str, default: Any = None) -> Any:
    """Case-insensitive dict lookup (addon names and config keys vary in case in the wild)."""
    if not mapping:
        return default
    if key in mapping:
        return mapping[key]
    low = key.lower()
    for k, v in mapping.items():
        if isinstance(k, str) and k.lower() == low:
            return v
    return default


@dataclass(frozen=True)
class ArmId:
    subscription: str
    resource_group: str
    provider: str
    type: str
    name: str

    @classmethod
    def parse(cls, rid: str) -> ArmId:
        parts = [p for p in rid.split("/") if p]
        low = [p.lower() for p in parts]
        try:
            sub = parts[low.index("subscriptions") + 1]
        except (ValueError, IndexError):
            sub = ""
        try:
            rg = parts[low.index("resourcegroups") + 1]
        except (ValueError, IndexError):
            rg = ""
        try:
            i = low.index("providers")
            provider, typ, name = parts[i + 1], parts[i + 2], parts[i + 3]
        except (ValueError, IndexError):
            provider, typ, name = "", "", parts[-1] if parts else ""
        return cls(sub, rg, provider, typ, name)


def same_id(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and a.rstrip("/").lower() == b.rstrip("/").lower()  # type: ignore[union-attr]


class Bounded:
    """Bounds concurrent ARM requests: each awaited call or paged listing holds one slot."""

    def __init__(self, limit: int) -> None:
        self._sem = asyncio.Semaphore(max(1, limit))
        self.requests = 0

    async def call(self, aw: Awaitable[T]) -> T:
        async with self._sem:
            self.requests += 1
            return await aw

    async def collect(self, pager: AsyncIterable[Any]) -> list[dict[str, Any]]:
        async with self._sem:
            self.requests += 1
            return [rest(item) async for item in pager]

    async def lro(self, begin: Awaitable[Any]) -> dict[str, Any]:
        """Start a long-running operation and wait for it (slot held while polling)."""
        async with self._sem:
            self.requests += 1
            poller = await begin
            return rest(await poller.result())

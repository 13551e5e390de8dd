"""wire.dumps, the encoder of every ARM and kube answer body: the values json.dumps took encode
to the same JSON (compact, UTF-8), and what json.dumps refused is still refused."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from aksaudit_emulator import wire

SAMPLES: list[Any] = [
    {"id": "/subscriptions/x/resourceGroups/rg", "tags": {}, "n": 3, "ok": True, "none": None},
    [1.5, -0, 10**12, "caf\u00e9 \u2713", {"nested": [[], {}]}],
    {7: "int key", 2.5: "float key", False: "bool key", None: "null key"},  # keys as strings
    {"big": 2**70},  # past 64 bits: orjson refuses, the fallback writes it
    "plain",
]


@pytest.mark.parametrize("value", SAMPLES)
def test_same_json_as_the_standard_library(value: Any) -> None:
    # byte for byte what the standard library writes, compact and without \u escapes
    compact = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert wire.dumps(value) == compact


def test_non_ascii_is_utf8_not_escaped() -> None:
    assert wire.dumps({"s": "caf\u00e9"}) == '{"s":"caf\u00e9"}'.encode()


@dataclasses.dataclass
class _Thing:
    a: int = 1


@pytest.mark.parametrize("value", [{"when": datetime.now(UTC)}, _Thing(), {1, 2}, b"raw"])
def test_what_json_refuses_is_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError):
        wire.dumps(value)

"""DeliverySpec: bad parameters are one clear UsageError, before anything touches a cluster."""

from __future__ import annotations

from typing import Any

import pytest

from aksaudit_tui.errors import UsageError
from aksaudit_tui.nodes import manifests as m
from aksaudit_tui.nodes.delivery import DeliverySpec, NodeResult, summarize


def test_defaults_are_the_manifest_defaults() -> None:
    spec = DeliverySpec()
    assert spec.namespace == m.DEFAULT_NAMESPACE and spec.image == m.DEFAULT_IMAGE
    assert spec.mode == "keeper" and spec.concurrency >= 1


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"mode": "daemonset"}, "keeper or one-shot"),
        ({"namespace": "Bad_NS"}, "not a valid Kubernetes name"),
        ({"namespace": "x" * 64}, "not a valid Kubernetes name"),
        ({"image": "busybox latest"}, "not a valid image"),
        ({"image": ""}, "not a valid image"),
        ({"concurrency": 0}, "concurrency must be at least 1"),
        ({"pod_deadline_s": 0}, "pod_deadline_s must be at least 1"),
        ({"run_id": " "}, "run_id"),
    ],
)
def test_bad_spec_is_a_usage_error(kw: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError) as ei:
        DeliverySpec(**kw)
    assert words in str(ei.value) and "\n" not in str(ei.value)


def test_summarize_counts_phases() -> None:
    rs = [
        NodeResult("a", "p", "Ubuntu2204", "compliant"),
        NodeResult("b", "p", "Ubuntu2204", "compliant"),
        NodeResult("w", "win", "Windows2022", "skipped", message="Windows node"),
    ]
    assert summarize(rs) == {"compliant": 2, "skipped": 1}
    assert all(r.final for r in rs)
    assert not NodeResult("c", "p", "x", "running").final

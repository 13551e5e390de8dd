"""The admission policy's per-input result cache (kube/vap.py): a validation that reads only
``variables.<name>.<field>`` chains is kept per the values of those chains, so the pods of one
rollout (differing in name and node) are judged once; anything reading ``object`` directly is
evaluated every time, and a change in a chain it reads is judged anew."""

from __future__ import annotations

from typing import Any

from aksaudit_emulator.kube import vap

IMAGE_OK = "variables.spec.containers.all(c, c.image == 'good')"
NAME_OK = "object.metadata.name != 'blocked'"
POLICY: dict[str, Any] = {
    "variables": [{"name": "spec", "expression": "object.spec"}],
    "validations": [
        {"expression": IMAGE_OK, "message": "bad image"},
        {"expression": NAME_OK, "message": "blocked name"},
    ],
}


def _pod(name: str, image: str, node: str = "n1") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": image}]},
    }


def _judge(pod: dict[str, Any]) -> str | None:
    return vap._first_failure(POLICY, "pods", pod, None, {"metadata": {"name": "ns"}})


def test_what_is_kept_and_what_is_evaluated_each_time() -> None:
    assert vap._reads(IMAGE_OK) == (("spec", "containers"),)
    assert vap._reads(NAME_OK) is None  # reads object: never kept
    assert vap._reads("variables.spec == 1") is None  # a whole variable: no narrower key
    # a string that merely names an input is not a read
    assert vap._reads("variables.spec.containers.all(c, c.name != 'object')") == (
        ("spec", "containers"),
    )
    assert vap._reads("variables.spec.x == r'\\'") is None  # raw strings are not split


def test_results_follow_the_inputs_they_read() -> None:
    vap._RESULTS.clear()
    assert _judge(_pod("a", "good", "n1")) is None
    kept = len(vap._RESULTS)
    assert kept == 1  # the image check, kept for these containers
    assert _judge(_pod("b", "good", "n2")) is None  # same containers: judged from the cache
    assert len(vap._RESULTS) == kept
    assert _judge(_pod("c", "evil", "n3")) == "bad image"  # other containers: judged anew
    assert _judge(_pod("blocked", "good", "n4")) == "blocked name"  # object read every time
    assert _judge(_pod("d", "good", "n5")) is None

"""One ``AppliedRecord`` with a plausible value in every field, for tests that need a cluster's
record: each test overrides only what it checks (``sample_record(log_path="ama")``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aksaudit_tui.nodes.record import AppliedRecord

_SAMPLE = AppliedRecord(
    plan_hash="0" * 64,
    presets=("identity-and-config",),
    rules_sha256="1" * 64,
    facility="authpriv",
    severity="info",
    log_path="container-insights",
    workspace_id="ws",
    workspace_name="law",
    workspace_resource_id="",
    script_sha256="2" * 64,
    delivery="keeper",
    keeper_interval_s=300,
    tool_version="test",
    applied_at="2026-11-25T09:30:00+00:00",
    applied_by="maria.garcia@contoso.com",
    run_id="r1",
)


def sample_record(**overrides: Any) -> AppliedRecord:
    """The sample record with ``overrides`` (field names of ``AppliedRecord``)."""
    return replace(_SAMPLE, **overrides)

"""plan.yaml: round trip with the user's comments, one-line errors naming the line to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from aksaudit_tui.engine import plan_io
from aksaudit_tui.engine.plan import ClusterTarget, Plan, WorkspaceRef
from aksaudit_tui.errors import UsageError

SUB = "9a9e4724-4de8-4e90-8d73-d2768294f7e8"
CLUSTER_ID = (
    f"/subscriptions/{SUB}/resourceGroups/rg-aks-prod/providers/"
    "Microsoft.ContainerService/managedClusters/aks-prod-weu"
)
WS_ID = (
    f"/subscriptions/{SUB}/resourceGroups/rg-aks-prod/providers/"
    "Microsoft.OperationalInsights/workspaces/law-prod-weu"
)
WS_GUID = "419165b8-b495-4046-9181-12c58ee9bc9e"

GOOD = f"""\
# my plan for prod
version: 1
clusters:
  - name: aks-prod-weu   # the big one
    id: {CLUSTER_ID}
    node_resource_group: MC_rg-aks-prod_aks-prod-weu_westeurope
workspace:
  name: law-prod-weu
  id: {WS_ID}
  customer_id: {WS_GUID}
log_path: container-insights
presets: [identity-and-config]
facility: authpriv
severity: info
delivery: keeper
"""


def plan() -> Plan:
    return Plan(
        clusters=(
            ClusterTarget(
                "aks-prod-weu",
                CLUSTER_ID,
                SUB,
                "rg-aks-prod",
                "MC_rg-aks-prod_aks-prod-weu_westeurope",
                "westeurope",
            ),
        ),
        workspace=WorkspaceRef("law-prod-weu", WS_ID, WS_GUID, "rg-aks-prod", SUB, "westeurope"),
        presets=("identity-and-config", "container-escape"),
    )


def test_load_fills_ids_from_the_arm_id() -> None:
    p = plan_io.loads(GOOD)
    c = p.clusters[0]
    assert (c.subscription_id, c.resource_group, c.context) == (SUB, "rg-aks-prod", "aks-prod-weu")
    assert p.workspace.customer_id == WS_GUID
    assert (p.facility, p.severity, p.delivery, p.log_path) == (
        "authpriv",
        "info",
        "keeper",
        "container-insights",
    )


def test_dump_then_load_is_the_same_plan(tmp_path: Path) -> None:
    p = plan()
    path = tmp_path / "plan.yaml"
    plan_io.dump(p, path)
    again = plan_io.load(path)
    assert again == p
    assert again.source == str(path)


def test_rewrite_keeps_the_users_comments(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(GOOD)
    p = plan_io.load(path)
    plan_io.dump(p.with_changes(facility="local3", presets=("container-escape",)), path)
    text = path.read_text()
    assert "# my plan for prod" in text
    assert "# the big one" in text
    assert "facility: local3" in text
    assert plan_io.load(path).presets == ("container-escape",)


@pytest.mark.parametrize(
    ("edit", "line", "needle"),
    [
        (
            ("facility: authpriv", "facility: authprov"),
            13,
            'unknown facility "authprov"; use one of',
        ),
        (("delivery: keeper", "delivery: daemon"), 15, 'unknown delivery "daemon"'),
        (("severity: info", "severity: loud"), 14, 'unknown severity "loud"'),
        (("log_path: container-insights", "log_path: oms"), 11, 'unknown log path "oms"'),
        (("version: 1", "version: 1\nworkspace_key: abc"), 3, 'unknown key "workspace_key"'),
        (("presets: [identity-and-config]", "presets: [nope]"), 12, 'unknown preset "nope"'),
        (
            ("  customer_id: " + WS_GUID, "  customer_id: " + WS_GUID + "\n  primary_key: x"),
            11,
            'unknown workspace key "primary_key" (keys are fetched at apply time',
        ),
        (("delivery: keeper", "delivery: [keeper"), 16, "not valid YAML"),
    ],
)
def test_errors_name_the_line_and_the_fix(edit: tuple[str, str], line: int, needle: str) -> None:
    with pytest.raises(UsageError) as ei:
        plan_io.loads(GOOD.replace(*edit), name="plan.yaml")
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(f"plan.yaml:{line}: "), msg
    assert needle in msg


def test_invalid_inline_custom_rule_is_refused() -> None:
    text = GOOD + "custom_rules:\n  inline: |\n    -w /etc/shadow -p zz -k x\n"
    with pytest.raises(UsageError) as ei:
        plan_io.loads(text, name="plan.yaml")
    msg = str(ei.value)
    assert msg.startswith("plan.yaml:17: "), msg
    assert "custom_rules:1: " in msg and "\n" not in msg


def test_custom_rules_file_error_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "extra.rules").write_text("-w /etc/shadow -p wa -k shadow\n-e 2\n")
    path = tmp_path / "plan.yaml"
    path.write_text(GOOD + "custom_rules: {file: extra.rules}\n")
    with pytest.raises(UsageError) as ei:
        plan_io.load(path)
    assert "extra.rules:2" in str(ei.value)
    (tmp_path / "extra.rules").write_text("-w /etc/shadow -p wa -k shadow\n")
    assert plan_io.load(path).custom_rules_file == "extra.rules"


def test_missing_custom_rules_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(GOOD + "custom_rules: {file: nowhere.rules}\n")
    with pytest.raises(UsageError, match=r'plan.yaml:16: custom rules file "nowhere.rules"'):
        plan_io.load(path)


def test_unpinned_image_and_bad_namespace_are_refused() -> None:
    with pytest.raises(UsageError, match="not pinned"):
        plan_io.loads(GOOD + "image: busybox\n")
    with pytest.raises(UsageError, match="not a valid Kubernetes name"):
        plan_io.loads(GOOD + "namespace: Audit_NS\n")


def test_plan_text_holds_no_secret() -> None:
    text = plan_io.dumps(plan())
    body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
    for word in ("key", "token", "secret", "password"):
        assert word not in body.lower()


def test_pod_defaults_have_one_source_the_nodes_layer() -> None:
    """Plan, delivery spec, CLI help and TUI all take the namespace/image from nodes.manifests."""
    from aksaudit_tui import syslog
    from aksaudit_tui.engine import plan as plan_mod
    from aksaudit_tui.nodes import manifests
    from aksaudit_tui.nodes.delivery import DeliverySpec

    assert manifests.DEFAULT_NAMESPACE == "aksaudit-system"
    assert plan_mod.DEFAULT_NAMESPACE == DeliverySpec().namespace == manifests.DEFAULT_NAMESPACE
    assert plan_mod.DEFAULT_IMAGE == DeliverySpec().image == manifests.DEFAULT_IMAGE
    assert syslog.FACILITIES[0] == "authpriv" and syslog.SEVERITIES[-1] == "debug"

"""What a log path's undo token names, for keeping it in the cluster's record
(``nodes.record``) as well as in the applying machine's journal.

Two rules, both about tokens leaving this machine:

* **No secret goes into the cluster.** A token may be recorded only when its kind is known to
  hold names, ARM ids and previous settings the tool itself chose (severities, a facility).
  ``vmss-ext-restore`` (legacy path, a re-pointed agent) carries the *public settings someone
  else wrote* on their extension: free-form JSON this tool does not control, which could hold a
  secret put in the wrong place. It stays in the journal only; the record says, by ids, that a
  restore exists which a remove from the record cannot do. A kind this module does not know is
  withheld the same way (fail closed).
* **A token read back from the cluster is not trusted blindly.** Whoever can write ConfigMaps in
  the record's namespace could add a token naming someone else's rule or extension. A remove
  from the record undoes a token only when it names this cluster's own resources, as read from
  Azure when the remove is built (never from the record): the cluster itself; our agent or
  association on a scale set in its node resource group; a whole rule only when it has a name
  an apply creates (ours, or the cluster's Container Insights rule) in the cluster's resource
  group, and even then it is deleted only if the rule carries our ownership tag (``dcr.py``,
  checked when it is deleted: a name is no proof, the portal names the Container Insights rule
  as an apply does); a change to a rule's sources or flows only in a rule associated with the
  cluster now, and a source removed only when it has our name (``aksaudit-``); a data source
  only of a workspace the cluster's agents send to (its add-on, its rules, its agents'
  settings), and deleted only when it has our name (and, when deleted, our tag).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aksaudit_tui.cloud.arm import ArmId, same_id
from aksaudit_tui.cloud.parse import msci_name

# Kinds whose fields are ids, names, and values aksaudit chose (see each adapter's apply).
RECORDABLE_KINDS = frozenset(
    {
        "addon",  # addon|<cluster id>
        "addon-msi",  # addon-msi|<cluster id>
        "dcr",  # dcr|<rule id>
        "dcra",  # dcra|<resource id>|<association name>
        "dcr-source",  # dcr-source|<rule id>|<source name>
        "dcr-facility",  # dcr-facility|<rule id>|<source name>|<facility>
        "dcr-flow",  # dcr-flow|<rule id>
        "vmss-ext",  # vmss-ext|<scale set id>|<extension name>
        "ds",  # ds|<workspace id>|<data source name>
        "ds-severities",  # ds-severities|<workspace id>|<data source name>|<severities before>
    }
)
OUR_SOURCE_PREFIX = "aksaudit-"  # the syslog sources the tool adds to a rule are named so
OUR_RULE_PREFIX = "aksaudit-syslog-"  # the rules it creates (ama.rule_name)
OUR_DATA_SOURCE_PREFIX = "aksaudit-syslog-"  # the workspace data sources it adds (legacy_oms)
# The only extensions and rule associations the adapters install (ama.EXT_NAME,
# legacy_oms.EXT_NAME; ama.ASSOCIATION, parse.CI_ASSOCIATION): a token from the record naming
# another one on the cluster's scale sets is someone else's agent or association.
OUR_EXTENSIONS = frozenset({"azuremonitorlinuxagent", "omsagentforlinux"})
OUR_ASSOCIATIONS = frozenset({"aksaudit-syslog", "containerinsightsextension"})


@dataclass(frozen=True)
class UndoScope:
    """The resources a cluster's own record may name (see the module docstring): the cluster's
    ids, and what discovery read of it when the remove was built."""

    cluster_id: str
    subscription_id: str
    resource_group: str
    node_resource_group: str
    # ARM ids of the workspaces the cluster's agents send to (add-on, rules, agents' settings)
    workspace_ids: tuple[str, ...] = ()
    # ARM ids of the data collection rules associated with the cluster (or its scale sets)
    rule_ids: tuple[str, ...] = ()
    cluster_name: str = ""  # names the Container Insights rule an apply may have created


def recordable(token: str) -> bool:
    """Whether ``token`` may be written into the cluster's record (holds no secret)."""
    return token.split("|", 1)[0] in RECORDABLE_KINDS


def withheld(token: str) -> str:
    """What the record says of a token it does not hold: its kind and the ids it acts on
    (never the settings that made it unrecordable)."""
    kind, *args = token.split("|")
    if kind == "vmss-ext-restore" and len(args) >= 2:
        return f"{kind}|{args[0]}|{args[1]}"
    return kind


def describe_withheld(line: str) -> str:
    """A withheld token, for people: what a remove from the record cannot undo and why."""
    kind, *args = line.split("|")
    if kind == "vmss-ext-restore" and len(args) == 2:
        return (
            f"extension {args[1]} on scale set {ArmId.parse(args[0]).name} was re-pointed to "
            "this workspace; its previous settings are only in the journal of the machine that "
            "applied (they are someone else's and could hold a secret, so the cluster does not "
            "keep them): remove from that machine, or re-point it by hand"
        )
    return (
        f"a log path change of kind {kind} is only in the journal of the machine that applied; "
        "remove from that machine to undo it"
    )


def split_recordable(tokens: Sequence[str]) -> tuple[list[str], list[str]]:
    """(tokens the record may hold, the withheld lines of the others)."""
    keep = [t for t in tokens if recordable(t)]
    held = [withheld(t) for t in tokens if not recordable(t)]
    return keep, list(dict.fromkeys(held))


def out_of_scope(token: str, scope: UndoScope) -> str | None:
    """Why a token read from the cluster's record is not undone (None: it names only this
    cluster's own resources, see the module docstring)."""
    kind, *args = token.split("|")
    if kind not in RECORDABLE_KINDS or not args:
        return f"{kind}: not a change aksaudit records in the cluster"
    target = args[0]
    rid = ArmId.parse(target)

    sub_ok = rid.subscription.lower() == scope.subscription_id.lower()
    rg = rid.resource_group.lower()
    typ = rid.type.lower()
    scale_set = sub_ok and rg == scope.node_resource_group.lower()
    scale_set = scale_set and typ == "virtualmachinescalesets"
    rule = sub_ok and typ == "datacollectionrules"
    if kind in ("addon", "addon-msi"):
        ok = same_id(target, scope.cluster_id)
    elif kind == "dcra":
        named = len(args) > 1 and args[1].lower() in OUR_ASSOCIATIONS
        ok = named and (same_id(target, scope.cluster_id) or scale_set)
    elif kind == "vmss-ext":
        ok = scale_set and len(args) > 1 and args[1].lower() in OUR_EXTENSIONS
    elif kind == "dcr":  # a whole rule: only one apply creates, where it creates them
        ok = rule and rg == scope.resource_group.lower() and _creatable_rule(rid.name, scope)
    elif kind in ("dcr-source", "dcr-facility", "dcr-flow"):
        # someone's rule: only one serving the cluster (discovery), and only our own source
        ok = rule and any(same_id(target, r) for r in scope.rule_ids)
        if kind == "dcr-source":
            ok = ok and len(args) > 1 and args[1].startswith(OUR_SOURCE_PREFIX)
    else:  # ds, ds-severities: a workspace the cluster sends to; a whole source only ours
        ok = any(same_id(target, w) for w in scope.workspace_ids)
        if kind == "ds":
            ok = ok and len(args) > 1 and args[1].lower().startswith(OUR_DATA_SOURCE_PREFIX)
    if ok:
        return None
    return f"{kind} names {rid.name or target}, which is not this cluster's own"


def _creatable_rule(name: str, scope: UndoScope) -> bool:
    """Whether an apply creates a rule of this name: ours (ama), or the cluster's own Container
    Insights rule ``MSCI-<region>-<cluster>`` (container_insights, when the cluster had none)."""
    low = name.lower()
    if low.startswith(OUR_RULE_PREFIX):
        return True
    region = low.removeprefix("msci-").split("-", 1)[0]
    return bool(scope.cluster_name) and low == msci_name(region, scope.cluster_name).lower()

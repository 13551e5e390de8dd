"""Two or three real invocations per command, shown at the end of its ``--help``.

Keyed by the command path as typed after ``aksaudit`` (``""`` is the wizard). A command that
is not listed simply has no examples block; a test runs every example's flags through the
parser so none of them goes stale.
"""

from __future__ import annotations

EXAMPLES: dict[str, tuple[str, ...]] = {
    "": (
        "aksaudit                                   # the wizard, after az login",
        "aksaudit --kubeconfig ~/.kube/aks.yaml     # contexts from az aks get-credentials",
        "aksaudit --managed-identity                # on an Azure VM with a managed identity",
    ),
    "demo": (
        "aksaudit demo                              # the wizard on the built-in emulator",
        "aksaudit demo --no-mouse                   # keys only",
    ),
    "emulator": (
        "aksaudit emulator                          # any free port; endpoints as JSON",
        "aksaudit emulator --port 8443 --state-dir /tmp/emu",
        "aksaudit emulator --fleet 200x5x10         # 200 subscriptions x 5 clusters x 10 nodes",
    ),
    "whoami": (
        "aksaudit whoami                            # tenant, user, subscriptions, contexts",
        "aksaudit whoami --json",
    ),
    "discover": (
        "aksaudit discover",
        "aksaudit discover --subscription my-sub --json > inventory.json",
    ),
    "plan": (
        "aksaudit plan --cluster aks-prod --out plan.yaml    # workspace: the add-on's, else "
        "the one in its subscription and region",
        "aksaudit plan --cluster aks-a --cluster aks-b --workspace aks-b=law-b --out plan.yaml",
        "aksaudit plan --cluster aks-a --cluster aks-b --workspace law-prod \\\n"
        "    --presets identity-and-config,kernel-and-privilege --facility local6 --out plan.yaml",
        "aksaudit plan --cluster aks-dev --workspace law-dev --log-path ama "
        "--delivery one-shot --out dev.yaml",
    ),
    "apply": (
        "aksaudit apply plan.yaml                   # review, then confirm on the terminal",
        "aksaudit apply plan.yaml --yes --json      # headless (CI)",
        "aksaudit apply plan.yaml --yes --no-verify",
    ),
    "resume": (
        "aksaudit resume --list",
        "aksaudit resume --yes                      # the newest unfinished run",
        "aksaudit resume 20261203-101500-ab12 --yes",
    ),
    "status": (
        "aksaudit status",
        "aksaudit status --cluster aks-prod --json",
    ),
    "verify": (
        "aksaudit verify                            # the newest run, last 15 minutes",
        "aksaudit verify --plan plan.yaml --since 2h",
        "aksaudit verify --since 30m --timeout 600 --json",
    ),
    "remove": (
        "aksaudit remove plan.yaml                  # nodes only; confirm on the terminal",
        "aksaudit remove plan.yaml --log-path --yes # also the log path changes",
        "aksaudit remove --cluster aks-payments-weu  # from the cluster's record, any machine",
    ),
    "cleanup": (
        "aksaudit cleanup --dry-run",
        "aksaudit cleanup",
    ),
    "presets": (
        "aksaudit presets list",
        "aksaudit presets show container-escape",
        "aksaudit presets render identity-and-config network --custom my.rules",
    ),
    "presets list": ("aksaudit presets list", "aksaudit presets list --json"),
    "presets show": ("aksaudit presets show identity-and-config",),
    "presets render": (
        "aksaudit presets render identity-and-config",
        "aksaudit presets render procmon-all-quiet procmon-all --custom my.rules",
    ),
    "node-script": (
        "aksaudit node-script --presets identity-and-config --facility authpriv > node.sh",
        "aksaudit node-script --presets cis-scoped --facility local6 --mode check",
    ),
    "completion": (
        'eval "$(aksaudit completion bash)"         # in ~/.bashrc',
        'eval "$(aksaudit completion zsh)"          # in ~/.zshrc',
        "aksaudit completion fish > ~/.config/fish/completions/aksaudit.fish",
    ),
    "manifests": (
        "aksaudit manifests plan.yaml > sent.yaml   # what apply sends, as it sends it",
        "aksaudit manifests plan.yaml --out k8s/    # then: kubectl diff -k k8s/",
    ),
}

HEADER = "examples:\n"


def epilog(command: str) -> str | None:
    lines = EXAMPLES.get(command)
    if not lines:
        return None
    return HEADER + "".join(f"  {line}\n" for line in lines)

"""``aksaudit whoami [--json]``: who is signed in, and what that sign-in can reach.

Shows the sign-in sources found (offline), the principal from the token's claims (tenant,
user or service principal name; never the token), the subscriptions it can read, and for
each AKS cluster listed there the kubeconfig context that reaches it (by name, as
``az aks get-credentials`` writes it, or by the API server's host name). Not signed in: one
line, exit 1, nothing sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from aksaudit_tui.cli import checks
from aksaudit_tui.cloud.settings import add_cloud_arguments
from aksaudit_tui.errors import EXIT_OK, EXIT_PARTIAL


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "whoami",
        help="who is signed in to Azure, which subscriptions and kube contexts it reaches",
        description="Show the Azure sign-in (tenant, user or service principal), the "
        "subscriptions it can read, and the kubeconfig context found for each AKS cluster.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_cloud_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aksaudit_tui.cloud.credentials import SOURCE_TITLES
    from aksaudit_tui.cloud.identity import whoami
    from aksaudit_tui.nodes.kubeconfig import context_for
    from aksaudit_tui.nodes.kubeconfig import contexts as kube_contexts

    settings = checks.signed_in(checks.cloud_settings(args))
    seen = asyncio.run(whoami(settings))
    contexts = kube_contexts(settings.kubeconfig)
    rows = [(c, context_for(c.name, c.fqdn, contexts)) for c in seen.clusters]
    if args.json:
        out = {
            "principal": seen.principal.to_json(),
            "sources": list(seen.sources),
            "subscriptions": [s.__dict__ for s in seen.subscriptions],
            "clusters": [{**c.__dict__, "kube_context": ctx} for c, ctx in rows],
            "errors": seen.errors,
        }
        print(json.dumps(out, indent=2))
    else:
        if seen.principal.kind == "static-token" and "static-token" not in seen.sources:
            print("signed in with a token that names nobody (not a JWT)")
        else:
            print(f"signed in {seen.principal.describe()}")
        print(f"through: {', '.join(SOURCE_TITLES[s] for s in seen.sources)}")
        print(f"subscriptions readable: {len(seen.subscriptions)}")
        for s in seen.subscriptions:
            state = f" ({s.state})" if s.state and s.state.lower() != "enabled" else ""
            print(f"  {s.name}  {s.id}{state}")
        print(f"AKS clusters: {len(seen.clusters)}")
        for c, ctx in rows:
            rg = c.id.split("/")[4] if c.id.count("/") >= 4 else "RG"
            where = (
                f"kube context {ctx}"
                if ctx
                else f"no kube context (az aks get-credentials -g {rg} -n {c.name})"
            )
            print(f"  {c.name}  {where}")
    for err in seen.errors:
        print(f"aksaudit: listing clusters: {err}", file=sys.stderr)
    return EXIT_PARTIAL if seen.errors else EXIT_OK

"""Azure adapters: settings, credentials, discovery, the three log paths, the log query.

Importing this package (or ``settings``, ``models``, ``discovery``, ``logpath``, ``logs``) loads
no Azure SDK: SDK modules are imported when a client is first built (``clients.py``).

- ``settings.CloudSettings`` / ``add_cloud_arguments`` / ``CloudSettings.from_env_and_args``
- ``credentials``: static token (``AKSAUDIT_ACCESS_TOKEN``) or the Azure CLI / default chain
- ``clients.AsyncClients``: every ``.aio`` client of one piece of work, one pooled session
- ``discovery.discover`` (stream of ``Subscription | Cluster | Workspace | DiscoveryError``),
  ``discovery.discover_all`` (``Inventory``), ``discovery.read_cluster``
- ``logpath.get_log_path(name, clients)``: ``probe`` / ``apply`` / ``remove`` for
  ``container-insights``, ``legacy-oms``, ``ama``
- ``logs.syslog_arrival``: one KQL query per workspace for all nodes
- ``errors``: azure-core exceptions as one-line ``UserError`` messages that say what to fix
"""

"""Azure adapters: settings, credentials, discovery, the three log paths, the log query.

Importing this package (or ``settings``, ``models``, ``discovery``, ``parse``, ``logpaths``,
``logs``) loads no Azure SDK: SDK modules are imported when a client is first built
(``clients.py``).

- ``settings.CloudSettings`` / ``add_cloud_arguments`` / ``CloudSettings.from_env_and_args``
- ``credentials``: static token (``AKSAUDIT_ACCESS_TOKEN``) or the Azure CLI / default chain
- ``clients.AsyncClients``: every ``.aio`` client of one piece of work, one pooled session
- ``discovery.discover`` (stream of ``Subscription | Cluster | Workspace | DiscoveryError``),
  ``discovery.discover_all`` (``Inventory``), ``discovery.read_cluster``
- ``parse``: ARM bodies (REST-shaped dicts) to models; no I/O
- ``logpaths``: the log-path registry (``LOG_PATHS``, ``describe(name)``) and
  ``get_log_path(name, clients)``: ``probe`` / ``apply`` / ``remove``, one module per path
- ``logs.syslog_arrival``: one KQL query per workspace for all nodes
- ``errors``: azure-core exceptions as one-line ``UserError`` messages that say what to fix
"""

"""aksaudit-tui: host-level audit logging for AKS worker nodes, proven end to end."""

__version__ = "0.1.0"

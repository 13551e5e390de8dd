"""The steps of a run (access, log path, delivery) and the Kubernetes plumbing they share.

Steps sit below the runner and the operations: they import only the engine's base modules
(plan, events, journal, rules, config) and the adapters (cloud, nodes).
"""

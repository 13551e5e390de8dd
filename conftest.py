"""Root conftest: shared fixtures live in tests/fixtures/, one module per area."""

pytest_plugins = [
    "fixtures.home",
    "fixtures.noderoot",
    "fixtures.emulator",
    "fixtures.kernel",
]

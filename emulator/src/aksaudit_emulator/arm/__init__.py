"""The emulated Azure Resource Manager surface."""

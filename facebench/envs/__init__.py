"""Per-family environments and the worker that runs an adapter inside one."""

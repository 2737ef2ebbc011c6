"""A local, daprd-compatible Dapr runtime: ``python -m sidecar`` (see docs/sidecar.md)."""

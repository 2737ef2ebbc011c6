"""Tests of the local Dapr runtime (sidecar/), mostly through a real subprocess."""

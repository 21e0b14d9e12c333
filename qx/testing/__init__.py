"""Helpers to test handlers against a real JetStream: fixtures come from ``qx.testing.plugin``."""

from qx.embedded import EmbeddedNatsServer
from qx.testing._harness import WorkerHarness, final

__all__ = ["EmbeddedNatsServer", "WorkerHarness", "final"]

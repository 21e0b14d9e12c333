"""Shared test configuration. The ``nats_server`` fixture comes from the qx pytest plugin."""

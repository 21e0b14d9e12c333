"""Event handlers of golden_declared_events: one module per event, created once by qxgen."""

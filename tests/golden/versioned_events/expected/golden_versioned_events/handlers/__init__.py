"""Event handlers of golden_versioned_events: one module per event, created once by qxgen."""

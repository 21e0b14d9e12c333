"""Event handlers of golden_relaxed_types: one module per event, created once by qxgen."""

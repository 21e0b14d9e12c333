"""Event handlers of golden_hostile_names: one module per event, created once by qxgen."""

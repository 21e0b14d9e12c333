"""Event handlers of golden_root_shapes: one module per event, created once by qxgen."""

"""Event handlers of golden_cross_file_refs: one module per event, created once by qxgen."""

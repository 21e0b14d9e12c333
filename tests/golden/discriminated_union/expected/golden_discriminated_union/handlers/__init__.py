"""Event handlers of golden_discriminated_union: one module per event, created once by qxgen."""

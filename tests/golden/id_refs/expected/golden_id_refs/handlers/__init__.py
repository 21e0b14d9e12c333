"""Event handlers of golden_id_refs: one module per event, created once by qxgen."""

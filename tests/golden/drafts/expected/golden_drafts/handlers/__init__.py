"""Event handlers of golden_drafts: one module per event, created once by qxgen."""

"""Event handlers of golden_enums_formats_nullable: one module per event, created once by qxgen."""

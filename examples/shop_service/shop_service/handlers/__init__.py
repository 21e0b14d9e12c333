"""Event handlers of shop-service: one module per event, created once by qxgen."""

"""shop-service: an event worker built with qx."""

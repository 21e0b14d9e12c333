"""golden_declared_events: an event worker built with qx."""

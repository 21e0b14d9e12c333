"""golden_versioned_events: an event worker built with qx."""

"""golden_relaxed_types: an event worker built with qx."""

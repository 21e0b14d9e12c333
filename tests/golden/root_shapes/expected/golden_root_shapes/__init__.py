"""golden_root_shapes: an event worker built with qx."""

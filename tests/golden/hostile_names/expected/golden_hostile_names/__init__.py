"""golden_hostile_names: an event worker built with qx."""

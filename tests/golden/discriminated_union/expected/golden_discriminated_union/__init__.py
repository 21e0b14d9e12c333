"""golden_discriminated_union: an event worker built with qx."""

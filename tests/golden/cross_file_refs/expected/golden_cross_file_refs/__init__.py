"""golden_cross_file_refs: an event worker built with qx."""

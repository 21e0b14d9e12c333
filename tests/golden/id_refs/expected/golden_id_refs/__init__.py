"""golden_id_refs: an event worker built with qx."""

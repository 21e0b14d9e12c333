"""golden_drafts: an event worker built with qx."""

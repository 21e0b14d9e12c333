"""golden_enums_formats_nullable: an event worker built with qx."""

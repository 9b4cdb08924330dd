"""Geography models: areas, places, grid plans and cells."""

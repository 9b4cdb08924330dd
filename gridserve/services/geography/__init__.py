"""Geography use cases: the area tree, places, grid plans and their cells, locating a point."""

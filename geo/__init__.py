"""Pure geometry: validation, projections, grid generation, coverage, point-in-cell.

Nothing here knows about Flask or the database; services in ``gridserve``
call these functions with shapely geometries and numpy arrays.
"""

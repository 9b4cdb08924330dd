"""Grid layouts as stored rules, without HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from gridserve.extensions import db
from gridserve.models import GridPlan


def test_the_database_allows_one_active_layout_per_area(ctx, world):
    for _ in range(2):
        db.session.add(GridPlan(area_id=world.street, method="balanced", status="active"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()

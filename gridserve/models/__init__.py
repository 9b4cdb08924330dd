"""All models, importable from one place (Alembic's autogenerate reads this)."""

from gridserve.models.area import AREA_LEVELS, Area
from gridserve.models.audit import AuditEntry
from gridserve.models.grid import PLAN_METHODS, PLAN_STATUSES, GridCell, GridPlan
from gridserve.models.institution import Institution, InstitutionAlias, InstitutionContact
from gridserve.models.place import PLACE_TYPES, Place
from gridserve.models.user import ROLES, ApiToken, LoginThrottle, User

__all__ = [
    "AREA_LEVELS",
    "PLACE_TYPES",
    "PLAN_METHODS",
    "PLAN_STATUSES",
    "ROLES",
    "ApiToken",
    "Area",
    "AuditEntry",
    "GridCell",
    "GridPlan",
    "Institution",
    "InstitutionAlias",
    "InstitutionContact",
    "LoginThrottle",
    "Place",
    "User",
]

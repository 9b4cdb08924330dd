"""All models, importable from one place (Alembic's autogenerate reads this)."""

from gridserve.models.area import AREA_LEVELS, Area
from gridserve.models.audit import AuditEntry
from gridserve.models.institution import Institution, InstitutionAlias, InstitutionContact
from gridserve.models.user import ROLES, ApiToken, LoginThrottle, User

__all__ = [
    "AREA_LEVELS",
    "ROLES",
    "ApiToken",
    "Area",
    "AuditEntry",
    "Institution",
    "InstitutionAlias",
    "InstitutionContact",
    "LoginThrottle",
    "User",
]

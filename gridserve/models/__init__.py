"""All models, importable from one place (Alembic's autogenerate reads this)."""

from gridserve.models.area import AREA_LEVELS, Area
from gridserve.models.audit import AuditEntry
from gridserve.models.calendar import SmsCampaignDay, WorkCalendar
from gridserve.models.field import (
    EMPLOYMENT_TYPES,
    VISIT_KINDS,
    WORKER_STATUSES,
    Assignment,
    Attachment,
    Device,
    EnrolmentCode,
    Household,
    SyncCounter,
    SyncTombstone,
    Visit,
    Worker,
)
from gridserve.models.grid import PLAN_METHODS, PLAN_STATUSES, GridCell, GridPlan
from gridserve.models.institution import Institution, InstitutionAlias, InstitutionContact
from gridserve.models.place import PLACE_TYPES, Place
from gridserve.models.sms import (
    PhoneHashKey,
    SmsCampaign,
    SmsChannel,
    SmsMessage,
    SmsOptOut,
    SmsRecipient,
    SmsSender,
    SmsSlotRun,
    SmsText,
)
from gridserve.models.task import (
    TASK_FINAL_STATUSES,
    TASK_KINDS,
    TASK_OPEN_STATUSES,
    TASK_PRIORITIES,
    TASK_SOURCES,
    TASK_STATUSES,
    Task,
    TaskEvent,
)
from gridserve.models.user import ROLES, ApiToken, LoginThrottle, User

__all__ = [
    "AREA_LEVELS",
    "EMPLOYMENT_TYPES",
    "PLACE_TYPES",
    "PLAN_METHODS",
    "PLAN_STATUSES",
    "ROLES",
    "TASK_FINAL_STATUSES",
    "TASK_KINDS",
    "TASK_OPEN_STATUSES",
    "TASK_PRIORITIES",
    "TASK_SOURCES",
    "TASK_STATUSES",
    "VISIT_KINDS",
    "WORKER_STATUSES",
    "ApiToken",
    "Area",
    "Assignment",
    "Attachment",
    "AuditEntry",
    "Device",
    "EnrolmentCode",
    "GridCell",
    "GridPlan",
    "Household",
    "Institution",
    "InstitutionAlias",
    "InstitutionContact",
    "LoginThrottle",
    "PhoneHashKey",
    "Place",
    "SmsCampaign",
    "SmsCampaignDay",
    "SmsChannel",
    "SmsMessage",
    "SmsOptOut",
    "SmsRecipient",
    "SmsSender",
    "SmsSlotRun",
    "SmsText",
    "SyncCounter",
    "SyncTombstone",
    "Task",
    "TaskEvent",
    "User",
    "Visit",
    "WorkCalendar",
    "Worker",
]

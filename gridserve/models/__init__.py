"""All models, importable from one place (Alembic's autogenerate reads this).

The modules are split by wing, like ``gridserve.services``: ``geography``, ``field``, ``sms``
and ``accounts`` (what no wing owns); ``base`` holds the shared column types and mixins.
"""

from gridserve.models.accounts.audit import AuditEntry
from gridserve.models.accounts.calendars import SmsCampaignDay, WorkCalendar
from gridserve.models.accounts.institutions import Institution, InstitutionAlias, InstitutionContact
from gridserve.models.accounts.jobs import JOB_FINAL_STATUSES, JOB_KINDS, JOB_STATUSES, Job
from gridserve.models.accounts.users import ROLES, ApiToken, LoginThrottle, User
from gridserve.models.cases.categories import (
    CASE_CLASSES,
    CASE_LEVELS,
    CASE_SOURCES,
    CASE_STATUSES,
    DEADLINE_UNITS,
    CaseCategory,
    CaseFeedback,
    Open311Key,
)
from gridserve.models.field.sync import SyncCounter, SyncTombstone
from gridserve.models.field.tasks import (
    ALL_FINAL_STATUSES,
    CASE_FINAL_STATUSES,
    TASK_CARRIED_STATUSES,
    TASK_EVENT_ACTIONS,
    TASK_FINAL_STATUSES,
    TASK_KINDS,
    TASK_OPEN_STATUSES,
    TASK_PRIORITIES,
    TASK_SOURCES,
    TASK_STATUSES,
    Task,
    TaskEvent,
)
from gridserve.models.field.visits import VISIT_KINDS, Attachment, Household, Visit
from gridserve.models.field.workers import (
    EMPLOYMENT_TYPES,
    WORKER_STATUSES,
    Assignment,
    Device,
    EnrolmentCode,
    Worker,
)
from gridserve.models.geography.areas import AREA_LEVELS, Area
from gridserve.models.geography.grid import PLAN_METHODS, PLAN_STATUSES, GridCell, GridPlan
from gridserve.models.geography.places import PLACE_TYPES, Place
from gridserve.models.outreach.deliverables import (
    DELIVERABLE_KINDS,
    REMINDER_KINDS,
    OutreachDeliverable,
    OutreachReminder,
)
from gridserve.models.outreach.enterprises import ENTERPRISE_STATUSES, OutreachEnterprise
from gridserve.models.outreach.events import (
    DEFAULT_BOOTH,
    EVENT_KINDS,
    EVENT_STATUSES,
    OutreachEvent,
    OutreachPlan,
    OutreachReport,
    OutreachTeam,
    OutreachTeamMember,
    event_co_organisers,
)
from gridserve.models.outreach.notices import NOTICE_REASONS, OutreachCalendarFeed, OutreachNotice
from gridserve.models.outreach.programmes import (
    PROGRAMME_KINDS,
    OutreachProgramme,
    programme_campaigns,
    programme_institutions,
)
from gridserve.models.outreach.visits import (
    DECISIONS,
    OPERATING_STATUSES,
    REFERRAL_STATUSES,
    VISIT_OUTCOMES,
    OutreachReferral,
    OutreachVisit,
)
from gridserve.models.sms.campaigns import SmsCampaign, SmsChannel, SmsSender, SmsText
from gridserve.models.sms.outbox import SmsMessage, SmsSlotRun
from gridserve.models.sms.recipients import PhoneHashKey, SmsOptOut, SmsRecipient

__all__ = [
    "ALL_FINAL_STATUSES",
    "AREA_LEVELS",
    "CASE_CLASSES",
    "CASE_FINAL_STATUSES",
    "CASE_LEVELS",
    "CASE_SOURCES",
    "CASE_STATUSES",
    "DEADLINE_UNITS",
    "DECISIONS",
    "DEFAULT_BOOTH",
    "DELIVERABLE_KINDS",
    "EMPLOYMENT_TYPES",
    "ENTERPRISE_STATUSES",
    "EVENT_KINDS",
    "EVENT_STATUSES",
    "JOB_FINAL_STATUSES",
    "JOB_KINDS",
    "JOB_STATUSES",
    "NOTICE_REASONS",
    "OPERATING_STATUSES",
    "PLACE_TYPES",
    "PLAN_METHODS",
    "PLAN_STATUSES",
    "PROGRAMME_KINDS",
    "REFERRAL_STATUSES",
    "REMINDER_KINDS",
    "ROLES",
    "TASK_CARRIED_STATUSES",
    "TASK_EVENT_ACTIONS",
    "TASK_FINAL_STATUSES",
    "TASK_KINDS",
    "TASK_OPEN_STATUSES",
    "TASK_PRIORITIES",
    "TASK_SOURCES",
    "TASK_STATUSES",
    "VISIT_KINDS",
    "VISIT_OUTCOMES",
    "WORKER_STATUSES",
    "ApiToken",
    "Area",
    "Assignment",
    "Attachment",
    "AuditEntry",
    "CaseCategory",
    "CaseFeedback",
    "Device",
    "EnrolmentCode",
    "GridCell",
    "GridPlan",
    "Household",
    "Institution",
    "InstitutionAlias",
    "InstitutionContact",
    "Job",
    "LoginThrottle",
    "Open311Key",
    "OutreachCalendarFeed",
    "OutreachDeliverable",
    "OutreachEnterprise",
    "OutreachEvent",
    "OutreachNotice",
    "OutreachPlan",
    "OutreachProgramme",
    "OutreachReferral",
    "OutreachReminder",
    "OutreachReport",
    "OutreachTeam",
    "OutreachTeamMember",
    "OutreachVisit",
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
    "event_co_organisers",
    "programme_campaigns",
    "programme_institutions",
]

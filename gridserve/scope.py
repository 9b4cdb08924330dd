"""The one scoping rule: who may see which rows.

Every user is bound to a node of the area tree and sees that node's subtree;
an institution contact is bound to an institution and sees that institution's
rows. Services ask for rows through :func:`visible` / :func:`get_visible`, and
each model says once, in ``__scope__``, how it hangs on the tree:

- ``"area_path"``: the model is an :class:`Area` (its own path);
- ``("area", "column")``: the model hangs on the tree by that area-id column;
- ``"institution"``: reference data every area user may read; a contact only
  its own institution's;
- ``"programme"``: an outreach programme: area users whose area it covers or lies in (a
  station sees the street's programme), contacts of its organiser and its institutions;
- ``"event"``: an outreach event: area users whose area holds its venue, contacts of its
  participants (host, lead, co-organisers);
- ``"attachment"``: a terminal's photo (``worker_id`` set) hangs on its community like
  ``("area", "community_id")``; a file of the outreach desk (``user_id`` set) is seen by its
  uploader and, once a plan or report names it (``event_id``), by whoever sees that event
  (its participants' contacts, the coordinator and the area users over its venue);
- ``"requester"``: a job: the user who asked for it (and admin, like everywhere);
- ``"enterprise"``: a row of a visits programme's list: contacts of its responsible
  institution; area users over the enterprise's community (the programme itself is checked
  by the service: see ``"programme"``);
- ``"enterprise"`` also covers a visit record (:class:`OutreachVisit` carries the enterprise's
  institution and community);
- ``"referral"``: a referral card: contacts of the sending and of the receiving institution;
  area users over the enterprise's community;
- ``"deliverable"``: what an owner hands in for a programme: contacts of the owning
  institution; area users who see the programme; the owning user or worker's own account.
  A reminder hangs on its deliverable;
- ``"task"``: a task or case hangs on its community (``area_id``) for area users; a
  department's contacts (an institution of kind ``department``) see exactly the cases
  dispatched to their department (``department_id``), and nothing else of the tree;
- ``"notice"``: a change notice to one participant of an event: that institution's contacts;
  area users who see the event. A case's notice to an area's office: area users over that
  area; to a department: its contacts.

- ``"reference"``: reference data every signed-in user may read (assessment templates);
- ``"run"``: an assessment run hangs on its area like ``("area", "area_id")``; an
  institution contact sees the published runs that hold a card of its institution;
- ``"scorecard"``: a worker sees only their own cards, once published; a contact only its
  institution's, once published; other area users the cards of their subtree (``area_id``:
  a worker's or station's community; an institution's card, the run's area).

Out of scope is indistinguishable from absent: :func:`get_visible` raises the
same 404 for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, exists, false, literal, select, true
from sqlalchemy.sql.elements import ColumnElement

from gridserve.errors import Forbidden, NotFound
from gridserve.extensions import db
from gridserve.models import (
    Area,
    AssessmentRun,
    AssessmentTemplate,
    Assignment,
    Attachment,
    DismissalRecommendation,
    GridCell,
    GridPlan,
    Household,
    Institution,
    Job,
    OutreachDeliverable,
    OutreachEnterprise,
    OutreachEvent,
    OutreachNotice,
    OutreachProgramme,
    OutreachReferral,
    OutreachReminder,
    OutreachVisit,
    Place,
    ReportArchive,
    Scorecard,
    SmsCampaign,
    Task,
    User,
    Visit,
    Worker,
    event_co_organisers,
    programme_institutions,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller as services see it (no Flask in here)."""

    user_id: int
    username: str
    role: str
    area_id: int | None
    area_path: str | None
    institution_id: int | None
    token_id: int | None = None
    device_id: int | None = None

    def require(self, *roles: str) -> None:
        """Refuse (403) unless the caller has one of ``roles`` (admin always passes)."""
        if self.role != "admin" and self.role not in roles:
            raise Forbidden(
                "Your role may not do this.",
                code="forbidden_role",
                details={"role": self.role, "allowed": sorted({"admin", *roles})},
            )

    @property
    def is_area_bound(self) -> bool:
        return self.area_path is not None


# The operator at the shell (CLI, seeding): trusted, sees everything.
OPERATOR = Principal(
    user_id=0, username="operator", role="admin", area_id=None, area_path="/", institution_id=None
)


# --- "inside this area": the one place that knows an area's subtree is a path prefix ---------


def _path(area: Area | str) -> str:
    return area if isinstance(area, str) else area.path


def within_area(area: Area | str) -> ColumnElement[bool]:
    """``Area`` rows in ``area``'s subtree (the area itself included): a WHERE clause."""
    return Area.path.startswith(_path(area))


def area_subtree_ids(area: Area | str) -> Select:
    """``SELECT Area.id`` of ``area`` and every area below it."""
    return select(Area.id).where(within_area(area))


def in_area(column: Any, area: Area | str) -> ColumnElement[bool]:
    """``column`` (an area id) names ``area`` or an area below it."""
    return column.in_(area_subtree_ids(area))


def area_contains(outer: Area | str, inner: Area | str) -> bool:
    """``inner`` is ``outer`` or lies below it (in Python, for rows already loaded)."""
    return _path(inner).startswith(_path(outer))


def area_ancestor_ids(area: Area | str) -> Select:
    """``SELECT Area.id`` of ``area`` and every area above it."""
    return select(Area.id).where(literal(_path(area)).startswith(Area.path))


def _area_subtree_ids(principal: Principal) -> Select:
    return area_subtree_ids(principal.area_path or "\x00")


def scope_clause(model: type, principal: Principal) -> ColumnElement[bool]:
    """The WHERE clause that limits ``model`` to what ``principal`` may see."""
    kind = getattr(model, "__scope__", None)
    if kind is None:
        raise TypeError(f"{model.__name__} declares no __scope__")
    if principal.role == "admin":
        return true()
    if kind == "area_path":
        if not principal.is_area_bound:
            return false()
        return within_area(principal.area_path)  # model is Area
    if isinstance(kind, tuple) and kind[0] == "area":
        if not principal.is_area_bound:
            return false()
        return getattr(model, kind[1]).in_(_area_subtree_ids(principal))
    if kind == "institution":
        if principal.institution_id is not None:
            return model.id == principal.institution_id
        return true() if principal.is_area_bound else false()
    if kind == "programme":
        if principal.institution_id is not None:
            member = exists().where(
                programme_institutions.c.programme_id == model.id,
                programme_institutions.c.institution_id == principal.institution_id,
            )
            return (model.organiser_id == principal.institution_id) | member
        if not principal.is_area_bound:
            return false()
        return model.area_id.in_(_area_subtree_ids(principal)) | model.area_id.in_(
            area_ancestor_ids(principal.area_path)
        )
    if kind == "event":
        if principal.institution_id is not None:
            return participant_clause(principal.institution_id)
        if not principal.is_area_bound:
            return false()
        return model.area_id.in_(_area_subtree_ids(principal))
    if kind == "attachment":
        return attachment_clause(principal)
    if kind == "enterprise":
        if principal.institution_id is not None:
            return model.institution_id == principal.institution_id
        if not principal.is_area_bound:
            return false()
        return model.area_id.in_(_area_subtree_ids(principal))
    if kind == "task":
        if principal.institution_id is not None:
            return model.department_id == principal.institution_id
        if not principal.is_area_bound:
            return false()
        return model.area_id.in_(_area_subtree_ids(principal))
    if kind == "referral":
        if principal.institution_id is not None:
            return (model.from_institution_id == principal.institution_id) | (
                model.to_institution_id == principal.institution_id
            )
        if not principal.is_area_bound:
            return false()
        return model.area_id.in_(_area_subtree_ids(principal))
    if kind == "deliverable":
        # Whoever owns it sees it (a user named as owner; a worker's own account), whatever
        # their area or institution.
        own = (model.owner_user_id == principal.user_id) | model.owner_worker_id.in_(
            select(Worker.id).where(Worker.user_id == principal.user_id)
        )
        if principal.institution_id is not None:
            return (model.owner_institution_id == principal.institution_id) | own
        if not principal.is_area_bound:
            return own
        return own | model.programme_id.in_(
            select(OutreachProgramme.id).where(scope_clause(OutreachProgramme, principal))
        )
    if kind == "reminder":
        return model.deliverable_id.in_(
            select(OutreachDeliverable.id).where(scope_clause(OutreachDeliverable, principal))
        )
    if kind == "notice":
        if principal.institution_id is not None:
            return model.institution_id == principal.institution_id
        if not principal.is_area_bound:
            return false()
        subtree = _area_subtree_ids(principal)
        return model.event_id.in_(
            select(OutreachEvent.id).where(OutreachEvent.area_id.in_(subtree))
        ) | model.area_id.in_(subtree)
    if kind == "reference":
        return true()
    if kind == "run":
        if principal.institution_id is not None:
            return (model.status == "published") & model.id.in_(
                select(Scorecard.run_id).where(_own_institution_card(principal))
            )
        if not principal.is_area_bound:
            return false()
        return model.area_id.in_(_area_subtree_ids(principal))
    if kind == "scorecard":
        published = model.run_id.in_(
            select(AssessmentRun.id).where(AssessmentRun.status == "published")
        )
        if principal.institution_id is not None:
            return _own_institution_card(principal) & published
        if not principal.is_area_bound:
            return false()
        if principal.role == "worker":
            own = select(Worker.id).where(Worker.user_id == principal.user_id)
            return (model.target_kind == "worker") & model.target_id.in_(own) & published
        return model.area_id.in_(_area_subtree_ids(principal))
    if kind == "requester":  # a job: the user who asked for it
        return model.requested_by == principal.user_id
    if kind == "user":
        if principal.institution_id is not None:
            return model.institution_id == principal.institution_id
        clause = model.area_id.in_(_area_subtree_ids(principal))
        if principal.role in {"admin", "coordinator"}:
            clause = clause | model.institution_id.is_not(None)
        return clause
    raise TypeError(f"{model.__name__} declares no __scope__")


def _own_institution_card(principal: Principal) -> ColumnElement[bool]:
    return (Scorecard.target_kind == "institution") & (
        Scorecard.target_id == principal.institution_id
    )


def participant_clause(institution_id: int) -> ColumnElement[bool]:
    """Outreach events ``institution_id`` takes part in: as host, lead or co-organiser."""
    co = exists().where(
        event_co_organisers.c.event_id == OutreachEvent.id,
        event_co_organisers.c.institution_id == institution_id,
    )
    return (
        (OutreachEvent.host_id == institution_id) | (OutreachEvent.lead_id == institution_id) | co
    )


# Who reads terminals' photos (in their area): the worker (their own, narrowed by the service),
# the station and above. Coordinators and institution contacts read only desk files.
PHOTO_READERS = frozenset({"worker", "station", "street_centre", "district_centre"})


def attachment_clause(principal: Principal) -> ColumnElement[bool]:
    """Attachments ``principal`` may read (see ``"attachment"`` above); admin: all."""
    if principal.role == "admin":
        return true()
    # A terminal's photo, or a station's (a case's verification): by its community.
    photo = (Attachment.worker_id.is_not(None) | Attachment.community_id.is_not(None)) & (
        Attachment.community_id.in_(_area_subtree_ids(principal))
        if principal.is_area_bound and principal.role in PHOTO_READERS
        else false()
    )
    events = select(OutreachEvent.id).where(scope_clause(OutreachEvent, principal))
    desk = (
        Attachment.worker_id.is_(None)
        & Attachment.community_id.is_(None)
        & ((Attachment.user_id == principal.user_id) | Attachment.event_id.in_(events))
    )
    return photo | desk


def visible(model: type[T], principal: Principal) -> Select:
    """``SELECT model`` limited to the caller's scope; add filters to it."""
    return select(model).where(scope_clause(model, principal))


def get_visible(model: type[T], ident: Any, principal: Principal) -> T:
    """One row by primary key, or 404 if it does not exist or is out of scope."""
    row = db.session.execute(
        visible(model, principal).where(model.id == ident)  # type: ignore[attr-defined]
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No {model.__tablename__.rstrip('s').replace('_', ' ')} {ident}.")  # type: ignore[attr-defined]
    return row


def area_in_scope(area: Area, principal: Principal) -> bool:
    if principal.role == "admin":
        return True
    return principal.area_path is not None and area_contains(principal.area_path, area)


# How each model hangs on the tree (declared here so the rule stays in one file).
Area.__scope__ = "area_path"  # type: ignore[attr-defined]
Place.__scope__ = ("area", "area_id")  # type: ignore[attr-defined]
GridPlan.__scope__ = ("area", "area_id")  # type: ignore[attr-defined]
GridCell.__scope__ = ("area", "community_id")  # type: ignore[attr-defined]
Worker.__scope__ = ("area", "area_id")  # type: ignore[attr-defined]
Assignment.__scope__ = ("area", "community_id")  # type: ignore[attr-defined]
Visit.__scope__ = ("area", "community_id")  # type: ignore[attr-defined]
Household.__scope__ = ("area", "area_id")  # type: ignore[attr-defined]
Attachment.__scope__ = "attachment"  # type: ignore[attr-defined]
SmsCampaign.__scope__ = ("area", "area_id")  # type: ignore[attr-defined]
Institution.__scope__ = "institution"  # type: ignore[attr-defined]
User.__scope__ = "user"  # type: ignore[attr-defined]
OutreachProgramme.__scope__ = "programme"  # type: ignore[attr-defined]
OutreachEvent.__scope__ = "event"  # type: ignore[attr-defined]
OutreachEnterprise.__scope__ = "enterprise"  # type: ignore[attr-defined]
OutreachNotice.__scope__ = "notice"  # type: ignore[attr-defined]
OutreachVisit.__scope__ = "enterprise"  # type: ignore[attr-defined]
OutreachReferral.__scope__ = "referral"  # type: ignore[attr-defined]
OutreachDeliverable.__scope__ = "deliverable"  # type: ignore[attr-defined]
OutreachReminder.__scope__ = "reminder"  # type: ignore[attr-defined]
Job.__scope__ = "requester"  # type: ignore[attr-defined]
Task.__scope__ = "task"  # type: ignore[attr-defined]
AssessmentTemplate.__scope__ = "reference"  # type: ignore[attr-defined]
AssessmentRun.__scope__ = "run"  # type: ignore[attr-defined]
Scorecard.__scope__ = "scorecard"  # type: ignore[attr-defined]
DismissalRecommendation.__scope__ = ("area", "area_id")  # type: ignore[attr-defined]
ReportArchive.__scope__ = ("area", "area_id")  # type: ignore[attr-defined]

"""Scorecard templates: made and edited by an admin, read by everyone signed in.

A template is checked as a whole on every write: integer weights summing to 100 (else 422
``weights_not_100``), each indicator computed (a metric the metrics module knows for the
template's ``target_kind``) or entered (by the template's ``assessor_role``), its scoring fit
for its source, bands by :func:`scoring.check_bands`, deduction kinds with unique codes and
positive points, and an assessor role that may assess (:data:`ASSESSOR_ROLES`). Other bad
input is 422 ``validation_error`` by field (``indicators.2.metric``...).

Who assesses, and who may run, enter, publish (see :data:`ASSESSORS`): a template's
``assessor_role`` and the roles above it in the area tree, each within its own area —
``station`` (a station for its community's workers; the street and district centres above
it), ``street_centre`` (stations and workers of the street; the district centre above it),
``district_centre``, ``coordinator`` (institutions; nobody above it but admin). Admin always.

A run keeps a :func:`snapshot` of its template (indicators, bands, deductions, and each
metric's name and formula as they were), so editing a template never changes a run.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.exc import IntegrityError

from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import Conflict, ValidationFailed
from gridserve.extensions import db
from gridserve.models import DEFAULT_BANDS, AssessmentIndicator, AssessmentTemplate
from gridserve.pagination import apply_sort
from gridserve.scope import Principal, get_visible, visible
from gridserve.services.assessment import metrics, scoring
from gridserve.versioning import check_version, refuse_stale, update_versioned

# Who may be a template's assessor, and who acts for each (the role and those above it).
ASSESSORS: dict[str, tuple[str, ...]] = {
    "station": ("station", "street_centre", "district_centre"),
    "street_centre": ("street_centre", "district_centre"),
    "district_centre": ("district_centre",),
    "coordinator": ("coordinator",),
}
ASSESSOR_ROLES = tuple(ASSESSORS)
# Every role that may act for some template (the API's gate; the service narrows it).
ANY_ASSESSOR = ("station", "street_centre", "district_centre", "coordinator")

STALE = "The template changed since you read it."
SORTABLE = {
    "id": AssessmentTemplate.id,
    "code": AssessmentTemplate.code,
    "name": AssessmentTemplate.name,
}
TEMPLATE_FIELDS = (
    "name",
    "assessor_role",
    "bands",
    "deductions",
    "disqualify_after",
    "description",
    "active",
)
INDICATOR_FIELDS = (
    "code",
    "name",
    "group",
    "weight",
    "source",
    "metric",
    "scoring",
    "invert",
    "target",
    "factor",
    "scale",
    "cap",
    "min_count",
    "description",
)
INDICATOR_DEFAULTS = {
    "group": "",
    "invert": False,
    "target": None,
    "factor": 1.0,
    "scale": 100.0,
    "cap": 1.0,
    "min_count": 1,
    "description": "",
}


def may_act(principal: Principal, assessor_role: str) -> bool:
    """``principal``'s role acts for templates assessed by ``assessor_role`` (admin: all)."""
    return principal.role == "admin" or principal.role in ASSESSORS.get(assessor_role, ())


# --- checking -------------------------------------------------------------------------------


def _problem(problems: dict[str, list[str]], field: str, message: str) -> None:
    problems.setdefault(field, []).append(message)


def check_indicators(target_kind: str, indicators: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The indicators completed with their defaults, or 422 (see the module's rules)."""
    problems: dict[str, list[str]] = {}
    if not indicators:
        raise ValidationFailed(
            "A template needs indicators.",
            details={"fields": {"indicators": ["At least one indicator."]}},
        )
    seen: set[str] = set()
    done = []
    for i, given in enumerate(indicators):
        item = {**INDICATOR_DEFAULTS, **given}
        at = f"indicators.{i}"
        if item["code"] in seen:
            _problem(problems, f"{at}.code", f"{item['code']} appears twice.")
        seen.add(item["code"])
        if item["source"] == "computed":
            info = metrics.METRICS.get(item.get("metric") or "")
            if info is None:
                _problem(
                    problems,
                    f"{at}.metric",
                    f"Known metrics: {', '.join(sorted(metrics.METRICS)) or 'none'}.",
                )
            elif target_kind not in info.target_kinds:
                _problem(
                    problems, f"{at}.metric", f"{item['metric']} does not measure a {target_kind}."
                )
            item.setdefault("scoring", "share")
            if item.get("scoring") in (None, "entered"):
                _problem(
                    problems,
                    f"{at}.scoring",
                    "A computed indicator scores by share, target or relative.",
                )
            if item.get("scoring") == "target" and not item.get("target"):
                _problem(problems, f"{at}.target", "A target indicator needs its target (> 0).")
        else:
            if item.get("metric"):
                _problem(problems, f"{at}.metric", "An entered indicator has no metric.")
            if item.get("scoring") not in (None, "entered"):
                _problem(problems, f"{at}.scoring", "An entered indicator scores as entered.")
            item["metric"] = None
            item["scoring"] = "entered"
            if not item.get("scale"):
                _problem(problems, f"{at}.scale", "The scale of an entered value is > 0.")
        item["position"] = i
        done.append(item)
    if problems:
        raise ValidationFailed("Some indicators are not valid.", details={"fields": problems})
    weights = sum(int(item["weight"]) for item in done)
    if weights != 100:
        raise ValidationFailed(
            f"The indicators' weights sum to {weights}, not 100.",
            code="weights_not_100",
            details={"sum": weights, "fields": {"indicators": ["Weights sum to 100."]}},
        )
    return done


def check_deductions(deductions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    problems: dict[str, list[str]] = {}
    seen: set[str] = set()
    for i, kind in enumerate(deductions):
        if kind["code"] in seen:
            _problem(problems, f"deductions.{i}.code", f"{kind['code']} appears twice.")
        seen.add(kind["code"])
    if problems:
        raise ValidationFailed("Some deductions are not valid.", details={"fields": problems})
    return [
        {"code": k["code"], "name": k["name"], "points": float(k["points"])} for k in deductions
    ]


def check_template(data: dict[str, Any], target_kind: str) -> dict[str, Any]:
    """The template's own fields checked (bands, assessor role, deductions)."""
    problems: dict[str, list[str]] = {}
    if "bands" in data:
        bad = scoring.check_bands(data["bands"] or {})
        if bad:
            problems["bands"] = bad
        else:
            data["bands"] = {k: float(data["bands"][k]) for k in ("excellent", "good", "pass")}
    if "assessor_role" in data and data["assessor_role"] not in ASSESSOR_ROLES:
        problems["assessor_role"] = [f"One of {', '.join(ASSESSOR_ROLES)}."]
    if problems:
        raise ValidationFailed("The template is not valid.", details={"fields": problems})
    if "deductions" in data:
        data["deductions"] = check_deductions(data["deductions"] or [])
    return data


# --- reading --------------------------------------------------------------------------------


def list_templates(
    principal: Principal,
    *,
    target_kind: str | None = None,
    active: bool | None = None,
    sort: str | None = None,
) -> Select:
    stmt = visible(AssessmentTemplate, principal)
    if target_kind:
        stmt = stmt.where(AssessmentTemplate.target_kind == target_kind)
    if active is not None:
        stmt = stmt.where(AssessmentTemplate.active.is_(active))
    return apply_sort(stmt, sort, SORTABLE, "code", AssessmentTemplate.id)


def get_template(principal: Principal, template_id: int) -> AssessmentTemplate:
    return get_visible(AssessmentTemplate, template_id, principal)


def find(code_or_id: str | int) -> AssessmentTemplate | None:
    """A template by id (an int or digits) or by code."""
    if isinstance(code_or_id, int) or str(code_or_id).isdigit():
        return db.session.get(AssessmentTemplate, int(code_or_id))
    return db.session.execute(
        select(AssessmentTemplate).where(AssessmentTemplate.code == code_or_id)
    ).scalar_one_or_none()


def indicators_of(template_ids: list[int]) -> dict[int, list[AssessmentIndicator]]:
    """The indicators of each template, in their order (one query)."""
    found: dict[int, list[AssessmentIndicator]] = {i: [] for i in template_ids}
    if template_ids:
        for row in db.session.execute(
            select(AssessmentIndicator)
            .where(AssessmentIndicator.template_id.in_(template_ids))
            .order_by(AssessmentIndicator.template_id, AssessmentIndicator.position)
        ).scalars():
            found[row.template_id].append(row)
    return found


def present(templates: list[AssessmentTemplate]) -> list[AssessmentTemplate]:
    """Templates ready for their schema: ``indicator_list`` in order, metric names shown."""
    lists = indicators_of([t.id for t in templates])
    for template in templates:
        template.indicator_list = [_shown(i) for i in lists[template.id]]  # type: ignore[attr-defined]
    return templates


def _shown(indicator: AssessmentIndicator) -> dict[str, Any]:
    out = {k: getattr(indicator, k) for k in INDICATOR_FIELDS}
    info = metrics.METRICS.get(indicator.metric or "")
    out["formula"] = info.formula if info else ""
    return out


def snapshot(template: AssessmentTemplate) -> dict[str, Any]:
    """The template as a run keeps it (JSON): its rules and each metric's name and formula."""
    lines = []
    for indicator in indicators_of([template.id])[template.id]:
        line = {k: getattr(indicator, k) for k in INDICATOR_FIELDS}
        info = metrics.METRICS.get(indicator.metric or "")
        line["metric_name"] = info.name if info else ""
        line["formula"] = info.formula if info else ""
        lines.append(line)
    return {
        "id": template.id,
        "code": template.code,
        "name": template.name,
        "target_kind": template.target_kind,
        "assessor_role": template.assessor_role,
        "bands": dict(template.bands or DEFAULT_BANDS),
        "deductions": list(template.deductions or []),
        "disqualify_after": template.disqualify_after,
        "version": template.version,
        "indicators": lines,
    }


# --- writing --------------------------------------------------------------------------------


def _exists(code: str) -> Conflict:
    return Conflict(
        f"A template {code} exists already.", code="template_exists", details={"code": code}
    )


def _store_indicators(template_id: int, indicators: list[dict[str, Any]]) -> None:
    db.session.execute(
        delete(AssessmentIndicator).where(AssessmentIndicator.template_id == template_id)
    )
    for item in indicators:
        db.session.add(
            AssessmentIndicator(
                template_id=template_id,
                position=item["position"],
                **{k: item[k] for k in INDICATOR_FIELDS},
            )
        )
    db.session.flush()


def create_template(principal: Principal, data: dict[str, Any]) -> AssessmentTemplate:
    """Make a template (admin); 409 ``template_exists``; 422 as the module says."""
    principal.require()
    data = check_template(dict(data), data["target_kind"])
    indicators = check_indicators(data["target_kind"], data["indicators"])
    template = AssessmentTemplate(
        code=data["code"],
        name=data["name"],
        target_kind=data["target_kind"],
        assessor_role=data["assessor_role"],
        bands=data.get("bands") or dict(DEFAULT_BANDS),
        deductions=data.get("deductions") or [],
        disqualify_after=data.get("disqualify_after"),
        description=data.get("description") or "",
        active=data.get("active", True),
        version=1,
        created_by=principal.user_id or None,
    )
    try:
        with db.session.begin_nested():  # a racing create of the same code loses here
            db.session.add(template)
    except IntegrityError:
        raise _exists(data["code"]) from None
    _store_indicators(template.id, indicators)
    audit.record(
        "assessment_template_indicators",
        "assessment_templates",
        template.id,
        {"codes": [i["code"] for i in indicators]},
    )
    return template


def update_template(
    principal: Principal, template_id: int, data: dict[str, Any]
) -> AssessmentTemplate:
    """Change a template (admin) based on ``version`` (409 stale); ``indicators`` given
    replace them all. Runs made before keep their snapshot. Audited."""
    principal.require()
    template = get_template(principal, template_id)
    based_on = data["version"]
    check_version(STALE, expected=based_on, current=template.version)
    values = check_template(
        {k: data[k] for k in TEMPLATE_FIELDS if k in data}, template.target_kind
    )
    indicators = None
    if "indicators" in data:
        indicators = check_indicators(template.target_kind, data["indicators"])
    new_version = update_versioned(
        AssessmentTemplate,
        based_on,
        AssessmentTemplate.id == template.id,
        **values,
        updated_at=utcnow(),
    )
    db.session.expire(template)
    if new_version is None:
        refuse_stale(STALE, expected=based_on, current=template.version)
    if indicators is not None:
        _store_indicators(template.id, indicators)
    audit.record(
        "update",
        "assessment_templates",
        template.id,
        {
            "fields": sorted([*values, *(["indicators"] if indicators is not None else [])]),
            "version": [based_on, new_version],
        },
    )
    return template

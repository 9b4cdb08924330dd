"""The HTTP layer: flask-smorest Blueprints and marshmallow schemas, one module per resource family.

Views parse input with schemas, call one service, and return what it gives;
no SQL here, no rules here.
"""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from gridserve.config import settings


def register_blueprints(api: Api, app: Flask) -> None:
    from api import (
        areas,
        assessment_cards,
        assessments,
        audit,
        auth,
        calendars,
        case_categories,
        case_rating,
        case_reports,
        cases,
        client,
        grid,
        health,
        households,
        institutions,
        jobs,
        open311,
        outreach,
        outreach_calendar,
        outreach_deliverables,
        outreach_enterprises,
        outreach_notices,
        outreach_participation,
        outreach_progress,
        outreach_referrals,
        outreach_sites,
        outreach_visits,
        places,
        reports_monthly,
        sms,
        sync,
        tasks,
        users,
        workers,
    )

    for module in (
        health,
        client,
        auth,
        users,
        areas,
        grid,
        places,
        households,
        workers,
        sync,
        tasks,
        case_categories,
        cases,
        sms,
        calendars,
        institutions,
        outreach,
        outreach_calendar,
        outreach_participation,
        outreach_notices,
        outreach_sites,
        outreach_enterprises,
        outreach_visits,
        outreach_referrals,
        outreach_deliverables,
        outreach_progress,
        case_reports,
        reports_monthly,
        audit,
        jobs,
        assessments,
        assessment_cards,
        open311,
    ):
        api.register_blueprint(module.blp, url_prefix="/api/v1")
    # Open311 GeoReport v2 speaks its own standard (its own formats and error list), so it is
    # served beside the API, not in the API's OpenAPI document: public, no token.
    app.register_blueprint(open311.public_blp, url_prefix="/open311")
    app.register_blueprint(case_rating.public_blp, url_prefix="/r")  # the case rating page
    if settings(app).bench_endpoints:  # test-only (bench/load); off unless asked for
        from api import bench

        api.register_blueprint(bench.blp, url_prefix="/api/v1")

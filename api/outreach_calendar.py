"""The outreach calendar (iCalendar) and revocable calendar-feed URLs for calendar apps."""

from __future__ import annotations

from flask import make_response, url_for
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Id, Integer
from gridserve.auth import current_principal, public
from gridserve.services.outreach import calendar as calendar_service

blp = Blueprint(
    "outreach_calendar",
    __name__,
    description="The outreach calendar as iCalendar (RFC 5545): one institution's or one "
    "programme's events, and feed URLs with their own token for calendar apps",
)

_ICS = {"type": "string", "description": "text/calendar (RFC 5545)"}
_CODE = validate.Length(min=1, max=32)


class CalendarArgs(Schema):
    institution = fields.String(
        validate=_CODE,
        metadata={"description": "An institution's code: the events it takes part in"},
    )
    programme = Id(metadata={"description": "A programme's id: its events"})


class FeedInSchema(Schema):
    institution = fields.String(
        validate=_CODE, metadata={"description": "An institution's code (contacts: their own)"}
    )
    programme = Id(metadata={"description": "A programme's id"})
    name = fields.String(validate=validate.Length(max=100), metadata={"description": "Your label"})


class FeedSchema(Schema):
    id = Integer()
    name = fields.String()
    institution = fields.String(allow_none=True)
    programme_id = Integer(allow_none=True)
    created_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)


class NewFeedSchema(FeedSchema):
    token = fields.String(metadata={"description": "Shown once; only its hash is kept"})
    url = fields.String(metadata={"description": "Subscribe to this URL in a calendar app"})
    path = fields.String(metadata={"description": "The same URL without scheme and host"})


def _ics(body: bytes, filename: str):
    resp = make_response(body)
    resp.mimetype = "text/calendar"
    resp.charset = "utf-8"
    resp.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return resp


@blp.route("/outreach/calendar.ics")
class Calendar(MethodView):
    @blp.roles(*calendar_service.READERS)
    @blp.arguments(CalendarArgs, location="query")
    @blp.response(200, _ICS, content_type="text/calendar", description="iCalendar text")
    @blp.doc(security=BEARER)
    def get(self, args):
        """Events of one institution (`institution=CODE`) or one programme (`programme=ID`).

        Exactly one of the two (else 422 `validation_error`); 422 `unknown_institution`; 404
        for a programme you cannot see. Only the events you may see; drafts for the
        coordinator only. Stable `UID`s, `SEQUENCE` from the event's version, cancelled
        events kept as `STATUS:CANCELLED`.
        """
        body = calendar_service.calendar(
            current_principal(), args.get("institution"), args.get("programme")
        )
        return _ics(body, "outreach.ics")


@blp.route("/outreach/calendar-feeds")
class Feeds(MethodView):
    @blp.roles(*calendar_service.FEED_MAKERS)
    @blp.arguments(FeedInSchema)
    @blp.response(201, NewFeedSchema)
    @blp.doc(security=BEARER)
    def post(self, body):
        """A calendar URL for calendar apps, with its own random token (shown once).

        The feed reads with your account's scope at the time of each read. Contacts: their
        own institution (403 `not_your_institution`) or a programme they take part in;
        stations and street centres: programmes (403 `programme_feeds_only`). Exactly one
        of `institution` and `programme` (422 `validation_error`).
        """
        feed, token = calendar_service.create_feed(
            current_principal(), body.get("institution"), body.get("programme"), body.get("name")
        )
        described = calendar_service.present_feeds([feed])[0]
        path = url_for("outreach_calendar.FeedCalendar", token=token)
        url = url_for("outreach_calendar.FeedCalendar", token=token, _external=True)
        return {**described, "token": token, "url": url, "path": path}

    @blp.roles(*calendar_service.FEED_MAKERS)
    @blp.response(200, FeedSchema(many=True))
    @blp.paginate_select(present=calendar_service.present_feeds)
    @blp.doc(security=BEARER)
    def get(self):
        """Your feeds, newest first, revoked ones too (never their tokens)."""
        return calendar_service.own_feeds(current_principal())


@blp.route("/outreach/calendar-feeds/<int:feed_id>")
class FeedItem(MethodView):
    @blp.roles(*calendar_service.FEED_MAKERS)
    @blp.response(204)
    @blp.doc(security=BEARER)
    def delete(self, feed_id):
        """Revoke one of your feeds: its URL answers 410 `feed_revoked` from now on."""
        calendar_service.revoke_feed(current_principal(), feed_id)


@blp.route("/outreach/calendar-feeds/<string:token>.ics")
class FeedCalendar(MethodView):
    @public
    @blp.response(200, _ICS, content_type="text/calendar", description="iCalendar text")
    @blp.alt_response(410, description="`feed_revoked`, or `feed_disabled` (owner deactivated)")
    def get(self, token):
        """The feed's calendar, for calendar apps: the token in the URL is the credential.

        Served as the account that made the feed, with its scope now. 404 for an unknown
        token.
        """
        return _ics(calendar_service.read_feed(token), "outreach.ics")

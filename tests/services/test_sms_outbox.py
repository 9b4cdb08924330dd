"""The SMS outbox's order rule as a use case, without HTTP: a recipient's custom text leaves
only after their mandated text was accepted, and never after it failed."""

from __future__ import annotations

from sqlalchemy import select, update

from gridserve import audit
from gridserve.extensions import db
from gridserve.models import SmsMessage
from gridserve.services.sms import outbox
from tests.api.sms.campaign_now import make_campaign, numbers
from tests.conftest import TEST_ACTOR


def _rows(campaign_id: int, kind: str) -> list[SmsMessage]:
    stmt = select(SmsMessage).where(SmsMessage.campaign_id == campaign_id, SmsMessage.kind == kind)
    return list(db.session.execute(stmt.order_by(SmsMessage.id)).scalars())


def test_custom_texts_wait_for_each_recipients_mandated_text_to_be_accepted(sms_demo):
    app, client, headers = sms_demo
    campaign = make_campaign(app, client, headers["coordinator"], phones=numbers(3))
    with app.app_context(), audit.acting_as(TEST_ACTOR):
        [slot] = outbox.open_slots()
        claimed = outbox.claim(slot, 100)
        mandated = _rows(campaign["id"], "mandated")
        assert sorted(c.id for c in claimed) == [m.id for m in mandated]  # no custom row yet
        assert {m.status for m in _rows(campaign["id"], "custom")} == {"waiting"}
        assert outbox.release_custom(slot) == 0  # the mandated texts are still out

        accepted, failed = mandated[:2], mandated[2]
        db.session.execute(
            update(SmsMessage)
            .where(SmsMessage.id.in_([m.id for m in accepted]))
            .values(status="accepted")
        )
        db.session.execute(
            update(SmsMessage).where(SmsMessage.id == failed.id).values(status="failed")
        )
        assert outbox.release_custom(slot) == 2
        db.session.expire_all()
        custom = {c.phone_hash: c for c in _rows(campaign["id"], "custom")}
        for m in accepted:
            assert custom[m.phone_hash].status == "queued"
        lost = custom[failed.phone_hash]
        assert lost.status == "failed" and lost.error.startswith("mandated_not_accepted")
        again = outbox.claim(slot, 100)
        assert sorted(c.phone_hash for c in again) == sorted(m.phone_hash for m in accepted)
        db.session.rollback()

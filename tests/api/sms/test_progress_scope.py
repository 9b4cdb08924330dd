"""An institution's contact sees only its own sender in a campaign's progress, totals included."""

from __future__ import annotations

from gridserve.extensions import db
from gridserve.models import SmsSender
from tests.api.sms.campaign_now import make_campaign, numbers
from tests.api.sms.test_dispatch import dispatch


def test_a_bank_sees_only_its_own_sender_in_progress_totals_included(sms_demo):
    sms_app, client, headers = sms_demo
    campaign = make_campaign(sms_app, client, headers["coordinator"], phones=numbers(5))
    assert dispatch(sms_app)["accepted"] == 10
    with sms_app.app_context():  # a second sender (ADBC, bank1) with nothing sent yet
        from gridserve.services.accounts.institutions import find_by_code

        adbc = find_by_code("ADBC")
        db.session.add(SmsSender(campaign_id=campaign["id"], institution_id=adbc.id, position=2))
        db.session.commit()
    path = f"/api/v1/sms/campaigns/{campaign['id']}/progress"
    everyone = client.get(path, headers=headers["coordinator"]).get_json()
    assert [s["sender"] for s in everyone["senders"]] == ["ICBC", "ADBC"]
    assert everyone["totals"]["accepted"] == 10
    icbc = client.get(path, headers=headers["bank2"]).get_json()
    assert [s["sender"] for s in icbc["senders"]] == ["ICBC"]
    assert icbc["totals"]["accepted"] == 10
    adbc_view = client.get(path, headers=headers["bank1"]).get_json()
    assert [s["sender"] for s in adbc_view["senders"]] == ["ADBC"]
    assert adbc_view["totals"]["accepted"] == 0 and sum(adbc_view["totals"].values()) == 0

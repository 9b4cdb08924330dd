"""The outreach test world holds what the outreach tests start from."""

from gridserve.extensions import db
from gridserve.models import OutreachEvent, OutreachProgramme
from gridserve.scope import Principal, visible


def _contact(institution_id: int) -> Principal:
    return Principal(1, "c", "institution_contact", None, None, institution_id)


def test_programme_and_events_are_scoped_to_participants_and_areas(outreach, ctx):
    world = outreach.field.world
    programme = db.session.get(OutreachProgramme, outreach.programme)
    assert [i.code for i in programme.institutions] == ["DZCB", "PSBC", "ICBC", "ABC"]
    # ICBC leads the site and co-organises the launch; a bank outside sees neither.
    icbc = _contact(outreach.inst["ICBC"])
    seen = set(db.session.scalars(visible(OutreachEvent, icbc).with_only_columns(OutreachEvent.id)))
    assert seen == {outreach.launch, outreach.site}
    stranger = _contact(10_000)
    assert not db.session.scalars(visible(OutreachEvent, stranger)).all()
    assert not db.session.scalars(visible(OutreachProgramme, stranger)).all()
    # A station sees the event in its community only, and the street's programme.
    from gridserve.models import Area

    path = db.session.get(Area, world.community_b).path
    station_b = Principal(2, "s", "station", world.community_b, path, None)
    seen = set(db.session.scalars(visible(OutreachEvent, station_b)).all())
    assert {e.id for e in seen} == {outreach.site}
    assert [p.id for p in db.session.scalars(visible(OutreachProgramme, station_b))] == [
        outreach.programme
    ]

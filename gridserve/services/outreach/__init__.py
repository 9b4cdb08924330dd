"""The outreach wing: programmes, publicity events, rosters, plans, reports, notices, the
calendar feed and site suggestions."""

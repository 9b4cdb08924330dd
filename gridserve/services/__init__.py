"""Use cases: the domain rules, called by api/ and jobs/. They never commit."""

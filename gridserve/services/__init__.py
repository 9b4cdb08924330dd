"""Use cases: the domain rules, called by api/ and jobs/. They never commit (one exception,
declared in jobs.registry: the SMS dispatcher commits its steps through one helper).

One package per wing, mirrored by :mod:`gridserve.models`: ``geography`` (areas, places, grid
plans, locate), ``field`` (workers, devices, visits, households, bundle, attachments, tasks,
field reports), ``sms`` (campaigns, recipients, numbers, outbox, dispatch, inbound, progress)
and ``accounts`` (auth, users, institutions, audit log, system, working-day calendars) for what
no wing owns.
"""

"""What no wing owns: sign-in and tokens, users, institutions, the audit log, system health
and the working-day calendars (reference data every wing reads)."""

"""Models no wing owns: users and tokens, institutions, the audit log, working-day calendars."""

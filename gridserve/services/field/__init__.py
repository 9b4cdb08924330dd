"""Field work use cases: workers and their assignments, devices, visits, households, the
offline bundle, attachments, tasks and field reports."""

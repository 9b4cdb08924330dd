"""Field work models: workers, assignments, devices, visits, households, sync state, tasks."""

"""The cases wing: categories, the escalation ladder, deadlines, feedback, Open311."""

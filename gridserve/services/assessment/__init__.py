"""The assessment wing: templates, runs and scorecards, recommendations, reports."""

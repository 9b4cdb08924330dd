"""The assessment wing: scorecard templates, runs and their scorecards, dismissal
recommendations, and the kept monthly and daily reports."""

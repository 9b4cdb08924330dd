"""Fixtures of the API tests."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.conftest import DEMO_PASSWORD, login


@pytest.fixture
def demo_campaign(clean_app: Flask, demo) -> tuple:
    """The seeded demo signed in: ``(client, headers by username, the demo campaign)``, for the
    coordinator, two banks' contacts (bank1, bank2), a station and the district and street
    centres."""
    client = clean_app.test_client()
    users = ("coordinator", "bank1", "bank2", "station1", "district", "centre")
    headers = {u: login(client, u, DEMO_PASSWORD) for u in users}
    campaign = client.get("/api/v1/sms/campaigns", headers=headers["coordinator"]).get_json()[0]
    return client, headers, campaign

"""Every role of the seeded demo signs in to the console and opens every screen its navigation
offers: no screen shows an error, and the API answers none of the screen's own calls with a
403 or a 5xx (a screen offered to a role must work for it; a 403 would mean the console offers
what the API refuses)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

# One user per role (and per kind of institution contact).
USERS = [
    "admin",
    "district",
    "centre",
    "coordinator",
    "station1",
    "worker1",
    "bank1",
    "regulator",
    "dept1",
]


@pytest.mark.parametrize("username", USERS)
def test_every_screen_offered_to_a_role_opens_without_an_error(page, sign_in, username) -> None:
    refused: list[str] = []

    def watch(response) -> None:
        if "/api/v1/" in response.url and (response.status == 403 or response.status >= 500):
            refused.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", watch)
    sign_in(page, username)
    nav = page.get_by_role("navigation", name="主导航")
    links = nav.get_by_role("link")
    expect(links.first).to_be_visible()
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert hrefs, f"{username}: no screen at all"
    main = page.locator("#main")

    def settled(where: str) -> None:
        expect(main.get_by_role("heading").first).to_be_visible(timeout=30_000)
        # whatever the screen loads first has answered
        expect(main.get_by_text("加载中…")).to_have_count(0, timeout=30_000)
        page.wait_for_load_state("networkidle")
        alerts = main.get_by_role("alert")
        texts = [alerts.nth(i).inner_text() for i in range(alerts.count())]
        assert not [x for x in texts if x.strip()], f"{username} on {where}: {texts}"

    for href in hrefs:
        nav.locator(f'a[href="{href}"]').click()
        expect(nav.locator(f'a[href="{href}"]')).to_have_attribute("aria-current", "page")
        settled(href)
        # a screen's own tabs (outreach, assessment…), each opened in turn
        sub = main.get_by_role("navigation").first.locator("a[href^='#/']")
        for subhref in [sub.nth(i).get_attribute("href") for i in range(sub.count())]:
            page.goto(f"/{subhref}")
            settled(subhref)
    assert not refused, f"{username}: " + "; ".join(refused)

"""The field app's shell on a 360×640 phone: it loads, links its manifest and registers its
service worker (http://127.0.0.1 is a secure context)."""

from __future__ import annotations

from playwright.sync_api import expect


def test_field_app_loads_on_a_phone(phone_page, axe, screenshot) -> None:
    response = phone_page.goto("/field/")
    assert response is not None and response.status == 200
    expect(phone_page.get_by_role("heading", level=1)).to_be_visible()
    width = phone_page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, "the page scrolls sideways on a 360 px screen"
    axe(phone_page)
    screenshot(phone_page, "field-shell-phone")


def test_manifest_is_linked_and_served(phone_page) -> None:
    phone_page.goto("/field/")
    href = phone_page.locator("link[rel=manifest]").get_attribute("href")
    assert href == "/field/manifest.webmanifest"
    manifest = phone_page.request.get(href)
    assert manifest.status == 200
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert body["start_url"].startswith("/field/")
    assert body.get("display") in ("standalone", "fullscreen", "minimal-ui")


def test_service_worker_registers_in_a_secure_context(phone_page) -> None:
    phone_page.goto("/field/")
    assert phone_page.evaluate("() => window.isSecureContext")
    scope = phone_page.evaluate("async () => (await navigator.serviceWorker.ready).scope")
    assert scope == phone_page.url.split("/field/")[0] + "/field/"


def test_field_app_at_desktop_size(page, axe, screenshot) -> None:
    """Made for a phone, but a desktop browser opening /field/ gets a usable page too."""
    page.goto("/field/")
    expect(page.get_by_role("heading", name="登记终端")).to_be_visible()
    expect(page.get_by_label("登记码")).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280
    axe(page)
    screenshot(page, "field-enrol-desktop")

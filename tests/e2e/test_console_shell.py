"""The console's shell in a real browser: sign-in, scope, errors, sign-out, language, keyboard,
accessibility (axe) and screenshots, on the seeded demo."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.live import DEMO_PASSWORD


def test_console_is_served_with_its_title(page) -> None:
    response = page.goto("/")
    assert response is not None and response.status == 200
    assert "no-cache" in response.headers["cache-control"]
    expect(page).to_have_title(re.compile("网格化服务管理平台"))
    expect(page.get_by_role("heading", name="网格化服务管理平台")).to_be_visible()


def test_coordinator_signs_in_and_sees_the_scope(page, sign_in, axe, screenshot) -> None:
    sign_in(page, "coordinator")
    # The scope: the user's name and role, and the screens of that role in the navigation.
    expect(page.get_by_text("统计信息处协调员（活动协调员） · 新桥新区")).to_be_visible()
    nav = page.get_by_role("navigation", name="主导航")
    expect(nav.get_by_role("link", name="短信")).to_be_visible()
    expect(nav.get_by_role("link", name="宣传活动")).to_be_visible()
    expect(nav.get_by_role("link", name="网格划分")).to_be_visible()  # drafts to compare
    expect(nav.get_by_role("link", name="住户")).to_have_count(0)  # not a coordinator's
    axe(page)
    screenshot(page, "console-shell-coordinator")


def test_wrong_password_shows_the_envelopes_message(page) -> None:
    # The message the API gives (whatever its wording), shown as it is.
    envelope = page.request.post(
        "/api/v1/auth/token", data={"username": "station2", "password": "not-the-password"}
    )
    assert envelope.status == 401
    message = envelope.json()["error"]["message"]
    page.goto("/")
    page.get_by_label("用户名", exact=True).fill("station2")
    page.get_by_label("密码", exact=True).fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_have_text(message)
    expect(page.get_by_role("button", name="退出")).to_have_count(0)


def test_sign_out_returns_to_the_sign_in(page, sign_in) -> None:
    sign_in(page, "station1")
    page.get_by_role("button", name="退出").click()
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    page.reload()  # the token is gone from the tab too
    expect(page.get_by_role("button", name="登录")).to_be_visible()


def test_english_switch_holds_across_a_reload(page, sign_in) -> None:
    page.goto("/")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.get_by_label("Username", exact=True).fill("centre")
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_text("街道网格中心值班员 (street centre) · 青石街道")).to_be_visible()
    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("button", name="退出")).to_be_visible()


def test_keyboard_only_sign_in(page) -> None:
    page.goto("/")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_label("用户名", exact=True)).to_be_focused()
    page.keyboard.type("coordinator")
    page.keyboard.press("Tab")
    expect(page.get_by_label("密码", exact=True)).to_be_focused()
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="退出")).to_be_visible()
    # Every control of the shell is reachable with Tab, and the focus is visible.
    names = set()
    for _ in range(30):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement;
                       const s = getComputedStyle(e);
                       return [e.tagName, (e.textContent || '').trim(),
                               s.outlineStyle !== 'none' || s.boxShadow !== 'none'] }"""
        )
        if focused[0] in ("A", "BUTTON"):
            assert focused[2], f"{focused[1]}: no visible focus"
            names.add(focused[1])
    assert {"退出", "English"} <= names


def test_axe_is_clean_on_the_sign_in_page(page, axe, screenshot) -> None:
    page.goto("/")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    axe(page)
    screenshot(page, "console-sign-in")


def test_the_shell_at_tablet_size(new_context, sign_in, axe, screenshot) -> None:
    page = new_context(viewport={"width": 820, "height": 1180}, has_touch=True).new_page()
    sign_in(page, "centre")
    expect(page.get_by_role("navigation", name="主导航")).to_be_visible()
    axe(page)
    screenshot(page, "console-shell-tablet")

"""A terminal's life from the console's side, in a real browser: the station makes a one-time
code in the console, the field app scans its QR code (a camera that films the console's QR
image), enrols and downloads its bundle; the station revokes the terminal in the console and
the field app is wiped at its next contact. Also: a disabled account wipes the terminal too,
and on plain HTTP from another host the field app says it cannot work offline."""

from __future__ import annotations

import json
import re
import uuid

from playwright.sync_api import expect

# A camera for the field app: getUserMedia answers a canvas stream that films the PNG given
# (the console's QR code), so the app's own scanner (jsQR on the video frames) reads it.
FAKE_CAMERA = """
(() => {
  const b64 = %s;
  if (!navigator.mediaDevices) return; // a frame that is not a secure context (about:blank)
  navigator.mediaDevices.getUserMedia = async () => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const image = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
    const canvas = document.createElement("canvas");
    canvas.width = image.width + 80;
    canvas.height = image.height + 80;
    const g = canvas.getContext("2d");
    const draw = () => {
      g.fillStyle = "#fff";
      g.fillRect(0, 0, canvas.width, canvas.height);
      g.drawImage(image, 40, 40);
    };
    draw();
    setInterval(draw, 100);
    return canvas.captureStream(10);
  };
})();
"""


def _open_worker(page, name: str = "网格员甲"):
    page.goto("/#/field")
    expect(page.get_by_role("heading", name="网格员与终端", exact=True)).to_be_visible()
    page.get_by_role("button", name=f"管理 {name}").click()
    panel = page.locator(".worker-panel")
    expect(panel.get_by_role("heading", name=re.compile("^网格员："))).to_be_focused()
    return panel


def test_station_enrols_by_qr_in_the_console_and_revokes_the_terminal(
    page, new_context, sign_in, axe, screenshot
) -> None:
    sign_in(page, "station1")
    panel = _open_worker(page)
    panel.get_by_role("button", name="生成终端注册码").click()
    code = page.get_by_test_id("enrolment-code")
    expect(code).to_have_text(re.compile(r"\S{4,}"))
    shown = code.inner_text().strip()
    qr = page.get_by_role("img", name=re.compile("二维码"))
    png = qr.get_attribute("src").split(",", 1)[1]

    # The terminal: the camera films the console's QR; the code lands in the form.
    field = new_context(phone=True)
    field.add_init_script(FAKE_CAMERA % json.dumps(png))
    phone = field.new_page()
    phone.goto("/field/")
    expect(phone.get_by_role("heading", name="登记终端")).to_be_visible()
    phone.get_by_role("button", name="扫描二维码").click()
    expect(phone.get_by_label("登记码")).to_have_value(shown, timeout=30_000)
    label = f"e2e-qr-{uuid.uuid4().hex[:6]}"
    phone.get_by_label("终端名称").fill(label)
    phone.get_by_role("button", name="登记", exact=True).click()
    expect(phone.get_by_role("heading", name="我的任务")).to_be_visible()
    expect(phone.get_by_text(re.compile("^已同步"))).to_be_visible(timeout=60_000)

    # The station sees the new terminal and revokes it.
    page.reload()
    panel = _open_worker(page)
    revoke = panel.get_by_role("button", name=f"吊销终端 {label}")
    expect(revoke).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    revoke.click()
    expect(panel.get_by_text("终端已吊销")).to_be_visible()
    expect(revoke).to_have_count(0)
    axe(page, exclude=(".leaflet-pane",))
    screenshot(page, "console-terminal-revoked")

    # Its next contact: wiped.
    field.set_offline(True)
    field.set_offline(False)
    expect(phone.get_by_role("heading", name="终端已被清除")).to_be_visible(timeout=30_000)
    expect(phone.get_by_text(re.compile("device_revoked"))).to_be_visible()
    names = phone.evaluate("async () => (await indexedDB.databases()).map(d => d.name)")
    assert "gridserve-field" not in names


def test_a_disabled_account_wipes_the_terminal(new_context, page, sign_in) -> None:
    """The service answers 401 ``account_disabled`` (its worker's account was disabled): the
    app wipes itself like a revoked terminal, saying how many unsent records are lost."""
    sign_in(page, "station1")
    panel = _open_worker(page)
    panel.get_by_role("button", name="生成终端注册码").click()
    code = page.get_by_test_id("enrolment-code")
    expect(code).to_have_text(re.compile(r"\S{4,}"))
    field = new_context(phone=True)
    phone = field.new_page()
    phone.goto("/field/")
    phone.get_by_label("登记码").fill(code.inner_text().strip())
    phone.get_by_role("button", name="登记", exact=True).click()
    expect(phone.get_by_text(re.compile("^已同步"))).to_be_visible(timeout=60_000)
    field.route(
        "**/api/v1/sync/**",
        lambda route: route.fulfill(
            status=401,
            content_type="application/json",
            body=json.dumps(
                {"error": {"code": "account_disabled", "message": "disabled", "details": {}}}
            ),
        ),
    )
    field.set_offline(True)
    field.set_offline(False)
    expect(phone.get_by_role("heading", name="终端已被清除")).to_be_visible(timeout=30_000)
    expect(phone.get_by_text(re.compile("account_disabled"))).to_be_visible()
    expect(phone.get_by_text("0 条未发送的记录已丢失")).to_be_visible()
    names = phone.evaluate("async () => (await indexedDB.databases()).map(d => d.name)")
    assert "gridserve-field" not in names


def test_plain_http_from_another_host_says_it_cannot_work_offline(
    new_context, live_url, screenshot
) -> None:
    """http://field.example is not a secure context (127.0.0.1 is): no service worker, so the
    app says it cannot work offline. The host is served by the live server through a route."""
    context = new_context(phone=True)

    def proxy(route) -> None:
        path = route.request.url.split("field.example", 1)[1]
        response = route.fetch(url=f"{live_url}{path}")
        route.fulfill(response=response)

    context.route("http://field.example/**", proxy)
    phone = context.new_page()
    phone.goto("http://field.example/field/")
    assert not phone.evaluate("() => window.isSecureContext")
    expect(phone.get_by_role("alert")).to_contain_text("无法离线工作")
    expect(phone.get_by_role("heading", name="登记终端")).to_be_visible()
    screenshot(phone, "field-insecure")

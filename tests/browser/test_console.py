"""The operator console in Chromium against a real gateway, as a person uses it: sign in with the key, link a
simulator profile by the QR code on the screen (read off a screenshot, as a phone would), send, run a bulk, manage
webhooks and keys; live updates come over /ws, with no reload and no polling."""

from __future__ import annotations

import base64
import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import OUTPUT
from tests.browser.console import create_profile, shown_qr, sign_in, status_badge, wait_qr_matching_the_api
from tests.support.api import connected_profile, fails, ok, wait_for, wait_status

PHONE = "+628111000031"
# A 1x1 PNG, as a person would pick a file to send.
DOT_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgAAACAAAB4iG8MwAAAABJRU5ErkJggg==")


def test_link_a_profile_send_and_run_a_bulk(page: Page, stack, rest, unique):
    profile_id = unique("console")
    sign_in(page, stack)
    create_profile(page, profile_id, "Console sales")
    expect(status_badge(page)).to_have_text("DISCONNECTED")
    page.evaluate("window.notReloaded = true")  # gone if anything below reloaded the page

    # The QR code appears, is the profile's current one, and renews itself as codes rotate.
    page.get_by_role("button", name="Connect (QR code)").click()
    expect(page.get_by_role("img", name="QR code")).to_be_visible()
    first = wait_qr_matching_the_api(page, rest, profile_id)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / "console-qr.png")
    renewed = wait_qr_matching_the_api(page, rest, profile_id, other_than=first)
    assert renewed != first

    # The simulated phone scans the code on the screen; the status turns CONNECTED by itself.
    def scan_what_is_shown() -> bool:
        try:
            stack.simulator("scan", qr_code=shown_qr(page), phone=PHONE)
        except Exception:  # the code rotated between the screenshot and the scan
            return False
        return True

    wait_for(scan_what_is_shown, "the phone to scan the code on the screen", timeout=30)
    expect(status_badge(page)).to_have_text("CONNECTED")
    expect(page.get_by_role("img", name="QR code")).to_have_count(0)
    expect(page.locator(".profile > p.muted")).to_contain_text(PHONE)  # the linked phone's number
    assert page.evaluate("window.notReloaded") is True

    # A text, whose status follows the receipts up to READ.
    send = page.get_by_role("form", name="Send a test message")
    send.get_by_label("To", exact=True).fill("+62 812-3456-789")
    send.get_by_label("Text", exact=True).fill("Hello from the console")
    send.get_by_role("button", name="Send text").click()
    message = page.get_by_role("list", name="Recent messages").get_by_role("listitem").filter(
        has_text="Hello from the console")
    expect(message.locator(".badge")).to_have_text("READ")
    message_id = message.get_attribute("data-message-id")
    assert ok(rest.get(f"/messages/{message_id}"))["status"] == "READ"
    expect(page.get_by_role("list", name="Recent events")).to_contain_text("message.ack")

    # A bulk of three from a pasted list, watched to the end.
    page.get_by_role("link", name="Bulk", exact=True).click()
    bulk = page.get_by_role("form", name="Start a bulk send")
    bulk.get_by_label("Profile").select_option(profile_id)
    bulk.get_by_label("Gap between messages (ms)").fill("0")
    bulk.get_by_label("Message", exact=True).fill("Hello {name}!")
    bulk.get_by_label("Recipients (CSV)").fill("phone,name\n628123456789,John\n628987654321,Jane\n"
                                               "+62 812-1111-2222,\"Ann, Jr.\"\n")
    bulk.get_by_role("button", name="Start").click()
    bar = page.get_by_role("progressbar", name="Batch progress")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=30_000)
    expect(bar).to_contain_text("100%")
    batch_id = page.locator(".batch").get_attribute("data-batch-id")
    batch = ok(rest.get(f"/bulk/batch/{batch_id}", params={"itemsPageSize": 10}))
    assert batch["status"] == "COMPLETED" and batch["progress"]["total"] == 3 and batch["progress"]["sent"] == 3
    texts = {ok(rest.get(f"/messages/{item['messageId']}"))["content"]["text"] for item in batch["items"]}
    assert texts == {"Hello John!", "Hello Jane!", "Hello Ann, Jr.!"}
    assert page.evaluate("window.notReloaded") is True


def test_statuses_are_live_without_polling(page: Page, stack, rest, unique):
    """The profile list follows session.status events: a profile connected elsewhere (here, by the API) changes
    on the screen, and the console asks the API nothing meanwhile."""
    profile_id = unique("live")
    ok(rest.post("/profiles", json={"id": profile_id, "name": "Elsewhere", "engine": "simulator",
                                    "engineSettings": {"autoPair": True, "autoPairPhone": "+628111000032"}}))
    sign_in(page, stack)
    card = page.locator(f"[data-profile-id='{profile_id}']")
    expect(card.locator(".badge")).to_have_text("DISCONNECTED")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/api/" in request.url else None)
    ok(rest.post(f"/profiles/{profile_id}/connect", json={}))
    wait_status(rest, profile_id, "CONNECTED")
    expect(card.locator(".badge")).to_have_text("CONNECTED")
    assert asked == []


def test_live_events_ride_out_a_restart_of_the_websocket_bridge(page: Page, stack, rest, unique):
    """While the bridge is down the console says so; once it is back, it resubscribes from the last event it saw,
    so a status change made meanwhile still reaches the screen."""
    profile_id = unique("resume")
    ok(rest.post("/profiles", json={"id": profile_id, "name": "Meanwhile", "engine": "simulator",
                                    "engineSettings": {"autoPair": True, "autoPairPhone": "+628111000035"}}))
    sign_in(page, stack)
    live = page.locator(".live")
    expect(live).to_have_text("live")
    card = page.locator(f"[data-profile-id='{profile_id}']")
    expect(card.locator(".badge")).to_have_text("DISCONNECTED")
    stack.websocket.stop()
    try:
        expect(live).to_have_text("reconnecting")
        ok(rest.post(f"/profiles/{profile_id}/connect", json={}))
        wait_status(rest, profile_id, "CONNECTED")
    finally:
        stack.websocket.start()
    expect(live).to_have_text("live", timeout=20_000)
    expect(card.locator(".badge")).to_have_text("CONNECTED")


def test_a_simulated_contact_writes(page: Page, stack, rest, unique):
    """The simulator's button: a contact writes to the profile, which receives it as any incoming message, live
    on the screen, and its webhook fires."""
    profile_id, _ = connected_profile(rest, unique)
    path = f"/hooks/{unique('inbound')}"
    stack.web.serve(path, b"ok", "text/plain")
    hook = ok(rest.post("/webhooks", json={"profileId": profile_id, "url": stack.web.url(path),
                                           "events": ["message.received"]}))
    sign_in(page, stack)
    page.goto(f"{stack.envoy.url}/#/profiles/{profile_id}")
    form = page.get_by_role("form", name="A simulated contact writes")
    form.get_by_label("From").fill("+62 898-7654-321")
    form.get_by_label("Message", exact=True).fill("Is the shop open today?")
    form.get_by_role("button", name="Receive it").click()

    message = page.get_by_role("list", name="Recent messages").get_by_role("listitem").filter(
        has_text="Is the shop open today?")
    expect(message.locator(".badge")).to_have_text("RECEIVED")
    expect(message).to_contain_text("628987654321")
    expect(page.get_by_role("list", name="Recent events")).to_contain_text("message.received")
    stored = ok(rest.get(f"/messages/{message.get_attribute('data-message-id')}"))
    assert stored["direction"] == "INBOUND"
    wait_for(lambda: [item for item in ok(rest.get(f"/webhooks/{hook['id']}/deliveries"))["deliveries"]
                      if item["event"] == "message.received" and item["status"] == "DELIVERED"],
             "the webhook's delivery of message.received")


def test_the_console_works_while_the_websocket_bridge_is_down(page: Page, stack, rest, unique):
    """Without the socket the views are read all the same; once it is back, they are read again, so a change made
    while it was down shows."""
    profile_id = unique("later")
    ok(rest.post("/profiles", json={"id": profile_id, "name": "While away", "engine": "simulator",
                                    "engineSettings": {"autoPair": True, "autoPairPhone": "+628111000036"}}))
    stack.websocket.stop()
    try:
        sign_in(page, stack)
        card = page.locator(f"[data-profile-id='{profile_id}']")
        expect(card.locator(".badge")).to_have_text("DISCONNECTED")
        expect(page.locator(".live")).to_have_text("reconnecting")
        ok(rest.post(f"/profiles/{profile_id}/connect", json={}))
        wait_status(rest, profile_id, "CONNECTED")
    finally:
        stack.websocket.start()
    expect(page.locator(".live")).to_have_text("live")
    expect(card.locator(".badge")).to_have_text("CONNECTED")


def test_pairing_code_instead_of_a_qr_code(page: Page, stack, rest, unique):
    profile_id = unique("pair")
    sign_in(page, stack)
    create_profile(page, profile_id, "Paired in the console")
    page.get_by_label("…or link with a phone number (pairing code)").fill("+62 811-1000-033")
    page.get_by_role("button", name="Get pairing code").click()
    code = page.locator(".pairing-code")
    expect(code).to_have_text(re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}$"))
    stack.simulator("enter_pairing_code", phone="+628111000033", code=code.inner_text())
    expect(status_badge(page)).to_have_text("CONNECTED")

    # Disconnect keeps the session, log out ends it, delete removes the profile.
    page.get_by_role("button", name="Disconnect").click()
    expect(status_badge(page)).to_have_text("DISCONNECTED")
    page.get_by_role("button", name="Log out").click()
    expect(status_badge(page)).to_have_text("LOGGED_OUT")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Profiles", exact=True)).to_be_visible()
    fails(rest.get(f"/profiles/{profile_id}"), 404, "NOT_FOUND")


def test_errors_show_the_envelope_message(page: Page, stack, rest, unique):
    page.goto(f"{stack.envoy.url}/console")
    page.get_by_label("API key").fill("wagw_nosuchke_notARealSecretAtAllButLongEnoughToLookLikeOne12")
    page.get_by_role("button", name="Open the console").click()
    refusal = fails(rest.get("/profiles", headers={
        "X-API-Key": "wagw_nosuchke_notARealSecretAtAllButLongEnoughToLookLikeOne12"}), 401, "UNAUTHORIZED")
    expect(page.get_by_role("alert")).to_have_text(f"UNAUTHORIZED {refusal['message']}")

    sign_in(page, stack)
    taken = unique("taken")
    ok(rest.post("/profiles", json={"id": taken, "name": "Taken", "engine": "simulator"}))
    form = page.get_by_role("form", name="Create a profile")
    form.get_by_label("Name").fill("Again")
    form.get_by_label("Id").fill(taken)
    form.get_by_role("button", name="Create profile").click()
    conflict = fails(rest.post("/profiles", json={"id": taken, "name": "Again", "engine": "simulator"}), 409,
                     "CONFLICT")
    expect(form.get_by_role("alert")).to_have_text(f"CONFLICT {conflict['message']}")

    # A bulk whose message names a variable the list has no column for: the server's refusal, naming the field.
    page.get_by_role("link", name="Bulk", exact=True).click()
    bulk = page.get_by_role("form", name="Start a bulk send")
    bulk.get_by_label("Profile").select_option(taken)
    bulk.get_by_label("Message", exact=True).fill("Hello {name} from {city}!")
    bulk.get_by_label("Recipients (CSV)").fill("phone,name\n628123456789,John\n")
    bulk.get_by_role("button", name="Start").click()
    refusal = fails(rest.post("/bulk/send", json={"profileId": taken, "messages": [
        {"chatId": "628123456789", "type": "text", "content": {"text": "Hello {name} from {city}!"},
         "variables": {"name": "John"}}]}), 400, "VALIDATION_ERROR")
    expect(bulk.get_by_role("alert")).to_have_text(f"VALIDATION_ERROR {refusal['message']}")
    # A list without its header line is the console's own refusal, before anything is sent.
    bulk.get_by_label("Recipients (CSV)").fill("628123456789,John\n")
    bulk.get_by_role("button", name="Start").click()
    expect(bulk.get_by_role("alert")).to_contain_text("The first line names the columns")


def test_a_key_without_events_read_works_without_live_updates(page: Page, stack, rest, unique):
    key = ok(rest.post("/keys", json={"name": unique("no-events"), "scopes": ["profiles:*"]}))["key"]
    sign_in(page, stack, key)
    expect(page.locator(".live")).to_have_text("no live updates: the key lacks events:read")
    profile_id = unique("quiet")
    create_profile(page, profile_id, "Without live updates")
    expect(status_badge(page)).to_have_text("DISCONNECTED")


def test_webhooks_and_api_keys(page: Page, stack, rest, unique):
    sign_in(page, stack)

    # A key made in the console is shown once, works, and stops working once revoked.
    page.get_by_role("link", name="API keys").click()
    form = page.get_by_role("form", name="Create an API key")
    name = unique("reader")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Scopes").fill("profiles:read")
    form.get_by_role("button", name="Create key").click()
    key = page.locator(".secret-value").inner_text()
    ok(rest.get("/profiles", headers={"X-API-Key": key}))
    row = page.get_by_role("list", name="API keys").get_by_role("listitem").filter(has_text=name)
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(row.locator(".badge")).to_have_text("REVOKED")
    fails(rest.get("/profiles", headers={"X-API-Key": key}), 401, "UNAUTHORIZED")

    # A webhook: its secret once, a test delivery with its attempt, and a redelivery of a finished delivery.
    page.get_by_role("link", name="Webhooks").click()
    form = page.get_by_role("form", name="Create a webhook")
    path = f"/hooks/{unique('hook')}"
    stack.web.serve(path, b"ok", "text/plain")  # the test Internet (tests/support/web.py) answers 200
    url = stack.web.url(path)
    form.get_by_label("URL").fill(url)
    form.get_by_role("button", name="Create webhook").click()
    expect(page.locator(".secret-value")).to_have_text(re.compile(r"^whsec_"))
    hook = page.get_by_role("listitem").filter(has_text=url)
    hook.get_by_role("button", name="Send a test").click()
    delivery = hook.get_by_role("list", name="Deliveries").get_by_role("listitem").first
    expect(delivery).to_contain_text("webhook.test")
    expect(delivery.locator(".badge")).to_have_text("DELIVERED")
    expect(delivery.locator(".attempts li")).to_have_count(1)
    expect(delivery.locator(".attempts li")).to_contain_text("HTTP 200")
    delivery.get_by_role("button", name="Redeliver").click()

    def attempted_again() -> bool:  # attempts are not events: a person refreshes the list to see the next one
        hook.get_by_role("button", name="Refresh").click()
        return delivery.locator(".attempts li").count() == 2

    wait_for(attempted_again, "the second attempt in the deliveries", timeout=15)
    expect(delivery.locator(".badge")).to_have_text("DELIVERED")


def _fits(page: Page) -> None:
    """Nothing is wider than the screen: no sideways scrolling."""
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_phone_sized_screen(phone_page: Page, stack, rest, unique):
    page = phone_page
    profile_id = unique("phone")
    ok(rest.post("/profiles", json={"id": profile_id, "name": "On a phone", "engine": "simulator",
                                    "engineSettings": {"autoPair": True, "autoPairPhone": "+628111000034"}}))
    ok(rest.post(f"/profiles/{profile_id}/connect", json={}))
    wait_status(rest, profile_id, "CONNECTED")
    sign_in(page, stack)
    _fits(page)
    page.locator(f"[data-profile-id='{profile_id}']").get_by_role("link").click()
    expect(status_badge(page)).to_have_text("CONNECTED")
    # The events recorded before the page opened are there too, read back from the log.
    expect(page.get_by_role("list", name="Recent events")).to_contain_text("session.status")

    # An image picked from a file, sent inline.
    send = page.get_by_role("form", name="Send a test message")
    send.get_by_label("To", exact=True).fill("628123456789")
    send.get_by_label("Kind").select_option("image")
    send.get_by_label("File").set_input_files({"name": "dot.png", "mimeType": "image/png", "buffer": DOT_PNG})
    send.get_by_label("Caption").fill("A dot from a phone")
    send.get_by_role("button", name="Send image").click()
    message = page.get_by_role("list", name="Recent messages").get_by_role("listitem").filter(
        has_text="A dot from a phone")
    expect(message.locator(".badge")).to_have_text("READ")
    sent = ok(rest.get(f"/messages/{message.get_attribute('data-message-id')}"))
    assert sent["type"] == "IMAGE" and sent["content"]["media"]["mimetype"] == "image/png"
    _fits(page)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / "console-phone.png", full_page=True)
    for view in ("Bulk", "Webhooks", "API keys", "Profiles"):
        page.get_by_role("link", name=view, exact=True).click()
        expect(page.get_by_role("heading", name=view, exact=True)).to_be_visible()
        _fits(page)

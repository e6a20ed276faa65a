"""What the browser tests do again and again in the console, as a person would: sign in, open a profile, read the
QR code off the screen."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.support.api import ok, wait_for
from tests.support.qr import decode_image
from tests.support.stack import Stack


def sign_in(page: Page, stack: Stack, key: str | None = None) -> None:
    """Opens the console at / and enters the key (the admin key by default)."""
    page.goto(f"{stack.envoy.url}/")
    page.get_by_label("API key").fill(key or stack.admin_key)
    page.get_by_role("button", name="Open the console").click()
    expect(page.get_by_role("heading", name="Profiles", exact=True)).to_be_visible()


def create_profile(page: Page, profile_id: str, name: str) -> None:
    """Creates a simulator profile with the console's form; the console then shows the profile."""
    form = page.get_by_role("form", name="Create a profile")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Id").fill(profile_id)
    form.get_by_label("Engine").select_option("simulator")
    form.get_by_role("button", name="Create profile").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()


def status_badge(page: Page):
    """The status shown beside the profile's name."""
    return page.locator("h1 .badge")


def shown_qr(page: Page) -> str | None:
    """The text of the QR code the page shows, read off a screenshot of it as a phone would; None if none."""
    image = page.locator("img.qr")
    if not image.count():
        return None
    texts = decode_image(image.screenshot())
    return texts[0] if texts else None


def current_qr(rest: httpx.Client, profile_id: str) -> str | None:
    """The profile's QR code by the API (GET /api/profiles/{id}/qr), None when it shows none."""
    response = rest.get(f"/profiles/{profile_id}/qr")
    return ok(response)["qr"] if response.status_code == 200 else None


def wait_qr_matching_the_api(page: Page, rest: httpx.Client, profile_id: str, other_than: str | None = None) -> str:
    """The QR code the page shows once it is the API's current one (and not `other_than`). Codes rotate, so the page
    is read before and after the API: equal twice means no rotation fell in between."""
    def matching() -> str | None:
        before, api, after = shown_qr(page), current_qr(rest, profile_id), shown_qr(page)
        return before if before and before == api == after and before != other_than else None

    return wait_for(matching, "the console's QR code to be the API's current one", timeout=30)

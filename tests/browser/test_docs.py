"""/docs in Chromium: Swagger UI over the generated OpenAPI document, whose "Authorize" takes the API key and whose
"Try it out" sends a real request through Envoy."""

from __future__ import annotations

import json

from playwright.sync_api import Page, expect

from tests.browser.conftest import OUTPUT


def test_try_it_out_with_the_api_key(page: Page, stack):
    page.goto(f"{stack.envoy.url}/docs")
    page.get_by_role("button", name="Authorize").first.click()
    api_key = page.locator(".auth-container", has_text="X-API-Key")
    api_key.get_by_label("Value:").fill(stack.admin_key)
    api_key.get_by_role("button", name="Apply credentials").click()
    api_key.get_by_role("button", name="Close").click()

    operation = page.locator("#operations-ProfileService-ProfileService_ListProfiles")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    body = operation.locator(".live-responses-table .response-col_description pre.microlight").first
    expect(body).to_contain_text('"success": true')
    assert json.loads(body.inner_text())["data"]["profiles"] is not None
    OUTPUT.mkdir(exist_ok=True)
    operation.screenshot(path=OUTPUT / "docs-try-it-out.png")

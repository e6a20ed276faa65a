"""Media by URL end to end (server/engine_host/media.py through the real stack): the engine host downloads it from
the test Internet (tests/support/web.py, trusted by the stacks as `localhost:<its port>`, as a public host would be),
follows a few redirects, checks the type of the bytes at send time, stops a download over the size limit, and
refuses every private address, in any notation and at any redirect hop, before connecting: such a message ends
FAILED with the reason, and nothing is fetched or sent."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from server.core.content import MEDIA_LIMITS
from server.engine_host.media import MAX_REDIRECTS
from tests.support.api import connected_profile, ok, wait_message

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
MP4 = bytes.fromhex("0000001866747970") + b"mp42" + bytes(4) + b"mp42isom" + bytes(64)
RECIPIENT = "6281255501234"


def send(rest: Any, pid: str, kind: str, url: str, **media: str) -> dict[str, Any]:
    return ok(rest.post(f"/messages/{kind}", json={"profileId": pid, "chatId": RECIPIENT,
                                                    "media": {"url": url, **media}}))


def inbox(stack: Any, sender: str) -> list[dict[str, Any]]:
    """What the recipient got from `sender`."""
    return [entry for entry in stack.simulator("inbox", phone_or_chat_id=f"+{RECIPIENT}")
            if entry["sender"].startswith(sender.lstrip("+"))]


@pytest.fixture
def sender(rest: Any, unique: Any) -> tuple[str, str]:
    return connected_profile(rest, unique)


@pytest.mark.parametrize(("kind", "body", "mimetype"), [
    ("image", PNG, "image/png"), ("video", MP4, "video/mp4"), ("document", PDF, "application/pdf")])
def test_media_by_url_is_downloaded_and_sent(stack, rest, unique, sender, kind, body, mimetype):
    pid, phone = sender
    path = f"/{unique('media')}/file"
    stack.web.serve(path, body, "application/octet-stream")
    sent = send(rest, pid, kind, stack.web.url(path))
    wait_message(rest, sent["id"], "DELIVERED", "READ")
    [hit] = stack.web.hits(path)
    assert hit.host == f"localhost:{stack.web.port}"  # the URL's own name, on the address the guard checked
    [got] = [entry for entry in inbox(stack, phone) if entry["type"] == kind]
    assert got["content"]["media"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert got["content"]["media"]["mimetype"] == mimetype


def test_redirects_are_followed_each_hop_checked(stack, rest, unique, sender):
    pid, _ = sender
    base = f"/{unique('hops')}"
    stack.web.redirect(f"{base}/a", f"{base}/b", status=301)  # relative
    stack.web.redirect(f"{base}/b", stack.web.url(f"{base}/c"), status=307)
    stack.web.serve(f"{base}/c", PNG)
    wait_message(rest, send(rest, pid, "image", stack.web.url(f"{base}/a"))["id"], "DELIVERED", "READ")
    assert [hit.path for hit in stack.web.hits() if hit.path.startswith(base)] == [f"{base}/{x}" for x in "abc"]
    loop = f"/{unique('loop')}"
    stack.web.redirect(loop, loop)
    failed = wait_message(rest, send(rest, pid, "image", stack.web.url(loop))["id"], "FAILED")
    assert f"redirects more than {MAX_REDIRECTS} times" in failed["error"]
    assert len(stack.web.hits(loop)) == MAX_REDIRECTS + 1


@pytest.mark.parametrize("declared", [None, "image/png"])
def test_the_type_of_the_downloaded_bytes_is_checked_at_send_time(stack, rest, unique, sender, declared):
    """An image route given a URL that serves a PDF fails naming the media, whatever the caller declared."""
    pid, phone = sender
    path = f"/{unique('pdf')}/picture.png"
    stack.web.serve(path, PDF, "image/png")
    sent = send(rest, pid, "image", stack.web.url(path), **({"mimetype": declared} if declared else {}))
    failed = wait_message(rest, sent["id"], "FAILED")
    assert "media: application/pdf cannot be sent as image" in failed["error"]
    assert inbox(stack, phone) == []


def test_media_over_the_size_limit_fails_and_the_download_stops_early(stack, rest, unique, sender):
    pid, phone = sender
    endless = f"/{unique('endless')}"
    stack.web.endless(endless, PNG, "image/png")  # a PNG that never ends, unless the client hangs up
    failed = wait_message(rest, send(rest, pid, "image", stack.web.url(endless))["id"], "FAILED")
    assert f"is larger than {MEDIA_LIMITS['IMAGE'] >> 20} MiB" in failed["error"]
    [hit] = stack.web.hits(endless)
    assert hit.finished  # the gateway hung up: the server stopped writing
    assert hit.sent < 4 * MEDIA_LIMITS["IMAGE"]  # the limit, and what socket buffers took beyond it
    claimed = f"/{unique('claimed')}"
    stack.web.serve(claimed, PNG, "image/png", length=MEDIA_LIMITS["IMAGE"] + 1)
    failed = wait_message(rest, send(rest, pid, "image", stack.web.url(claimed))["id"], "FAILED")
    assert f"(Content-Length {MEDIA_LIMITS['IMAGE'] + 1})" in failed["error"]  # refused before the body
    assert inbox(stack, phone) == []


def test_an_error_status_fails_the_message_with_it(stack, rest, unique, sender):
    pid, _ = sender
    failed = wait_message(rest, send(rest, pid, "document", stack.web.url(f"/{unique('gone')}"))["id"], "FAILED")
    assert "answered HTTP 404" in failed["error"] and failed["error"].startswith("VALIDATION_ERROR: media:")


def _private_urls(stack: Any, secret: str) -> list[tuple[str, str]]:
    """(URL, what the refusal says) for the test Internet's own address written every way but the trusted one,
    and Envoy's admin interface by a name that resolves to 127.0.0.1."""
    port = stack.web.port
    return [
        (f"http://127.0.0.1:{port}{secret}", "'127.0.0.1' is a loopback address"),
        (f"http://2130706433:{port}{secret}", "'2130706433' (127.0.0.1) is a loopback address"),
        (f"http://127.1:{port}{secret}", "'127.1' (127.0.0.1) is a loopback address"),
        (f"http://0x7f000001:{port}{secret}", "'0x7f000001' (127.0.0.1) is a loopback address"),
        (f"http://0177.1:{port}{secret}", "'0177.1' (127.0.0.1) is a loopback address"),
        (f"http://[::ffff:127.0.0.1]:{port}{secret}",
         "'::ffff:127.0.0.1' (::ffff:7f00:1) is a loopback address inside IPv6 (127.0.0.1)"),
        (f"http://localhost:{stack.envoy.admin_port}/stats", "'localhost' resolves to 127.0.0.1"),
    ]


@pytest.mark.parametrize("hop", ["first", "redirect"])
def test_private_addresses_are_refused_in_every_notation_and_nothing_is_fetched(stack, rest, unique, sender, hop):
    """The reproductions of issue 10: each URL fetched directly, or as the redirect of a trusted (public) URL."""
    pid, phone = sender
    secret = f"/{unique('secret')}"
    stack.web.serve(secret, PNG, "image/png")
    cases = _private_urls(stack, secret)
    sent = []
    for index, (url, reason) in enumerate(cases):
        if hop == "redirect":
            first = f"{secret}-via-{index}"
            stack.web.redirect(first, url)
            sent.append((send(rest, pid, "image", stack.web.url(first)), f"refused the redirect to {url}", reason))
        else:
            sent.append((send(rest, pid, "image", url), f"refused {url}", reason))
    for message, where, reason in sent:
        failed = wait_message(rest, message["id"], "FAILED")
        assert failed["error"].startswith(f"VALIDATION_ERROR: media: {where}: {reason}"), failed["error"]
        assert "WAGW_ALLOW_PRIVATE_URLS" in failed["error"]
    assert stack.web.hits(secret) == []
    assert inbox(stack, phone) == []


def test_an_invalid_address_is_refused_before_anything_is_fetched(stack, rest, unique, sender):
    pid, _ = sender
    url = f"http://0177.0.0.1:{stack.web.port}/{unique('octal')}"  # octal dotted: no valid URL to httpx
    failed = wait_message(rest, send(rest, pid, "image", url)["id"], "FAILED")
    assert f"media: {url} is not a valid URL" in failed["error"]


def test_inline_media_is_not_downloaded(stack, rest, unique, sender):
    pid, phone = sender
    sent = ok(rest.post("/messages/image", json={"profileId": pid, "chatId": RECIPIENT,
                                                  "media": {"data": base64.b64encode(PNG).decode()}}))
    wait_message(rest, sent["id"], "DELIVERED", "READ")
    [got] = inbox(stack, phone)
    assert got["content"]["media"]["sha256"] == hashlib.sha256(PNG).hexdigest()

"""The simulated WhatsApp's part in conversations, in-process on a manual clock: reactions, edits within 15
minutes by their sender, revokes within two days, poll votes hashed as WhatsApp encrypts them, reads, presence,
pictures, the block list, uploaded media kept for downloads, and deletions for one's own devices."""

from __future__ import annotations

import hashlib

import pytest

from server.simulator import events
from server.simulator.content import Media
from server.simulator.errors import Refusal
from server.simulator.network import OutgoingMessage, SimulatedNetwork
from tests.unit.test_simulator import ALICE, BOB, CAROL, clock, jid, linked, net  # noqa: F401  (fixtures)


def text(to: str, body: str) -> OutgoingMessage:
    return OutgoingMessage(jid(to), "text", {"text": body})


def about(to: str, kind: str, **content: object) -> OutgoingMessage:
    return OutgoingMessage(jid(to), kind, dict(content))


def test_reactions_edits_and_revokes_reach_the_other_side(net: SimulatedNetwork, clock) -> None:  # noqa: F811
    alice, bob = linked(net, "a", ALICE), linked(net, "b", BOB)
    wa_id = net.send(alice, text(BOB, "See you at 5"))
    clock.advance(1)
    net.send(bob, about(ALICE, "reaction", target=wa_id, emoji="\U0001F44D"))
    net.send(alice, about(BOB, "edit", target=wa_id, text="See you at 6"))
    net.send(alice, about(BOB, "revoke", target=wa_id))
    clock.advance(1)
    assert [(m["type"], m["content"]) for m in alice.of(events.MESSAGE)] == [
        ("reaction", {"target": wa_id, "emoji": "\U0001F44D"})]
    assert [(m["type"], m["content"]) for m in bob.of(events.MESSAGE)][1:] == [
        ("edit", {"target": wa_id, "text": "See you at 6"}), ("revoke", {"target": wa_id})]
    # messages about messages get no receipts of their own
    assert {r["wa_message_id"] for r in alice.of(events.RECEIPT)} == {wa_id}


def test_only_the_sender_edits_only_texts_and_only_within_the_window(net: SimulatedNetwork, clock) -> None:  # noqa: F811
    alice, bob = linked(net, "a", ALICE), linked(net, "b", BOB)
    wa_id = net.send(alice, text(BOB, "hello"))
    with pytest.raises(Refusal, match="only the sender"):
        net.send(bob, about(ALICE, "edit", target=wa_id, text="hijacked"))
    with pytest.raises(Refusal, match="not in this chat"):
        net.send(linked(net, "c", CAROL), about(ALICE, "reaction", target=wa_id, emoji="\u2764\ufe0f"))
    with pytest.raises(Refusal, match="one emoji"):
        net.send(bob, about(ALICE, "reaction", target=wa_id, emoji="ok"))
    with pytest.raises(Refusal, match="only the sender"):
        net.send(bob, about(ALICE, "revoke", target=wa_id))
    clock.advance(15 * 60 + 1)
    with pytest.raises(Refusal, match="too old to edit"):
        net.send(alice, about(BOB, "edit", target=wa_id, text="late"))
    net.send(alice, about(BOB, "revoke", target=wa_id))  # still within two days
    old = net.send(alice, text(BOB, "older"))
    clock.advance(2 * 24 * 3600 + 1)
    with pytest.raises(Refusal, match="too old to delete"):
        net.send(alice, about(BOB, "revoke", target=old))


def test_poll_votes_arrive_as_option_hashes(net: SimulatedNetwork, clock) -> None:  # noqa: F811
    alice = linked(net, "a", ALICE)
    poll = net.send(alice, OutgoingMessage(jid(BOB), "poll", {"poll": {
        "question": "Lunch?", "options": ["Rice", "Noodles"], "allow_multiple_answers": False}}))
    net.send_from(BOB, ALICE, "poll_vote", {"poll": poll, "options": ["Noodles"]})
    [vote] = alice.of(events.MESSAGE)
    assert vote["type"] == "poll_vote" and vote["content"] == {
        "poll": poll, "selected_hashes": [hashlib.sha256(b"Noodles").hexdigest()]}
    with pytest.raises(Refusal, match="one option"):
        net.send_from(BOB, ALICE, "poll_vote", {"poll": poll, "options": ["Rice", "Noodles"]})
    with pytest.raises(Refusal, match="options of the poll"):
        net.send_from(BOB, ALICE, "poll_vote", {"poll": poll, "options": ["Pizza"]})


def test_marking_read_sends_read_receipts(net: SimulatedNetwork, clock) -> None:  # noqa: F811
    alice, bob = linked(net, "a", ALICE), linked(net, "b", BOB)
    net.set_reads(BOB, False)
    wa_id = net.send(alice, text(BOB, "ping"))
    clock.advance(5)
    assert alice.receipts(wa_id) == ["server", "delivered"]
    net.mark_read(bob, jid(ALICE), [wa_id, "3EB0UNKNOWN"])
    assert alice.receipts(wa_id) == ["server", "delivered", "read"]
    assert net.read_by(ALICE) == [wa_id]
    net.mark_read(bob, jid(ALICE), [wa_id])  # read already: nothing more
    assert net.read_by(ALICE) == [wa_id]


def test_presence_pictures_and_blocks(net: SimulatedNetwork, clock) -> None:  # noqa: F811
    alice = linked(net, "a", ALICE)
    net.send_presence(alice, jid(BOB), "recording")
    assert [(p["sender"], p["presence"]) for p in net.presences(BOB)] == [(jid(ALICE), "recording")]
    with pytest.raises(Refusal):
        net.send_presence(alice, jid(BOB), "dancing")

    url, picture_id = net.get_picture(alice, jid(BOB))
    assert url.startswith("https://pps.whatsapp.net/") and net.get_picture(alice, jid(BOB)) == (url, picture_id)
    net.set_picture(BOB, "")
    with pytest.raises(Refusal) as none:
        net.get_picture(alice, jid(BOB))
    assert none.value.code == "NOT_FOUND"

    assert net.update_blocklist(alice, "block", [jid(BOB)]) == [jid(BOB)]
    held = net.send_from(BOB, ALICE, "text", {"text": "let me in"})
    clock.advance(1)
    assert not [m for m in alice.of(events.MESSAGE) if m["wa_message_id"] == held]
    with pytest.raises(Refusal, match="blocked"):
        net.send(alice, text(BOB, "hi"))
    assert net.update_blocklist(alice, "unblock", [jid(BOB)]) == []
    clock.advance(1)
    assert [m["wa_message_id"] for m in alice.of(events.MESSAGE)] == [held]


def test_uploaded_media_is_kept_for_downloads_until_it_expires(net: SimulatedNetwork, clock) -> None:  # noqa: F811
    alice, bob = linked(net, "a", ALICE), linked(net, "b", BOB)
    data = b"RIFF\x00\x00\x00\x00WEBPVP8 sticker"
    media = Media("image/webp", "", len(data), hashlib.sha256(data).hexdigest())
    net.send(alice, OutgoingMessage(jid(BOB), "sticker", {}, media, media_data=data))
    clock.advance(1)
    [sticker] = bob.of(events.MESSAGE)
    assert sticker["content"] == {"media": {"mimetype": "image/webp", "filename": "", "size": len(data),
                                            "sha256": media.sha256}}
    assert net.download_media(bob, media.sha256) == data
    net.expire_media(media.sha256)
    with pytest.raises(Refusal) as gone:
        net.download_media(bob, media.sha256)
    assert gone.value.code == "NOT_FOUND"
    with pytest.raises(Refusal, match="does not match"):
        net.send(alice, OutgoingMessage(jid(BOB), "sticker", {}, media, media_data=b"other bytes"))
    with pytest.raises(Refusal, match="OGG/Opus"):
        net.send(alice, OutgoingMessage(jid(BOB), "audio", {"voice_note": True},
                                        Media("audio/mpeg", "", 3, "x"), media_data=b""))


def test_delete_for_me_needs_a_message_of_the_chat(net: SimulatedNetwork, clock) -> None:  # noqa: F811
    alice, bob = linked(net, "a", ALICE), linked(net, "b", BOB)
    wa_id = net.send(alice, text(BOB, "oops"))
    net.delete_for_me(bob, jid(ALICE), wa_id)
    with pytest.raises(Refusal) as missing:
        net.delete_for_me(bob, jid(CAROL), wa_id)
    assert missing.value.code == "NOT_FOUND"

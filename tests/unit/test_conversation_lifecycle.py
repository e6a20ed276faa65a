"""Conversations in the message lifecycle (server/core/lifecycle.py) on an injected clock, on SQLite and PostgreSQL:
who may edit or revoke what and until when, reactions one per person, edits keeping the old text, revokes, reads,
poll votes tallied from their option hashes; and the emoji check."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from typing import Any

import pytest

from server.core import content, lifecycle
from server.core.errors import ApiError
from server.core.models import Event, Message, Profile

NOW = dt.datetime(2026, 11, 30, 10, 0, 0)
ANN = "628111000001@s.whatsapp.net"
_ids = itertools.count()


@pytest.fixture(autouse=True)
def _setup(database, stub_broker):
    """Every test runs on a fresh database of each backend."""


def profile() -> Profile:
    return Profile.create(id=f"p{next(_ids)}", name="P", engine="simulator", status="CONNECTED",
                          phone_number="+628999000001")


def sent(owner: Profile, type_name: str = "TEXT", body: dict[str, Any] | None = None, at: dt.datetime = NOW) -> Message:
    message = lifecycle.accept_message(owner, chat_id=ANN, type_name=type_name, content=body or {"text": "hi"},
                                       now=at)
    lifecycle.hand_over(message, at)
    lifecycle.sent(message, f"3EB0{next(_ids)}", at)
    return Message.get_by_id(message.id)


def received(owner: Profile, wa_id: str = "IN1", text: str = "hello") -> Message:
    message = lifecycle.received(owner.id, wa_message_id=wa_id, chat_id=ANN, type_name="TEXT",
                                 content={"text": text}, sender=ANN, created_at=NOW, details={})
    assert message is not None
    return message


def events(name: str) -> list[dict[str, Any]]:
    return [row.data for row in Event.select().where(Event.name == name).order_by(Event.id)]


def conflict(check: Any, *args: Any) -> str:
    with pytest.raises(ApiError) as caught:
        check(*args)
    assert caught.value.code == "CONFLICT"
    return caught.value.message


def test_editing_is_for_sent_texts_of_the_profile_within_15_minutes():
    owner = profile()
    text = sent(owner)
    lifecycle.check_editable(text, NOW + dt.timedelta(minutes=15))
    assert "edit window" in conflict(lifecycle.check_editable, text, NOW + dt.timedelta(minutes=15, seconds=1))
    poll = sent(owner, "POLL", {"poll": {"question": "Q", "options": ["a", "b"]}})
    assert "only text" in conflict(lifecycle.check_editable, poll, NOW)
    assert "received" in conflict(lifecycle.check_editable, received(owner), NOW)
    pending = lifecycle.accept_message(owner, chat_id=ANN, type_name="TEXT", content={"text": "x"}, now=NOW)
    assert "PENDING" in conflict(lifecycle.check_editable, pending, NOW)


def test_revoking_is_for_the_profiles_own_messages_within_two_days():
    owner = profile()
    text = sent(owner)
    lifecycle.check_revocable(text, NOW + dt.timedelta(days=2))
    assert "2 days" in conflict(lifecycle.check_revocable, text, NOW + dt.timedelta(days=2, seconds=1))
    assert "someone else" in conflict(lifecycle.check_revocable, received(owner), NOW)
    lifecycle.revoked(owner.id, wa_message_id=text.wa_message_id, chat_id=ANN, sender="", from_me=True, now=NOW)
    assert "already" in conflict(lifecycle.check_revocable, Message.get_by_id(text.id), NOW)
    assert "deleted" in conflict(lifecycle.check_reactable, Message.get_by_id(text.id))


def test_one_reaction_per_person_and_an_empty_emoji_removes_it():
    owner = profile()
    text = sent(owner)
    for sender, emoji in ((ANN, "\U0001F44D"), ("me", "\u2764\ufe0f"), (ANN, "\U0001F602"), ("me", "")):
        lifecycle.reacted(owner.id, wa_message_id=text.wa_message_id, chat_id=ANN, sender=sender, emoji=emoji,
                          from_me=sender == "me", now=NOW)
    assert [(r["sender"], r["emoji"]) for r in Message.get_by_id(text.id).reactions] == [(ANN, "\U0001F602")]
    assert [(e["emoji"], e["fromMe"], e["messageId"]) for e in events("message.reaction")] == [
        ("\U0001F44D", False, text.id), ("\u2764\ufe0f", True, text.id), ("\U0001F602", False, text.id),
        ("", True, text.id)]
    assert lifecycle.reacted(owner.id, wa_message_id="UNKNOWN", chat_id=ANN, sender=ANN, emoji="x", from_me=False,
                             now=NOW) is None
    assert events("message.reaction")[-1]["messageId"] == ""  # recorded all the same


def test_an_edit_keeps_the_old_text_and_only_the_sender_edits():
    owner = profile()
    message = received(owner, "IN7", "helo")
    lifecycle.edited(owner.id, wa_message_id="IN7", chat_id=ANN, sender=ANN, text="hello", from_me=False, now=NOW)
    lifecycle.edited(owner.id, wa_message_id="IN7", chat_id=ANN, sender="628000@s.whatsapp.net", text="forged",
                     from_me=False, now=NOW)
    row = Message.get_by_id(message.id)
    assert row.content["text"] == "hello" and [e["text"] for e in row.edits] == ["helo"] and row.edited_at == NOW
    assert [(e["text"], e["previousText"]) for e in events("message.edited")] == [("hello", "helo")]


def test_reads_mark_only_unread_received_messages():
    owner = profile()
    first, second = received(owner, "IN1"), received(owner, "IN2")
    assert lifecycle.marked_read(owner.id, ANN, [first.id], NOW) == [first.id]
    assert lifecycle.marked_read(owner.id, ANN, [first.id, second.id], NOW) == [second.id]
    assert lifecycle.unread(owner.id, ANN).count() == 0


def test_poll_votes_are_tallied_from_their_hashes_the_latest_counting():
    owner = profile()
    poll = sent(owner, "POLL", {"poll": {"question": "Lunch?", "options": ["Rice", "Noodles", "Soup"]}})

    def vote(voter: str, *options: str) -> None:
        hashes = [hashlib.sha256(option.encode()).hexdigest() for option in options]
        lifecycle.poll_voted(owner.id, poll_wa_id=poll.wa_message_id, chat_id=ANN, voter=voter,
                             option_hashes=[*hashes, "ff" * 32], now=NOW)

    vote("ann", "Rice")
    vote("bob", "Rice", "Soup")
    vote("ann", "Noodles")  # changed her mind
    vote("cid", "Soup")
    vote("cid")  # withdrew
    tally = lifecycle.poll_results(poll.content["poll"], Message.get_by_id(poll.id).poll_votes)
    assert tally == [{"option": "Rice", "votes": 1, "voters": ["bob"]},
                     {"option": "Noodles", "votes": 1, "voters": ["ann"]},
                     {"option": "Soup", "votes": 1, "voters": ["bob"]}]
    assert [e["options"] for e in events("poll.vote")] == [["Rice"], ["Rice", "Soup"], ["Noodles"], ["Soup"], []]


@pytest.mark.parametrize("emoji", ["\U0001F44D", "\U0001F44D\U0001F3FD", "\U0001F468\u200d\U0001F469\u200d\U0001F467",
                                   "\U0001F1EE\U0001F1E9", "\u2764\ufe0f", "#\ufe0f\u20e3", ""])
def test_one_emoji_grapheme_or_none_is_a_reaction(emoji: str):
    assert content.check_emoji(emoji) == emoji


@pytest.mark.parametrize("emoji", ["a", "ok", "\U0001F44D\U0001F44D", "1", " ", "\U0001F44D "])
def test_anything_else_is_refused_naming_the_field(emoji: str):
    with pytest.raises(ApiError) as caught:
        content.check_emoji(emoji)
    assert caught.value.metadata == {"field": "emoji"}

"""A send to a LID (`…@lid`, WhatsApp's internal id for a person) through the REST API: accepted as a chat id, and
stored under the person's phone-number chat id when the profile has learned it (server/core/lids.py), so one person
stays one conversation."""

from __future__ import annotations

from server.core import db
from server.core.models import LidMapping
from tests.support.api import connected_profile, ok


def test_a_send_to_a_known_lid_is_stored_under_the_phone_number(stack, rest, unique):
    pid, _ = connected_profile(rest, unique)
    db.open_database(stack.database_url)
    try:
        with db.database.connection_context():
            LidMapping.create(profile=pid, lid="77@lid", chat_id="628123456789@s.whatsapp.net")
    finally:
        db.database.close()
    known = ok(rest.post("/messages/text", json={"profileId": pid, "chatId": "77@lid", "text": "hi"}))
    assert known["chatId"] == "628123456789@s.whatsapp.net"
    unknown = ok(rest.post("/messages/text", json={"profileId": pid, "chatId": " 88@lid", "text": "hi"}))
    assert unknown["chatId"] == "88@lid"


def test_bulk_items_and_chat_history_file_a_known_lid_under_the_phone_number(stack, rest, unique):
    pid, _ = connected_profile(rest, unique)
    db.open_database(stack.database_url)
    try:
        with db.database.connection_context():
            LidMapping.create(profile=pid, lid="99@lid", chat_id="628123456700@s.whatsapp.net")
    finally:
        db.database.close()
    batch = ok(rest.post("/bulk/send", json={"profileId": pid, "messages": [
        {"chatId": "99@lid", "type": "text", "content": {"text": "by LID"}},
        {"chatId": "98@lid", "type": "text", "content": {"text": "unknown LID"}}]}))
    items = ok(rest.get(f"/bulk/batch/{batch['batchId']}"))["items"]
    assert [item["chatId"] for item in items] == ["628123456700@s.whatsapp.net", "98@lid"]
    by_lid = ok(rest.get("/chats/99@lid/messages", params={"profileId": pid}))["messages"]
    by_number = ok(rest.get("/chats/628123456700/messages", params={"profileId": pid}))["messages"]
    assert [m["id"] for m in by_lid] == [m["id"] for m in by_number] != []

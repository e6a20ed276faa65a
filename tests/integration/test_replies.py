"""Replies end to end on the simulator: `replyTo` takes the gateway's message id, WhatsApp gets WhatsApp's id for it
(the simulated recipient sees the quoted id), and an id the caller's profile does not have is refused when the send
is accepted, naming `replyTo`."""

from __future__ import annotations

from tests.support.api import connected_profile, fails, ok, wait_for, wait_message

PERSON = "+628555000222"


def test_a_reply_quotes_whatsapps_id_of_a_sent_and_of_a_received_message(stack, rest, unique):
    pid, phone = connected_profile(rest, unique)
    first = ok(rest.post("/messages/text", json={"profileId": pid, "chatId": PERSON, "text": "Your order is ready"}))
    # A reply accepted while the message it quotes still waits: it goes out after it, with its WhatsApp id.
    reply = ok(rest.post("/messages/text", json={"profileId": pid, "chatId": PERSON, "text": "Pick it up today",
                                                 "replyTo": first["id"]}))
    assert reply["replyTo"] == first["id"]
    first_wa = wait_message(rest, first["id"], "SENT", "DELIVERED", "READ")["waMessageId"]
    wait_message(rest, reply["id"], "SENT", "DELIVERED", "READ")
    inbox = wait_for(lambda: [entry for entry in stack.simulator("inbox", phone_or_chat_id=PERSON)
                              if entry["content"].get("text") == "Pick it up today"], "the reply")
    assert inbox[0]["content"]["reply_to"] == first_wa != first["id"]

    stack.simulator("send_from", phone=PERSON, to=phone, type="text", content={"text": "Which branch?"})
    question = wait_for(lambda: ok(rest.get("/messages", params={"profileId": pid, "direction": "INBOUND"}))
                        ["messages"], "the incoming question")[0]
    answer = ok(rest.post("/messages/text", json={"profileId": pid, "chatId": PERSON, "text": "Sudirman",
                                                  "replyTo": question["id"]}))
    wait_message(rest, answer["id"], "SENT", "DELIVERED", "READ")
    inbox = wait_for(lambda: [entry for entry in stack.simulator("inbox", phone_or_chat_id=PERSON)
                              if entry["content"].get("text") == "Sudirman"], "the answer")
    assert inbox[0]["content"]["reply_to"] == question["waMessageId"]


def test_reply_to_an_id_the_profile_does_not_have_is_refused(rest, unique):
    pid, _ = connected_profile(rest, unique)
    other, _ = connected_profile(rest, unique)
    theirs = ok(rest.post("/messages/text", json={"profileId": other, "chatId": PERSON, "text": "not yours"}))
    failed = ok(rest.post("/messages/text", json={"profileId": pid, "chatId": "+628111000000", "text": "nobody"}))
    wait_message(rest, failed["id"], "FAILED")
    for reply_to in ("msg_unknown", theirs["id"], failed["id"]):
        error = fails(rest.post("/messages/text", json={"profileId": pid, "chatId": PERSON, "text": "re",
                                                        "replyTo": reply_to}), 400, "VALIDATION_ERROR")
        assert "replyTo" in error["message"], error
    # Nothing was stored for the refused replies.
    sent = ok(rest.get("/messages", params={"profileId": pid, "direction": "OUTBOUND"}))["messages"]
    assert [message["id"] for message in sent] == [failed["id"]]

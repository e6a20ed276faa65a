"""WhatsApp templates end to end through Envoy on the simulator, whose business account has a small approved
catalogue: listing them, sending one (and Meta's refusal of an unknown one), template campaigns with `{var}` in
their parameters, the 400s naming the field, and NOT_SUPPORTED on whatsmeow."""

from __future__ import annotations

from tests.support.api import connected_profile, fails, ok, wait_for, wait_message

PERSON = "+628555000333"


def order_update(name: str = "Budi", order: str = "#1042", language: str = "en_US") -> dict:
    return {"name": "order_update", "language": language, "components": [
        {"type": "BODY", "parameters": [{"type": "TEXT", "text": name}, {"type": "TEXT", "text": order}]},
        {"type": "BUTTON", "subType": "QUICK_REPLY", "index": 0,
         "parameters": [{"type": "PAYLOAD", "payload": f"stop-{order}"}]}]}


def received_templates(stack, phone: str) -> list[dict]:
    return [entry["content"]["template"] for entry in stack.simulator("inbox", phone_or_chat_id=phone)
            if entry["type"] == "template"]


def test_list_then_send_an_approved_template(stack, rest, unique):
    pid, _ = connected_profile(rest, unique)
    listed = ok(rest.get(f"/profiles/{pid}/templates"))["templates"]
    assert [(entry["name"], entry["language"], entry["status"]) for entry in listed] == [
        ("hello_world", "en_US", "APPROVED"), ("order_update", "en_US", "APPROVED"), ("order_update", "id", "APPROVED")]
    assert listed[1]["components"][0] == {"type": "BODY", "text": "Hi {{1}}, your order {{2}} is on its way.",
                                          "example": {"body_text": [["Budi", "#1042"]]}}

    sent = ok(rest.post("/messages/template", json={"profileId": pid, "chatId": PERSON, "template": order_update()}))
    assert sent["type"] == "TEMPLATE" and sent["status"] == "PENDING"
    assert sent["content"]["template"]["name"] == "order_update"
    wait_message(rest, sent["id"], "SENT", "DELIVERED", "READ")
    [template] = wait_for(lambda: received_templates(stack, PERSON), "the template at the phone")
    assert template["language"] == "en_US"
    assert [p["text"] for p in template["components"][0]["parameters"]] == ["Budi", "#1042"]


def test_a_template_meta_does_not_have_fails_with_its_reason(rest, unique):
    pid, _ = connected_profile(rest, unique)
    sent = ok(rest.post("/messages/template", json={"profileId": pid, "chatId": PERSON,
                                                    "template": order_update(language="fr")}))
    failed = wait_message(rest, sent["id"], "FAILED")
    assert "132001" in failed["error"], failed


def test_a_template_campaign_fills_each_items_parameters(stack, rest, unique):
    pid, _ = connected_profile(rest, unique)
    people = {"+628555000441": ("Budi", "#1"), "+628555000442": ("Sari", "#2")}
    template = order_update(name="{name}", order="{order}", language="id")
    batch = ok(rest.post("/bulk/send", json={"profileId": pid, "messages": [
        {"chatId": phone, "type": "template", "content": {"template": template},
         "variables": {"name": name, "order": order}} for phone, (name, order) in people.items()]}))
    wait_for(lambda: ok(rest.get(f"/bulk/batch/{batch['id']}"))["status"] == "COMPLETED", "the campaign")
    for phone, (name, order) in people.items():
        [received] = received_templates(stack, phone)
        assert [p["text"] for p in received["components"][0]["parameters"]] == [name, order]
        assert received["components"][1]["parameters"][0]["payload"] == f"stop-{order}"


def test_bad_templates_name_the_field(rest, unique):
    pid, _ = connected_profile(rest, unique)
    for template, field in (({"name": "Order Update", "language": "en_US"}, "template.name"),
                            ({"name": "order_update", "language": "english"}, "template.language"),
                            ({"name": "order_update", "language": "en_US", "components": [
                                {"type": "BODY", "parameters": [{"type": "IMAGE"}]}]},
                             "template.components[0].parameters[0].type")):
        error = fails(rest.post("/messages/template", json={"profileId": pid, "chatId": PERSON,
                                                            "template": template}), 400, "VALIDATION_ERROR")
        assert error["message"].startswith(f"{field}:"), error
    error = fails(rest.post("/bulk/send", json={"profileId": pid, "messages": [
        {"chatId": PERSON, "type": "template", "content": {"template": order_update(name="{name}")}}]}),
        400, "VALIDATION_ERROR")
    assert error["message"].startswith("messages[0].variables.name:"), error


def test_whatsmeow_has_no_templates(rest, unique):
    pid = unique("wm")
    ok(rest.post("/profiles", json={"id": pid, "name": "Phone", "engine": "whatsmeow"}))
    error = fails(rest.post("/messages/template", json={"profileId": pid, "chatId": PERSON,
                                                        "template": order_update()}), 501, "NOT_SUPPORTED")
    assert "send_template" in error["message"]
    error = fails(rest.get(f"/profiles/{pid}/templates"), 501, "NOT_SUPPORTED")
    assert "list_templates" in error["message"]

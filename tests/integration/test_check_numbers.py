"""`POST /api/profiles/{id}/check-numbers` end to end through Envoy: the simulated WhatsApp's registry answers per
number, bad numbers are 400 naming their place, and the Cloud API, which has no lookup, answers 501."""

from __future__ import annotations

import secrets

from tests.support.api import connected_profile, fails, ok


def number() -> str:
    return f"+62811{secrets.randbelow(10**7):07d}"


def test_each_number_is_answered_from_the_simulated_registry(stack, rest, unique):
    pid, own = connected_profile(rest, unique)
    known, gone = number(), number()
    stack.simulator("unregister", phone=gone)
    never = "+628111220000"  # numbers ending in 0000 are on no simulated WhatsApp
    spaced = f"{known[:3]} {known[3:6]}-{known[6:]}"

    answer = ok(rest.post(f"/profiles/{pid}/check-numbers", json={"phoneNumbers": [spaced, gone, never, own]}))
    assert answer == {"numbers": [
        {"phoneNumber": known, "onWhatsApp": True, "chatId": f"{known[1:]}@s.whatsapp.net"},
        {"phoneNumber": gone, "onWhatsApp": False, "chatId": ""},
        {"phoneNumber": never, "onWhatsApp": False, "chatId": ""},
        {"phoneNumber": own, "onWhatsApp": True, "chatId": f"{own[1:]}@s.whatsapp.net"},
    ]}


def test_bad_input_is_refused_naming_the_field(rest, unique):
    pid, _ = connected_profile(rest, unique)
    path = f"/profiles/{pid}/check-numbers"
    assert "phoneNumbers" in fails(rest.post(path, json={"phoneNumbers": []}), 400, "VALIDATION_ERROR")["message"]
    too_many = [number() for _ in range(501)]
    assert "phoneNumbers" in fails(rest.post(path, json={"phoneNumbers": too_many}), 400,
                                   "VALIDATION_ERROR")["message"]
    error = fails(rest.post(path, json={"phoneNumbers": [number(), "not a number"]}), 400, "VALIDATION_ERROR")
    assert "phoneNumbers[1]" in error["message"]
    fails(rest.post(f"/profiles/{unique('none')}/check-numbers", json={"phoneNumbers": [number()]}), 404,
          "NOT_FOUND")


def test_a_profile_that_is_not_connected_is_refused(rest, unique):
    pid = unique("idle")
    ok(rest.post("/profiles", json={"id": pid, "name": "Idle", "engine": "simulator"}))
    fails(rest.post(f"/profiles/{pid}/check-numbers", json={"phoneNumbers": [number()]}), 409,
          "PROFILE_NOT_CONNECTED")


def test_the_cloud_api_cannot_check_numbers(rest, unique):
    cloud = unique("cloud")
    ok(rest.post("/profiles", json={"id": cloud, "name": "Cloud", "engine": "cloudapi", "engineSettings": {
        "token": "t", "phoneNumberId": "1065"}}))
    error = fails(rest.post(f"/profiles/{cloud}/check-numbers", json={"phoneNumbers": [number()]}), 501,
                  "NOT_SUPPORTED")
    assert "lookup" in error["message"] and "cloudapi" in error["message"]

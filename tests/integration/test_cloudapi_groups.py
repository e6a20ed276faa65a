"""The group routes of a `cloudapi` profile, decided by the API before Meta is asked: Meta's Groups API creates groups
(joined by invite link, so a create takes no participants), and what it cannot do stays NOT_SUPPORTED naming it."""

from __future__ import annotations

from tests.support.api import fails, ok

GROUP = "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD@g.us"


def cloud_profile(rest, unique) -> str:
    return ok(rest.post("/profiles", json={"id": unique("cloud"), "name": "Cloud", "engine": "cloudapi",
                                           "engineSettings": {"token": "EAAG-test-token",
                                                              "phoneNumberId": "106540352242922"}}))["id"]


def test_a_cloud_api_group_is_created_without_participants(rest, unique):
    pid = cloud_profile(rest, unique)
    error = fails(rest.post("/groups", json={"profileId": pid, "name": "Linen club",
                                             "participants": ["628123456789"]}), 501, "NOT_SUPPORTED")
    assert "add_participants" in error["message"]
    # Without participants the request is Meta's to make: this profile is simply not connected.
    fails(rest.post("/groups", json={"profileId": pid, "name": "Linen club"}), 409, "PROFILE_NOT_CONNECTED")


def test_what_metas_groups_api_lacks_stays_not_supported(rest, unique):
    pid = cloud_profile(rest, unique)
    for path, operation in (("participants/add", "add_participants"), ("participants/promote", "promote_participants"),
                            ("participants/demote", "demote_participants"), ("leave", "leave_group")):
        body = {"profileId": pid, "participants": ["628123456789"]} if "participants" in path else {"profileId": pid}
        error = fails(rest.post(f"/groups/{GROUP}/{path}", json=body), 501, "NOT_SUPPORTED")
        assert operation in error["message"]


def test_other_engines_still_need_participants(rest, unique):
    pid = ok(rest.post("/profiles", json={"id": unique("sim"), "name": "Sim", "engine": "simulator"}))["id"]
    error = fails(rest.post("/groups", json={"profileId": pid, "name": "Linen club"}), 400, "VALIDATION_ERROR")
    assert error["message"].startswith("participants:")

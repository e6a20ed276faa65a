"""Bulk campaigns end to end on the simulator: the seed's example verbatim, template variables, bounds,
pacing, cancel, stopOnError, scheduled start, parallel profiles, the watch stream and a 10,000-item batch."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

import httpx
import pytest

from tests.support.api import connected_profile, fails, ok, wait_for, wait_status
from tests.support.contract import SEED_BULK_BODY

# The seed's example (api-specification.txt §7.5), byte for byte.
SEED_BODY = SEED_BULK_BODY


def wait_batch(rest: httpx.Client, batch_id: str, *statuses: str, timeout: float = 30) -> dict:
    return wait_for(lambda: (b := ok(rest.get(f"/bulk/batch/{batch_id}")))["status"] in statuses and b,
                    f"batch {batch_id} in {statuses}", timeout)


def sent_times(rest: httpx.Client, batch: dict) -> list[dt.datetime]:
    times = []
    for item in batch["items"]:
        message = ok(rest.get(f"/messages/{item['messageId']}"))
        times.append(dt.datetime.fromisoformat(message["sentTime"].replace("Z", "+00:00")))
    return times


def text_items(count: int, prefix: str = "62811") -> list[dict[str, Any]]:
    width = 12 - len(prefix)  # Indonesian mobile numbers: 62 and ten digits
    return [{"chatId": f"{prefix}{i + 1:0{width}d}", "type": "text", "content": {"text": "Hi {who} #{n}"},
             "variables": {"who": "you", "n": str(i)}} for i in range(count)]


def test_the_seed_example_verbatim(stack, rest):
    ok(rest.post("/profiles", json={"id": "profile-123", "name": "Seed", "engine": "simulator",
                                    "engineSettings": {"autoPair": True, "autoPairDelayMs": 100}}))
    ok(rest.post("/profiles/profile-123/connect", json={}))
    wait_status(rest, "profile-123", "CONNECTED")
    reply = rest.post("/bulk/send", content=SEED_BODY, headers={"Content-Type": "application/json"})
    batch = ok(reply)
    assert batch["batchId"].startswith("bat_")
    assert batch["status"] == "QUEUED"
    assert batch["progress"]["total"] == 2 and batch["progress"]["pending"] == 2
    assert batch["estimatedEndTime"]
    # Watch it through Envoy as newline-delimited JSON, to the end.
    with rest.stream("GET", f"/bulk/batch/{batch['batchId']}/watch", timeout=30) as stream:
        frames = [json.loads(line) for line in stream.iter_lines() if line.strip()]
    assert frames[-1]["status"] == "COMPLETED"
    assert [f["progress"]["sent"] for f in frames] == sorted(f["progress"]["sent"] for f in frames)
    done = ok(rest.get(f"/bulk/batch/{batch['batchId']}"))
    assert done["progress"]["sent"] == 2 and done["progress"]["failed"] == 0
    first, second = sent_times(rest, done)
    assert 5.0 <= (second - first).total_seconds() <= 7.5 + 0.2  # 5 s plus up to 50% at random
    # Sent is taken by WhatsApp; the phones get the messages after the network's delay.
    for phone, text in (("+628123456789", "Hello John!"), ("+628987654321", "Hello Jane!")):
        wait_for(lambda phone=phone, text=text: text in [m["content"].get("text") for m in
                                                         stack.simulator("inbox", phone_or_chat_id=phone)], text)
    wait_batch(rest, batch["batchId"], "COMPLETED")
    finished = ok(rest.get("/events", params={"profileId": "profile-123", "events": "bulk.finished"}))["events"]
    assert finished[-1]["data"]["batchId"] == batch["batchId"]


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda b: b["messages"][1]["variables"].clear(), "messages[1].variables.name"),
    (lambda b: b["messages"][0]["content"].update(text="Hi {"), "messages[0].content.text"),
    (lambda b: b["messages"][1].update(chatId="nope"), "messages[1].chatId"),
    (lambda b: b["messages"][0].pop("type"), "messages[0].type"),
    (lambda b: b["messages"][1]["content"].update(text=""), "messages[1].content.text"),
    (lambda b: b.update(messages=[]), "messages"),
    (lambda b: b["options"].update(delayBetweenMessages=3_600_001), "options.delayBetweenMessages"),
    (lambda b: b.pop("profileId"), "profileId"),
])
def test_bad_batches_are_refused_before_anything_is_queued(rest, unique, mutate, field):
    pid, _ = connected_profile(rest, unique)
    body = json.loads(SEED_BODY)
    body["profileId"] = pid
    mutate(body)
    error = fails(rest.post("/bulk/send", json=body), 400, "VALIDATION_ERROR")
    assert error["details"]["field"] == field, error
    assert ok(rest.get("/bulk/batches", params={"profileId": pid}))["totalSize"] == 0


def test_braces_and_captions(stack, rest, unique):
    pid, _ = connected_profile(rest, unique)
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgAAIAAAUAAeIhvDMAAAAASUVORK5CYII="
    batch = ok(rest.post("/bulk/send", json={"profileId": pid, "messages": [
        {"chatId": "628111700001", "type": "text", "content": {"text": "{{not a var}} {x}"}, "variables": {"x": "1"}},
        {"chatId": "628111700002", "type": "IMAGE", "content": {"media": {"data": png}, "caption": "for {x}"},
         "variables": {"x": "you"}},
    ]}))
    wait_batch(rest, batch["batchId"], "COMPLETED")
    # Completed is taken by WhatsApp; the phones get the messages after the network's delay.
    text = wait_for(lambda: stack.simulator("inbox", phone_or_chat_id="+628111700001"), "the text at its phone")
    image = wait_for(lambda: stack.simulator("inbox", phone_or_chat_id="+628111700002"), "the image at its phone")
    assert text[-1]["content"]["text"] == "{not a var} 1"
    assert image[-1]["content"]["caption"] == "for you"


def test_items_go_out_in_order_with_the_asked_gap(rest, unique):
    pid, _ = connected_profile(rest, unique)
    batch = ok(rest.post("/bulk/send", json={"profileId": pid, "messages": text_items(5, "62811710"),
                                            "options": {"delayBetweenMessages": 300}}))
    done = wait_batch(rest, batch["batchId"], "COMPLETED")
    times = sent_times(rest, done)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(0.29 <= gap <= 0.5 for gap in gaps), gaps
    assert [item["index"] for item in done["items"]] == list(range(5))


def test_cancel_mid_batch(rest, unique):
    pid, _ = connected_profile(rest, unique)
    batch = ok(rest.post("/bulk/send", json={"profileId": pid, "messages": text_items(20, "62811720"),
                                            "options": {"delayBetweenMessages": 200}}))
    wait_for(lambda: ok(rest.get(f"/bulk/batch/{batch['batchId']}"))["progress"]["sent"] >= 2, "two items sent")
    cancelled = ok(rest.post(f"/bulk/batch/{batch['batchId']}/cancel", json={}))
    assert cancelled["status"] == "CANCELLED"
    final = wait_for(lambda: (b := ok(rest.get(f"/bulk/batch/{batch['batchId']}")))["progress"]["pending"] == 0
                     and b, "no pending items")
    progress = final["progress"]
    assert progress["sent"] + progress["cancelled"] == 20 and progress["cancelled"] >= 10
    assert {i["status"] for i in final["items"]} <= {"SENT", "DELIVERED", "READ", "CANCELLED"}
    fails(rest.post(f"/bulk/batch/{batch['batchId']}/cancel", json={}), 409, "CONFLICT")


def test_stop_on_error(rest, unique):
    pid, _ = connected_profile(rest, unique)
    items = text_items(4, "62811730")
    items[1]["chatId"] = "628111730000"  # ends in 0000: not on WhatsApp
    batch = ok(rest.post("/bulk/send", json={"profileId": pid, "messages": items,
                                            "options": {"stopOnError": True}}))
    done = wait_batch(rest, batch["batchId"], "FAILED")
    assert done["progress"] == {"total": 4, "sent": 1, "failed": 1, "pending": 0, "cancelled": 2,
                                "delivered": done["progress"]["delivered"], "read": done["progress"]["read"]}


def test_scheduled_start(rest, unique):
    pid, _ = connected_profile(rest, unique)
    start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    batch = ok(rest.post("/bulk/send", json={"profileId": pid, "messages": text_items(1, "62811740"),
                                            "options": {"startTime": start.isoformat().replace("+00:00", "Z")}}))
    done = wait_batch(rest, batch["batchId"], "COMPLETED")
    (sent,) = sent_times(rest, done)
    assert sent >= start


def test_two_profiles_run_in_parallel(rest, unique):
    (a, _), (b, _) = connected_profile(rest, unique), connected_profile(rest, unique)
    batches = [ok(rest.post("/bulk/send", json={"profileId": pid, "messages": text_items(4, prefix),
                                                "options": {"delayBetweenMessages": 500}}))
               for pid, prefix in ((a, "62811750"), (b, "62811760"))]
    a_times, b_times = (sent_times(rest, wait_batch(rest, batch["batchId"], "COMPLETED")) for batch in batches)
    # Each takes 1.5 s of gaps: in parallel, each profile sends while the other does (one after the other, the
    # second would start only once the first had finished).
    assert b_times[0] < a_times[-1] and a_times[0] < b_times[-1]


def test_list_and_get_pages(rest, unique):
    pid, _ = connected_profile(rest, unique)
    batch = ok(rest.post("/bulk/send", json={"profileId": pid, "messages": text_items(5, "62811770")}))
    listed = ok(rest.get("/bulk/batches", params={"profileId": pid, "status": "QUEUED"}))
    assert listed["totalSize"] in (0, 1)
    wait_batch(rest, batch["batchId"], "COMPLETED")
    assert [b["batchId"] for b in ok(rest.get("/bulk/batches", params={"profileId": pid}))["batches"]] == \
        [batch["batchId"]]
    page = ok(rest.get(f"/bulk/batch/{batch['batchId']}", params={"itemsPageSize": 2}))
    assert [i["index"] for i in page["items"]] == [0, 1]
    second = ok(rest.get(f"/bulk/batch/{batch['batchId']}",
                         params={"itemsPageSize": 2, "itemsPageToken": page["nextItemsPageToken"]}))
    assert [i["index"] for i in second["items"]] == [2, 3]
    fails(rest.get("/bulk/batch/bat_nope"), 404, "NOT_FOUND")


def test_idempotent_batch(rest, unique):
    pid, _ = connected_profile(rest, unique)
    body = {"profileId": pid, "messages": text_items(2, "62811780"), "idempotencyKey": "campaign-7"}
    first = ok(rest.post("/bulk/send", json=body))
    assert ok(rest.post("/bulk/send", json=body))["batchId"] == first["batchId"]


def test_ten_thousand_items_are_accepted_at_once(rest, unique):
    pid, _ = connected_profile(rest, unique)
    items = [{"chatId": f"6281180{i:05d}", "type": "text", "content": {"text": "Hello {n}"}, "variables": {"n": str(i)}}
             for i in range(10_000)]
    reply = rest.post("/bulk/send", json={"profileId": pid, "messages": items,
                                          "options": {"delayBetweenMessages": 3_600_000}}, timeout=60)
    batch = ok(reply)
    assert batch["progress"]["total"] == 10_000
    assert ok(rest.get(f"/bulk/batch/{batch['batchId']}", params={"itemsPageSize": 1000}))["progress"]["total"] \
        == 10_000
    ok(rest.post(f"/bulk/batch/{batch['batchId']}/cancel", json={}))
    fails(rest.post("/bulk/send", json={"profileId": pid, "messages": [*items, items[0]]}, timeout=60),
          400, "VALIDATION_ERROR")

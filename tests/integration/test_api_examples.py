"""The documented examples (proto/wagw/v1/examples.yaml, shown at /docs) sent, in order, to a real stack on the
simulator through Envoy, so the docs cannot drift from the API:

- every example succeeds, and the real answer fits the operation's response schema in gen/openapi.json (batches
  and groups answer their `id` and the seed's `batchId`/`groupId` alike);
- every field rule of the document (gateway/field_rules.py) is the server's: the operation's example with that
  one field just past a bound answers 400 VALIDATION_ERROR naming the field, and at the bound it does not.

The stack is this module's own: webhooks may call a local receiver (WAGW_ALLOW_PRIVATE_URLS), and the
simulator's clock runs at half speed, so the simulated phone links the example profile (autoPair, 3 s) only
after the QR code example has read its code.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.protobuf import descriptor_pool

from gateway.field_rules import RULES
from tests.support.api import wait_message, wait_status
from tests.support.examples import ExampleRunner, load_document, validator, walkthrough
from tests.support.net import LOCALHOST, free_port
from tests.support.stack import Stack, postgres_database, running_stack
from wagw.v1 import (  # noqa: F401  (loads every service into the descriptor pool)
    api_keys_pb2,
    bulk_pb2,
    cloudapi_pb2,
    contacts_pb2,
    events_pb2,
    groups_pb2,
    messages_pb2,
    profiles_pb2,
    templates_pb2,
    webhooks_pb2,
)

DOCUMENT = load_document()
EXAMPLE_PROFILE = "profile-123"
EXAMPLE_WEBHOOK_URL = "https://example.com/hook"
# What the example profile must be before an operation runs, as a reader of the docs would wait for it.
# Answers that carry a resource with the seed's spelling of its id beside `id`: (path to the resource, alias).
ALIASES = {"BulkService.SendBulk": ("", "batchId"), "BulkService.GetBatch": ("", "batchId"),
           "GroupService.CreateGroup": ("group", "groupId"), "GroupService.GetGroup": ("", "groupId")}
NEEDS_STATUS = {"ProfileService.GetProfileQr": "QR_READY", "MessageService": "CONNECTED", "BulkService": "CONNECTED",
                "TemplateService": "CONNECTED",
                "GroupService": "CONNECTED", "ChatService": "CONNECTED",
                "ProfileService.GetContactPicture": "CONNECTED", "ProfileService.BlockContacts": "CONNECTED",
                "ProfileService.UnblockContacts": "CONNECTED", "ProfileService.CheckNumbers": "CONNECTED"}
# Operations on a message WhatsApp must have taken first, as a reader of the docs would wait for its `waMessageId`.
NEEDS_SENT = {"MessageService.ReactToMessage", "MessageService.EditMessage", "MessageService.DeleteMessage"}


class _Receiver(BaseHTTPRequestHandler):
    """The webhook example's receiver: answers 200 to every delivery."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def receiver_url() -> Iterator[str]:
    server = ThreadingHTTPServer((LOCALHOST, free_port()), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{LOCALHOST}:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def examples_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"WAGW_ALLOW_PRIVATE_URLS": "1", "WAGW_SIMULATOR_TIME_SCALE": "2"}
    if request.param == "sqlite":
        with running_stack(f"sqlite:///{tmp_path_factory.mktemp('examples') / 'wagw.db'}", **env) as stack:
            yield stack
    else:
        with postgres_database() as url, running_stack(url, **env) as stack:
            yield stack


def test_every_example_works_and_every_field_rule_holds(examples_stack, receiver_url):
    exercised: set[str] = set()
    checked: set[str] = set()
    with examples_stack.rest() as client:
        runner = ExampleRunner(client, DOCUMENT, {EXAMPLE_WEBHOOK_URL: receiver_url})
        for name, example in walkthrough():
            wanted = NEEDS_STATUS.get(name) or NEEDS_STATUS.get(name.split(".")[0])
            if wanted:
                wait_status(client, runner.swap(EXAMPLE_PROFILE), wanted, timeout=30)
            if name in NEEDS_SENT:
                wait_message(client, runner.swap(example["path"]["id"]), "SENT", "DELIVERED", "READ")
            response, data = runner.send(name, example)
            assert response.status_code == 200, (name, response.text)
            operation = runner.operations[name]
            answer = response.json() if operation.response_schema().get("properties", {}).get("success") else data
            errors = [error.message for error in validator(DOCUMENT, operation.response_schema()).iter_errors(answer)]
            assert not errors, (name, errors)
            if name in ALIASES:
                where, alias = ALIASES[name]
                resource = data[where] if where else data
                assert resource["id"] and resource["id"] == resource[alias], (name, resource)
            runner.learn(example["response"], data)
            if name not in checked:  # an operation's first example carries its rules' checks
                checked.add(name)
                exercised |= _check_rules(runner, name, example)
    assert exercised == set(RULES), f"rules no example reaches: {sorted(set(RULES) - exercised)}"


# Breaking one field at a time


def _check_rules(runner: ExampleRunner, name: str, example: dict[str, Any]) -> set[str]:
    """Send the example again once per bound of its request's fields: with the field just past the bound, which
    must answer 400 VALIDATION_ERROR naming the field, and with the field at the bound, which must not be refused
    for that field (so a documented bound is neither looser nor stricter than the server's). The rules checked."""
    operation = runner.operations[name]
    service, method = name.split(".")
    request_type = descriptor_pool.Default().FindServiceByName(f"wagw.v1.{service}").methods_by_name[method].input_type
    in_path = {p["name"] for p in operation.spec.get("parameters", []) if p["in"] == "path"}
    where = "body" if "requestBody" in operation.spec else "query"
    checked = set()
    for key, json_path, field in _ruled_fields(request_type, in_path):
        current = _get(runner.swap(example.get(where, {})), json_path)
        if current is None and RULES[key].get("format") == "uri":
            current = runner.swap(EXAMPLE_WEBHOOK_URL)  # a URL that still reaches the test's receiver
        for broken in _violations(RULES[key], field, current):
            status, reply = _send_with(runner, name, example, where, json_path, field, broken)
            assert status == 400, (name, json_path, str(broken)[:80], reply)
            assert reply["error"]["code"] == "VALIDATION_ERROR", (name, json_path, reply)
            assert reply["error"]["details"]["field"] == json_path, (name, json_path, reply)
        for allowed in _at_bounds(RULES[key], field, current):
            status, reply = _send_with(runner, name, example, where, json_path, field, allowed)
            refused = status == 400 and reply["error"].get("details", {}).get("field") == json_path
            assert not refused, (name, json_path, str(allowed)[:80], reply)
        checked.add(key)
    return checked


def _send_with(runner: ExampleRunner, name: str, example: dict[str, Any], where: str, json_path: str, field: Any,
               value: Any) -> tuple[int, Any]:
    """The example (without its headers: no Idempotency-Key) with `value` at the path: the status, and the body
    unless it is a stream that was accepted (a watch stays open)."""
    variant = copy.deepcopy({k: v for k, v in example.items() if k != "headers"})
    variant.setdefault(where, {})
    if where == "query":
        variant["query"][json_path] = value
        request = runner.request(name, variant)
    else:
        body = runner.swap(variant["body"])
        _set(body, json_path, value, _oneof_siblings(field))
        request = runner.request(name, variant, body=body)
    response = runner.client.send(request, stream=True)
    try:
        if response.status_code == 200 and runner.operations[name].streaming:
            return 200, None
        response.read()
        return response.status_code, response.json()
    finally:
        response.close()


def _ruled_fields(message: Any, exclude: set[str], prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    """(rule key, JSON path, field) of every field with a rule in this request, through singular messages."""
    for field in message.fields:
        path = prefix + field.json_name
        if not prefix and field.json_name in exclude:
            continue
        if field.full_name in RULES:
            yield field.full_name, path, field
        elif (field.message_type is not None and not field.message_type.GetOptions().map_entry
              and not field.is_repeated and field.message_type.full_name.startswith("wagw.")):
            yield from _ruled_fields(field.message_type, exclude, f"{path}.")


def _violations(rule: dict[str, Any], field: Any, current: Any) -> Iterator[Any]:
    """One value per keyword of the rule that breaks it and nothing else (lists keep their other bounds)."""
    for keyword, bound in rule.items():
        if keyword == "maxLength":
            yield ("https://example.com/" if "format" in rule else "") + "x" * (bound + 1)
        elif keyword == "minLength":
            yield "x" * (bound - 1)  # "" for 1: present all the same where it counts (optional, list items, keys)
        elif keyword == "maximum":
            yield bound + 1
        elif keyword == "minimum":
            yield bound - 1
        elif keyword == "pattern":
            yield "not valid!"
        elif keyword == "enum":
            yield "not-a-valid-value"
        elif keyword == "minItems" and bound > 0:
            yield _distinct(field, current, bound - 1)
        elif keyword == "maxItems":
            yield _distinct(field, current, bound + 1)
        elif keyword == "uniqueItems":
            yield _distinct(field, current, 1) * max(rule.get("minItems", 2), 2)
        elif keyword == "items":
            others = _distinct(field, current, max(rule.get("minItems", 1), 1))
            yield from ([item, *others[1:]] for item in _violations(bound, field, None))
        elif keyword == "maxProperties":
            yield {f"key{i}": "value" for i in range(bound + 1)}
        elif keyword == "propertyNames":
            yield from ({name: "value"} for name in _violations(bound, field, None))
        elif keyword == "additionalProperties":
            yield from ({"key": value} for value in _violations(bound, field, None))
        elif keyword in ("format", "type"):
            continue  # a hint for readers, and the JSON type the transcoder already checks
        else:
            raise AssertionError(f"no way to break {keyword!r} of {field.full_name}")


def _at_bounds(rule: dict[str, Any], field: Any, current: Any) -> Iterator[Any]:
    """Values right at each bound of the rule, otherwise like the example's own value (so still valid)."""
    for keyword, bound in rule.items():
        if keyword in ("maxLength", "minLength"):
            yield _text_of_length(current, bound)
        elif keyword in ("maximum", "minimum"):
            yield bound
        elif keyword in ("maxItems", "minItems") and bound > 0:
            yield _distinct(field, current, bound)
        elif keyword == "items":
            others = _distinct(field, current, max(rule.get("minItems", 1), 1))
            yield from ([item, *others[1:]] for item in _at_bounds(bound, field, None))
        elif keyword == "maxProperties":
            yield {f"key{i}": "value" for i in range(bound)}
        elif keyword == "propertyNames":
            yield from ({name: "value"} for name in _at_bounds(bound, field, None))
        elif keyword == "additionalProperties":
            yield from ({"key": value} for value in _at_bounds(bound, field, None))


def _text_of_length(current: Any, length: int) -> str:
    """A string of exactly `length` characters shaped like the example's value: a URL keeps its address (padded
    in its query), an email its domain."""
    if isinstance(current, str) and current.startswith(("http://", "https://")):
        padded = f"{current}{'&' if '?' in current else '?'}"
        return padded + "x" * (length - len(padded))
    if isinstance(current, str) and "@" in current:
        domain = current[current.index("@"):]
        return "x" * (length - len(domain)) + domain
    return "x" * length


# Valid items to build lists with, for list fields an example leaves empty.
_SAMPLE_ITEMS = {"mentions": "628123456789", "tags": "tag", "options": "option", "scopes": "messages:send",
                 "events": "*", "participants": "628123456789", "message_ids": "msg_unknown"}


def _distinct(field: Any, current: Any, count: int) -> list[Any]:
    """`count` valid, different items for a list field: from the example's own first item when it has one."""
    if current and count <= len(current) and not isinstance(current[0], dict):
        return list(current[:count])  # the example's own items are valid
    sample = current[0] if current else _SAMPLE_ITEMS[field.name]
    if isinstance(sample, dict):  # bulk items: identical ones are still separate messages
        return [copy.deepcopy(sample) for _ in range(count)]
    if field.name in ("participants", "mentions", "chat_ids"):
        return [f"6281234{i:05d}" for i in range(count)]  # distinct numbers that are on WhatsApp
    return [f"{sample}{i}" for i in range(count)]


def _get(container: dict[str, Any], json_path: str) -> Any:
    for part in json_path.split("."):
        if not isinstance(container, dict):
            return None
        container = container.get(part)
    return container


def _set(container: dict[str, Any], json_path: str, value: Any, drop: tuple[str, ...] = ()) -> None:
    """Set the value at the path, removing `drop` beside it (the other members of its oneof)."""
    *parents, last = json_path.split(".")
    for part in parents:
        container = container.setdefault(part, {})
    for sibling in drop:
        container.pop(sibling, None)
    container[last] = value


def _oneof_siblings(field: Any) -> tuple[str, ...]:
    oneof = field.containing_oneof
    return tuple(other.json_name for other in oneof.fields if other is not field) if oneof else ()

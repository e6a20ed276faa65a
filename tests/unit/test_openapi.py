"""The OpenAPI document (gen/openapi.json, made by gateway/openapi.py) against the protos it is made from: the
`required` lists, readOnly/writeOnly/deprecated and enum spellings follow the field behaviors and options of
gen/descriptor.binpb (read here independently of the generator), the field rules name real fields, and every
operation carries examples that fit its own schemas. tests/unit/test_contract.py checks the document is fresh."""

from __future__ import annotations

import re

import pytest
from google.api import field_behavior_pb2
from google.protobuf import descriptor_pb2

from gateway import openapi
from gateway.field_rules import RULES
from tests.support.contract import GEN
from tests.support.examples import load_document, operations, validator

F = descriptor_pb2.FieldDescriptorProto
Behavior = field_behavior_pb2.FieldBehavior
DOCUMENT = load_document()
SCHEMAS = DOCUMENT["components"]["schemas"]


def _messages() -> dict[str, descriptor_pb2.DescriptorProto]:
    """Every wagw.v1 message by full name (`wagw.v1.Batch`, `wagw.v1.VerifyCloudApiWebhookRequest.Hub`)."""
    file_set = descriptor_pb2.FileDescriptorSet.FromString((GEN / "descriptor.binpb").read_bytes())
    found: dict[str, descriptor_pb2.DescriptorProto] = {}

    def add(message: descriptor_pb2.DescriptorProto, prefix: str) -> None:
        found[f"{prefix}.{message.name}"] = message
        for nested in message.nested_type:
            add(nested, f"{prefix}.{message.name}")

    for file in file_set.file:
        if file.package == "wagw.v1":
            for message in file.message_type:
                add(message, "wagw.v1")
    return found


MESSAGES = _messages()


def _behaviors(field: descriptor_pb2.FieldDescriptorProto) -> set[int]:
    return set(field.options.Extensions[field_behavior_pb2.field_behavior])


def _required(message: descriptor_pb2.DescriptorProto, exclude: set[str] = frozenset()) -> set[str]:
    return {f.json_name for f in message.field if Behavior.REQUIRED in _behaviors(f) and f.json_name not in exclude}


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_component_required_lists_match_the_required_fields():
    checked, required = 0, 0
    for name, schema in SCHEMAS.items():
        message = MESSAGES.get(name)
        if message is None:
            continue  # enums, well-known shapes, the envelope
        assert set(schema.get("required", [])) == _required(message), name
        checked, required = checked + 1, required + len(_required(message))
    # Not an empty comparison. (Requests with a path are inline bodies and parameters: the next test.)
    assert checked > 40 and required > 30


def test_operation_required_parameters_and_bodies_match_the_required_fields():
    """A path or query parameter is required exactly when its field is REQUIRED (all path parameters are); a
    body without the path's fields requires the other REQUIRED fields."""
    for name, operation in operations(DOCUMENT).items():
        request = MESSAGES[_input_type(name)]
        path_fields = {p["name"] for p in operation.spec.get("parameters", []) if p["in"] == "path"}
        for parameter in operation.spec.get("parameters", []):
            required = parameter["in"] == "path" or _required_path(request, parameter["name"])
            assert parameter.get("required", False) == required, (name, parameter["name"])
        body = operation.body_schema()
        if body is not None and "$ref" not in body and body.get("type") == "object":
            assert set(body.get("required", [])) == _required(request, path_fields), name
            assert not path_fields & set(body["properties"]), name


def _input_type(operation_name: str) -> str:
    service, method = operation_name.split(".")
    file_set = descriptor_pb2.FileDescriptorSet.FromString((GEN / "descriptor.binpb").read_bytes())
    for file in file_set.file:
        for candidate in file.service:
            if candidate.name == service:
                return next(m.input_type for m in candidate.method if m.name == method).lstrip(".")
    raise KeyError(operation_name)


def _required_path(message: descriptor_pb2.DescriptorProto, json_path: str) -> bool:
    for part in json_path.split("."):
        field = next(f for f in message.field if part in (f.json_name, f.name))
        if Behavior.REQUIRED not in _behaviors(field):
            return False
        message = MESSAGES.get(field.type_name.lstrip("."), message)
    return True


def test_field_behaviors_and_deprecation_reach_the_properties():
    seen = {"readOnly": 0, "writeOnly": 0, "deprecated": 0}
    for name, schema in SCHEMAS.items():
        message = MESSAGES.get(name)
        if message is None:
            continue
        for field in message.field:
            prop = schema["properties"][field.json_name]
            behaviors = _behaviors(field)
            expected = {
                "readOnly": bool(behaviors & {Behavior.OUTPUT_ONLY, Behavior.IDENTIFIER}),
                "writeOnly": Behavior.INPUT_ONLY in behaviors,
                "deprecated": field.options.deprecated,
            }
            for keyword, wanted in expected.items():
                assert prop.get(keyword, False) == wanted, (name, field.name, keyword)
                seen[keyword] += wanted
    assert all(seen.values()), seen


def test_resources_name_their_own_id_id():
    """One identifier convention: a resource's own id is `id`; batches and groups keep the seed's spelling as a
    deprecated alias."""
    for resource in ("Profile", "Message", "Batch", "Group", "Contact", "Webhook", "WebhookDelivery", "ApiKey",
                     "Event"):
        assert SCHEMAS[f"wagw.v1.{resource}"]["properties"]["id"]["readOnly"] is True, resource
    assert SCHEMAS["wagw.v1.Batch"]["properties"]["batchId"]["deprecated"] is True
    assert SCHEMAS["wagw.v1.Group"]["properties"]["groupId"]["deprecated"] is True


def test_request_enums_list_the_spellings_requests_may_use():
    item = SCHEMAS["wagw.v1.BulkMessage"]["properties"]["type"]
    assert {"TEXT", "text", "POLL", "poll"} <= set(item["enum"])
    assert "MESSAGE_TYPE_UNSPECIFIED" not in item["enum"]
    engine = SCHEMAS["wagw.v1.CreateProfileRequest"]["properties"]["engine"]
    assert "simulator" in engine["enum"]
    # Replies print the names as they are, the zero value included (what an unset field prints).
    answered = _resolve(SCHEMAS["wagw.v1.Message"]["properties"]["type"]["allOf"][0])
    assert answered["enum"][0] == "MESSAGE_TYPE_UNSPECIFIED" and "text" not in answered["enum"]


def test_field_rules_name_fields_of_requests_and_reach_the_document():
    for key, rule in RULES.items():
        owner, _, field_name = key.rpartition(".")
        message = MESSAGES[owner]
        field = next((f for f in message.field if f.name == field_name), None)
        assert field is not None, key
        schema = SCHEMAS.get(owner, {}).get("properties", {}).get(field.json_name)
        if schema is None:  # a request read from the query string or with a path: its parameters carry it
            schema = _parameter_schema(owner, field.json_name)
        for keyword, value in rule.items():
            if keyword == "items":
                assert {k: schema["items"][k] for k in value} == value, key
            elif keyword == "additionalProperties":
                assert {k: schema[keyword][k] for k in value} == value, key
            else:
                assert schema[keyword] == value, (key, keyword)


def _parameter_schema(message_name: str, json_name: str) -> dict:
    for name, operation in operations(DOCUMENT).items():
        if _input_type(name) != message_name:
            continue
        for parameter in operation.spec.get("parameters", []):
            if parameter["name"] == json_name:
                return parameter["schema"]
        body = operation.body_schema()
        if body and "properties" in body and json_name in body["properties"]:
            return body["properties"][json_name]
    raise AssertionError(f"{message_name}.{json_name} is in no schema or parameter")


@pytest.mark.parametrize("name", sorted(operations(DOCUMENT)))
def test_every_operation_has_examples_that_fit_its_schemas(name):
    operation = operations(DOCUMENT)[name]
    answers = next(iter(operation.spec["responses"]["200"]["content"].values()))["examples"]
    assert answers
    for example in answers.values():
        errors = list(validator(DOCUMENT, operation.response_schema()).iter_errors(example["value"]))
        assert not errors, (name, [e.message for e in errors])
    if "requestBody" in operation.spec:
        media_type, media = next(iter(operation.spec["requestBody"]["content"].items()))
        assert media["examples"]
        if media_type == "application/json":
            for example in media["examples"].values():
                errors = list(validator(DOCUMENT, media["schema"]).iter_errors(example["value"]))
                assert not errors, (name, [e.message for e in errors])
    for parameter in operation.spec.get("parameters", []):
        if parameter.get("required"):
            assert "example" in parameter, (name, parameter["name"])
            errors = list(validator(DOCUMENT, parameter["schema"]).iter_errors(
                _as_typed(parameter["example"], parameter["schema"])))
            assert not errors, (name, parameter["name"])


def _as_typed(value: object, schema: dict) -> object:
    return int(value) if schema.get("type") == "integer" and isinstance(value, str) else value


# The generator's own refusals, on descriptors made here.

def _file_set(message_comment: str, field_comment: str) -> descriptor_pb2.FileDescriptorSet:
    file = descriptor_pb2.FileDescriptorProto(name="wagw/v1/x.proto", package="wagw.v1")
    message = file.message_type.add(name="Thing")
    message.field.add(name="size", number=1, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL, json_name="size")
    for path, comment in (((4, 0), message_comment), ((4, 0, 2, 0), field_comment)):
        if comment:
            file.source_code_info.location.add(path=list(path), leading_comments=comment)
    return descriptor_pb2.FileDescriptorSet(file=[file])


def test_an_undocumented_field_is_named():
    assert openapi.Generator(_file_set(" A thing.\n", " Its size.\n")).undocumented() == []
    assert openapi.Generator(_file_set(" A thing.\n", "")).undocumented() == ["wagw.v1.Thing.size"]
    assert openapi.Generator(_file_set("", "")).undocumented() == ["wagw.v1.Thing", "wagw.v1.Thing.size"]


def test_generation_refuses_an_operation_without_examples():
    file_set = descriptor_pb2.FileDescriptorSet.FromString((GEN / "descriptor.binpb").read_bytes())
    examples = openapi.load_examples()
    del examples["MessageService.SendPoll"]
    with pytest.raises(openapi.ExampleError, match="SendPoll"):
        openapi.Generator(file_set, examples).document()
    with pytest.raises(openapi.ExampleError, match=re.escape("MessageService.SendSticker")):
        openapi.Generator(file_set, {**openapi.load_examples(), "MessageService.SendSticker": [{}]}).document()

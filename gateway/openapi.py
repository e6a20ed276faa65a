"""The OpenAPI 3.1 document of the REST API, generated from the protos.

    python -m gateway.openapi DESCRIPTOR_SET OUT_DIR    (run by `make gen`)

DESCRIPTOR_SET is a FileDescriptorSet built with --include_imports and --include_source_info (the comments
become descriptions). Writes OUT_DIR/openapi.json, which Envoy serves at /api/openapi.json and Swagger UI shows
at /docs. Every google.api.http rule of the wagw.v1 services is one operation: path variables from `{field}`,
the request body from `body`, query parameters from the remaining request fields, and the response in the REST
envelope of DESIGN.md §2.

What the document says about a field comes from one place each:
- its description: the field's comment in the proto;
- `required`, `readOnly`, `writeOnly`, `deprecated`: its google.api.field_behavior (REQUIRED, OUTPUT_ONLY or
  IDENTIFIER, INPUT_ONLY) and its `deprecated` option;
- bounds and patterns: gateway/field_rules.py (what the server enforces);
- enum values as requests may spell them: the enum itself (any letter case is accepted, Envoy's
  case_insensitive_enum_parsing; the `_UNSPECIFIED` value is what leaving the field out means);
- examples: proto/wagw/v1/examples.yaml, one or more per operation, each a request and its answer. The
  generator refuses an operation without them, and tests/integration/test_api_examples.py sends every one to
  the real stack.

It also refuses a message, field, enum or enum value of wagw.v1 without a comment: the protos are the reference.

The output depends on these inputs alone, so regenerating unchanged inputs changes no byte.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from google.api import annotations_pb2, field_behavior_pb2, httpbody_pb2  # noqa: F401  (registers extensions)
from google.protobuf import descriptor_pb2

from gateway.field_rules import RULES
from server.api.auth import required_scope

PACKAGE = "wagw.v1"
F = descriptor_pb2.FieldDescriptorProto
EXAMPLES_PATH = Path(__file__).resolve().parent.parent / "proto" / "wagw" / "v1" / "examples.yaml"
# The `meta.timestamp` of every example envelope.
EXAMPLE_TIMESTAMP = "2026-02-05T10:00:00Z"

# Scalar field types as JSON Schema (proto3 JSON mapping: 64-bit integers are strings, bytes are base64).
SCALARS: dict[int, dict[str, Any]] = {
    F.TYPE_DOUBLE: {"type": "number", "format": "double"},
    F.TYPE_FLOAT: {"type": "number", "format": "float"},
    F.TYPE_INT64: {"type": "string", "format": "int64"},
    F.TYPE_UINT64: {"type": "string", "format": "uint64"},
    F.TYPE_SINT64: {"type": "string", "format": "int64"},
    F.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    F.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    F.TYPE_INT32: {"type": "integer", "format": "int32"},
    F.TYPE_SINT32: {"type": "integer", "format": "int32"},
    F.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    F.TYPE_UINT32: {"type": "integer", "format": "uint32"},
    F.TYPE_FIXED32: {"type": "integer", "format": "uint32"},
    F.TYPE_BOOL: {"type": "boolean"},
    F.TYPE_STRING: {"type": "string"},
    F.TYPE_BYTES: {"type": "string", "format": "byte", "contentEncoding": "base64"},
}
_INT64 = {F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64}

_WRAPPERS = {
    "DoubleValue": F.TYPE_DOUBLE, "FloatValue": F.TYPE_FLOAT, "Int64Value": F.TYPE_INT64,
    "UInt64Value": F.TYPE_UINT64, "Int32Value": F.TYPE_INT32, "UInt32Value": F.TYPE_UINT32,
    "BoolValue": F.TYPE_BOOL, "StringValue": F.TYPE_STRING, "BytesValue": F.TYPE_BYTES,
}
# Well-known types with a JSON form of their own.
WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?\d+(\.\d+)?s$", "examples": ["1.5s"]},
    "google.protobuf.FieldMask": {"type": "string", "description": "Comma-separated lowerCamelCase field paths."},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.Any": {"type": "object", "properties": {"@type": {"type": "string"}},
                            "required": ["@type"], "additionalProperties": True},
    **{f"google.protobuf.{name}": dict(SCALARS[kind]) for name, kind in _WRAPPERS.items()},
}
HTTP_BODY = "google.api.HttpBody"

Behavior = field_behavior_pb2.FieldBehavior
READ_ONLY = {Behavior.OUTPUT_ONLY, Behavior.IDENTIFIER}

# Source-info paths: FileDescriptorProto fields 4 (message_type), 5 (enum_type), 6 (service); inside a
# message 2 (field), 3 (nested_type), 4 (enum_type); inside an enum 2 (value); inside a service 2 (method).


class ExampleError(ValueError):
    """examples.yaml and the protos disagree: an operation without examples, or examples of no operation."""


class UndocumentedError(ValueError):
    """A message, field, enum or enum value of the public API has no comment."""


def _clean(comment: str) -> str:
    lines = [line[1:] if line.startswith(" ") else line for line in comment.strip("\n").split("\n")]
    return "\n".join(lines).strip()


def behaviors(field: descriptor_pb2.FieldDescriptorProto) -> set[int]:
    """The field's google.api.field_behavior values."""
    return set(field.options.Extensions[field_behavior_pb2.field_behavior])


def is_required(field: descriptor_pb2.FieldDescriptorProto) -> bool:
    return Behavior.REQUIRED in behaviors(field)


def load_examples(path: Path = EXAMPLES_PATH) -> dict[str, list[dict[str, Any]]]:
    """examples.yaml: `<Service>.<Method>` → a list of examples, each with `body`, `path`, `query`, `headers`
    (what the request carries) and `response` (the `data` of the answer), and an optional `name` and `summary`."""
    with path.open() as f:
        return yaml.safe_load(f)


class Generator:
    def __init__(self, file_set: descriptor_pb2.FileDescriptorSet,
                 examples: dict[str, list[dict[str, Any]]] | None = None):
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        self.comments: dict[str, str] = {}  # full name (message, field, enum, value, service, method) -> text
        self.files = list(file_set.file)
        for file in self.files:
            self._index(file)
        self.examples = examples if examples is not None else {}
        self.schemas: dict[str, Any] = {}
        self.request_types = self._reachable(method.input_type for _, method in self._methods())

    # ------------------------------------------------------------------------------------------- indexing

    def _index(self, file: descriptor_pb2.FileDescriptorProto) -> None:
        names: dict[tuple[int, ...], str] = {}

        def enum(e: descriptor_pb2.EnumDescriptorProto, prefix: str, path: tuple[int, ...]) -> None:
            full = f"{prefix}.{e.name}"
            self.enums[full] = e
            names[path] = full
            for i, value in enumerate(e.value):
                names[(*path, 2, i)] = f"{full}.{value.name}"

        def message(m: descriptor_pb2.DescriptorProto, prefix: str, path: tuple[int, ...]) -> None:
            full = f"{prefix}.{m.name}"
            self.messages[full] = m
            names[path] = full
            for i, field in enumerate(m.field):
                names[(*path, 2, i)] = f"{full}.{field.name}"
            for i, nested in enumerate(m.nested_type):
                message(nested, full, (*path, 3, i))
            for i, nested_enum in enumerate(m.enum_type):
                enum(nested_enum, full, (*path, 4, i))

        prefix = f".{file.package}" if file.package else ""
        for i, m in enumerate(file.message_type):
            message(m, prefix, (4, i))
        for i, e in enumerate(file.enum_type):
            enum(e, prefix, (5, i))
        for i, service in enumerate(file.service):
            names[(6, i)] = f"{prefix}.{service.name}"
            for j, method in enumerate(service.method):
                names[(6, i, 2, j)] = f"{prefix}.{service.name}.{method.name}"
        for location in file.source_code_info.location:
            name = names.get(tuple(location.path))
            if name and location.leading_comments.strip():
                self.comments[name] = _clean(location.leading_comments)

    def _methods(self) -> list[tuple[str, descriptor_pb2.MethodDescriptorProto]]:
        return [(service.name, method) for file in self.files if file.package == PACKAGE
                for service in file.service for method in service.method]

    def _reachable(self, roots: Any) -> set[str]:
        """The message types reachable from these types through their fields (well-known types excluded)."""
        seen: set[str] = set()
        todo = [name for name in roots if name in self.messages]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            todo += [f.type_name for f in self.messages[name].field
                     if f.type == F.TYPE_MESSAGE and f.type_name in self.messages]
        return seen

    def undocumented(self) -> list[str]:
        """The wagw.v1 messages, fields, enums and enum values without a comment (map entries excepted: protoc
        writes those)."""
        names = []
        for name, message in self.messages.items():
            if name.startswith(f".{PACKAGE}.") and not message.options.map_entry:
                names += [name, *(f"{name}.{field.name}" for field in message.field)]
        for name, enum in self.enums.items():
            if name.startswith(f".{PACKAGE}."):
                names += [name, *(f"{name}.{value.name}" for value in enum.value)]
        return [name.lstrip(".") for name in names if name not in self.comments]

    # -------------------------------------------------------------------------------------------- schemas

    def ref(self, type_name: str) -> dict[str, Any]:
        """A schema for the message or enum `.pkg.Name`, registered under components.schemas."""
        name = type_name.lstrip(".")
        if name in WELL_KNOWN:
            return dict(WELL_KNOWN[name])
        if name == HTTP_BODY:
            return {"type": "string", "description": "The raw body, passed through as is."}
        if name not in self.schemas:
            self.schemas[name] = {}  # placeholder: recursive messages refer to themselves
            if type_name in self.enums:
                self.schemas[name] = self._enum_schema(type_name)
            else:
                self.schemas[name] = self._message_schema(type_name)
        return {"$ref": f"#/components/schemas/{name}"}

    def _enum_schema(self, type_name: str, *, accepted: bool = False) -> dict[str, Any]:
        """The enum as responses print it (every name), or with `accepted` as requests may write it: the names
        other than the zero value (leaving the field out means that), in upper and lower case."""
        values = [v.name for v in self.enums[type_name].value]
        described = values
        if accepted:
            described = [v.name for v in self.enums[type_name].value if v.number != 0]
            values = described + [name.lower() for name in described]
        lines = [self.comments.get(type_name, "")]
        for value in described:
            comment = self.comments.get(f"{type_name}.{value}")
            if comment:
                lines.append(f"- `{value}`: {' '.join(comment.split())}")
        schema: dict[str, Any] = {"type": "string", "enum": values}
        description = "\n".join(line for line in lines if line)
        if description:
            schema["description"] = description
        return schema

    def field_schema(self, field: descriptor_pb2.FieldDescriptorProto, owner: str = "") -> dict[str, Any]:
        """The field's schema, with the rules the server enforces on it (gateway/field_rules.py). Enum fields
        of request messages list the spellings requests may use."""
        rule = dict(RULES.get(f"{owner.lstrip('.')}.{field.name}", {}))
        if field.type in (F.TYPE_MESSAGE, F.TYPE_GROUP):
            entry = self.messages.get(field.type_name)
            if entry is not None and entry.options.map_entry:
                value = next(f for f in entry.field if f.name == "value")
                values = {**self.field_schema(value), **rule.pop("additionalProperties", {})}
                return {"type": "object", "additionalProperties": values, **rule}
            item = self.ref(field.type_name)
        elif field.type == F.TYPE_ENUM:
            item = (self._enum_schema(field.type_name, accepted=True) if owner in self.request_types
                    else self.ref(field.type_name))
        else:
            item = dict(SCALARS[field.type])
            if field.type in _INT64 and {"minimum", "maximum"} & rule.keys():
                item = {"type": "integer", "format": "int64"}  # bounds need a number (requests may send one)
        if field.label == F.LABEL_REPEATED:
            return {"type": "array", "items": {**item, **rule.pop("items", {})}, **rule}
        return {**item, **rule} if "$ref" not in item else item

    def _property(self, owner: str, field: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
        """The field's schema with its description and what its field behavior and options say."""
        schema = self.field_schema(field, owner)
        extra: dict[str, Any] = {}
        comment = self.comments.get(f"{owner}.{field.name}")
        if comment:
            # An inline enum keeps what its values mean under the field's own description.
            extra["description"] = f"{comment}\n\n{schema['description']}" if "description" in schema else comment
        field_behaviors = behaviors(field)
        if field_behaviors & READ_ONLY:
            extra["readOnly"] = True
        if Behavior.INPUT_ONLY in field_behaviors:
            extra["writeOnly"] = True
        if field.options.deprecated:
            extra["deprecated"] = True
        if not extra:
            return schema
        return {"allOf": [schema], **extra} if "$ref" in schema else {**schema, **extra}

    def _message_schema(self, type_name: str, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The message as an object schema; `exclude` leaves out fields (those a path binds)."""
        message = self.messages[type_name]
        fields = [field for field in message.field if field.name not in exclude]
        result: dict[str, Any] = {"type": "object",
                                  "properties": {field.json_name: self._property(type_name, field) for field in fields}}
        required = [field.json_name for field in fields if is_required(field)]
        if required:
            result["required"] = required
        if self.comments.get(type_name):
            result["description"] = self.comments[type_name]
        return result

    # ---------------------------------------------------------------------------------------- operations

    def _field_by_path(self, type_name: str, path: str) -> tuple[descriptor_pb2.FieldDescriptorProto, str, str]:
        """The field at a dotted proto path, its dotted JSON name and the message that holds it."""
        field, json_parts, owner = None, [], type_name
        for part in path.split("."):
            owner = type_name
            field = next(f for f in self.messages[type_name].field if f.name == part)
            json_parts.append(field.json_name)
            type_name = field.type_name
        assert field is not None
        return field, ".".join(json_parts), owner

    def _parameter(self, where: str, name: str, owner: str, field: descriptor_pb2.FieldDescriptorProto,
                   required: bool) -> dict[str, Any]:
        parameter: dict[str, Any] = {"name": name, "in": where, "schema": self.field_schema(field, owner)}
        if required:
            parameter["required"] = True
        comment = self.comments.get(f"{owner}.{field.name}", "")
        if comment:
            parameter["description"] = comment
        return parameter

    def _query_parameters(self, type_name: str, bound: set[str], prefix: str = "", json_prefix: str = "",
                          depth: int = 0, required: bool = True) -> list[dict[str, Any]]:
        """Every request field the path and body leave, as a query parameter; nested messages as dotted names.
        A parameter is required when its field is REQUIRED, and so is every message around it."""
        parameters = []
        for field in self.messages[type_name].field:
            path, json_path = prefix + field.name, json_prefix + field.json_name
            if path in bound:
                continue
            field_required = required and is_required(field)
            nested = self.messages.get(field.type_name) if field.type == F.TYPE_MESSAGE else None
            if nested is not None and not nested.options.map_entry and field.type_name.lstrip(".") not in WELL_KNOWN:
                if depth < 2 and field.label != F.LABEL_REPEATED:
                    parameters += self._query_parameters(field.type_name, bound, f"{path}.", f"{json_path}.",
                                                         depth + 1, field_required)
                continue
            if nested is not None and nested.options.map_entry:
                continue  # maps cannot be query parameters
            parameter = self._parameter("query", json_path, type_name, field, field_required)
            if path != json_path:  # the transcoder takes the proto spelling too (Meta sends hub.verify_token)
                parameter["description"] = f"{parameter.get('description', '')} (also accepted as `{path}`)".strip()
            parameters.append(parameter)
        return parameters

    def operation(self, service: str, method: descriptor_pb2.MethodDescriptorProto, path: str,
                  rule: Any) -> tuple[str, dict[str, Any]]:
        full = f".{PACKAGE}.{service}.{method.name}"
        request = method.input_type
        bound: set[str] = set()
        parameters = []

        def path_variable(match: re.Match[str]) -> str:
            field, json_name, owner = self._field_by_path(request, match.group(1))
            bound.add(match.group(1))
            parameters.append(self._parameter("path", json_name, owner, field, required=True))
            return "{" + json_name + "}"

        openapi_path = re.sub(r"\{([^}=]+)(?:=[^}]*)?\}", path_variable, path)
        op: dict[str, Any] = {
            "operationId": f"{service}_{method.name}",
            "tags": [service],
            "summary": method.name,
        }
        if self.comments.get(full):
            op["description"] = self.comments[full]
        # The transcoder takes query parameters for every request field bound neither by the path nor by
        # the body: none with body "*".
        path_bound = frozenset(bound)
        if rule.body != "*":
            if rule.body:
                bound.add(rule.body)
            parameters += self._query_parameters(request, bound)
        if parameters:
            op["parameters"] = parameters
        if rule.body:
            if rule.body == "*":
                # The body holds the fields the path does not: the request message itself, or without those.
                body_type = request
                schema = self._message_schema(request, path_bound) if path_bound else self.ref(request)
            else:
                field, _, _ = self._field_by_path(request, rule.body)
                body_type, schema = field.type_name, self.field_schema(field)
            if body_type.lstrip(".") == HTTP_BODY:
                content = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
            else:
                content = {"application/json": {"schema": schema}}
            op["requestBody"] = {"required": True, "content": content}

        response_type = method.output_type
        if rule.response_body:
            field, _, _ = self._field_by_path(response_type, rule.response_body)
            data, response_type = self.field_schema(field), field.type_name
        else:
            data = self.ref(response_type)
        if method.server_streaming:
            ok = {"description": "A stream of newline-delimited JSON objects, one per message, not enveloped; "
                                 "it stays open while the caller reads.",
                  "content": {"application/x-ndjson": {"schema": data}}}
        elif response_type.lstrip(".") == HTTP_BODY:
            ok = {"description": "The raw body, with the content type the server sets (a file's own type).",
                  "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}
        else:
            ok = {"description": "Success, in the REST envelope.", "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["success", "data", "meta"],
                "properties": {"success": {"const": True}, "data": data,
                               "meta": {"$ref": "#/components/schemas/Meta"}},
            }}}}
        op["responses"] = {"200": ok, "4XX": {"$ref": "#/components/responses/Error"},
                           "5XX": {"$ref": "#/components/responses/Error"}}
        if required_scope(f"/{PACKAGE}.{service}/{method.name}") is None:
            op["security"] = []
        else:
            op["x-required-scope"] = required_scope(f"/{PACKAGE}.{service}/{method.name}")
        self._add_examples(f"{service}.{method.name}", op, unary=not method.server_streaming)
        return openapi_path, op

    def _add_examples(self, name: str, op: dict[str, Any], *, unary: bool) -> None:
        """The operation's examples from examples.yaml: request bodies, parameter values and answers."""
        examples = self.examples.get(name)
        if not examples:
            raise ExampleError(f"examples.yaml has no example of {name}")
        for example in examples:
            missing = [key for key in ("response", *(("body",) if "requestBody" in op else ())) if key not in example]
            if missing:
                raise ExampleError(f"an example of {name} lacks {', '.join(missing)}")

        def named(value_of: Any) -> dict[str, Any]:
            return {example.get("name", "default"): {**({"summary": example["summary"]} if "summary" in example
                                                          else {}), "value": value_of(example)}
                    for example in examples}

        for parameter in op.get("parameters", []):
            values = [example.get(parameter["in"], {}).get(parameter["name"]) for example in examples]
            if any(value is not None for value in values):
                parameter["example"] = next(value for value in values if value is not None)
        if "requestBody" in op:
            media = next(iter(op["requestBody"]["content"].values()))
            media["examples"] = named(lambda example: example["body"])
        ok = op["responses"]["200"]
        content_type, media = next(iter(ok["content"].items()))
        if unary and content_type == "application/json":
            media["examples"] = named(lambda example: {"success": True, "data": example["response"],
                                                       "meta": {"timestamp": EXAMPLE_TIMESTAMP}})
        else:
            media["examples"] = named(lambda example: example["response"])

    # ------------------------------------------------------------------------------------------ document

    def document(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        tags = []
        operations = set()
        for file in self.files:
            if file.package != PACKAGE:
                continue
            for service in file.service:
                description = self.comments.get(f".{PACKAGE}.{service.name}", "")
                tags.append({"name": service.name, **({"description": description} if description else {})})
                for method in service.method:
                    rule = method.options.Extensions[annotations_pb2.http]
                    for binding in [rule, *rule.additional_bindings]:
                        verb = binding.WhichOneof("pattern")
                        if verb is None:
                            continue
                        if verb == "custom":
                            verb, path = binding.custom.kind.lower(), binding.custom.path
                        else:
                            path = getattr(binding, verb)
                        openapi_path, op = self.operation(service.name, method, path, binding)
                        operations.add(f"{service.name}.{method.name}")
                        if binding is not rule:
                            op["operationId"] += f"_{len([p for p in paths.values() for _ in p])}"
                        paths.setdefault(openapi_path, {})[verb] = op
        unknown = sorted(set(self.examples) - operations)
        if unknown:
            raise ExampleError(f"examples.yaml has examples of no REST operation: {', '.join(unknown)}")
        reasons = [v.name for v in self.enums[f".{PACKAGE}.ErrorReason"].value if v.number != 0]
        self.ref(f".{PACKAGE}.ErrorReason")
        self.schemas["Meta"] = {"type": "object", "required": ["timestamp"],
                                "properties": {"timestamp": {"type": "string", "format": "date-time"}}}
        self.schemas["ErrorEnvelope"] = {
            "type": "object",
            "required": ["success", "error"],
            "properties": {
                "success": {"const": False},
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "enum": reasons,
                                 "description": "See wagw.v1.ErrorReason for the HTTP status of each code."},
                        "message": {"type": "string"},
                        "details": {"type": "object", "additionalProperties": {"type": "string"},
                                    "description": "E.g. `field` for VALIDATION_ERROR."},
                    },
                },
            },
        }
        # Services in the order a newcomer meets them: the order of examples.yaml's walkthrough.
        walk = [name.split(".")[0] for name in self.examples]
        tags.sort(key=lambda tag: walk.index(tag["name"]) if tag["name"] in walk else len(walk))
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "WA Gateway REST API",
                "version": "v1",
                "description": (
                    "Generated from proto/wagw/v1 by gateway/openapi.py (`make gen`). Every JSON reply is "
                    "enveloped: `{success: true, data, meta}` or `{success: false, error}`. Authenticate with an "
                    "API key (`X-API-Key`) or a JWT (`Authorization: Bearer`): **Authorize** above.\n\n"
                    "A resource's own id is `id`; a reference to another resource is `<resource>Id` "
                    "(`profileId`, `batchId` on a message). Batches and groups also carry their id as "
                    "`batchId`/`groupId`, the seed's spelling, kept as deprecated aliases.\n\n"
                    "In requests, an empty string, 0, false or an empty list is the same as leaving the field "
                    "out; enum values may be written in any letter case (`\"type\": \"text\"`). Replies carry "
                    "every field, with its empty value when it has none."),
            },
            "servers": [{"url": "/"}],
            "security": [{"ApiKey": []}, {"BearerAuth": []}],
            "tags": tags,
            "paths": dict(sorted(paths.items())),
            "components": {
                "securitySchemes": {
                    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                    "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                },
                "responses": {"Error": {"description": "An error, in the REST error envelope.",
                                        "content": {"application/json": {
                                            "schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}}},
                "schemas": dict(sorted(self.schemas.items())),
            },
        }


def generate(descriptor_set: Path, out_dir: Path) -> None:
    file_set = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    generator = Generator(file_set, load_examples())
    missing = generator.undocumented()
    if missing:
        raise UndocumentedError(f"comment these in proto/{PACKAGE.replace('.', '/')}: {', '.join(missing)}")
    document = generator.document()
    (out_dir / "openapi.json").write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    generate(Path(sys.argv[1]), Path(sys.argv[2]))

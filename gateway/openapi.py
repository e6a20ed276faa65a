"""The OpenAPI 3.1 document and the HTML docs page of the REST API, generated from the protos.

    python -m gateway.openapi DESCRIPTOR_SET OUT_DIR    (run by `make gen`)

DESCRIPTOR_SET is a FileDescriptorSet built with --include_imports and --include_source_info (the comments
become descriptions). Writes OUT_DIR/openapi.json and OUT_DIR/docs.html, which Envoy serves at
/api/openapi.json and /docs. Every google.api.http rule of the wagw.v1 services is one operation: path
variables from `{field}`, the request body from `body`, query parameters from the remaining request fields,
and the response in the REST envelope of DESIGN.md §2. The output depends on the descriptors alone, so
regenerating unchanged protos changes no byte.
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path
from typing import Any

from google.api import annotations_pb2, httpbody_pb2  # noqa: F401  (registers the google.api.http extension)
from google.protobuf import descriptor_pb2

from server.api.auth import required_scope

PACKAGE = "wagw.v1"
F = descriptor_pb2.FieldDescriptorProto

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

# Source-info paths: FileDescriptorProto fields 4 (message_type), 5 (enum_type), 6 (service); inside a
# message 2 (field), 3 (nested_type), 4 (enum_type); inside an enum 2 (value); inside a service 2 (method).


def _clean(comment: str) -> str:
    lines = [line[1:] if line.startswith(" ") else line for line in comment.strip("\n").split("\n")]
    return "\n".join(lines).strip()


class Generator:
    def __init__(self, file_set: descriptor_pb2.FileDescriptorSet):
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        self.comments: dict[str, str] = {}  # full name (message, field, enum, value, service, method) -> text
        self.files = list(file_set.file)
        for file in self.files:
            self._index(file)
        self.schemas: dict[str, Any] = {}

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

    def _enum_schema(self, type_name: str) -> dict[str, Any]:
        values = [v.name for v in self.enums[type_name].value]
        lines = [self.comments.get(type_name, "")]
        for value in values:
            comment = self.comments.get(f"{type_name}.{value}")
            if comment:
                lines.append(f"- `{value}`: {' '.join(comment.split())}")
        schema: dict[str, Any] = {"type": "string", "enum": values}
        description = "\n".join(line for line in lines if line)
        if description:
            schema["description"] = description
        return schema

    def field_schema(self, field: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
        if field.type in (F.TYPE_MESSAGE, F.TYPE_GROUP):
            entry = self.messages.get(field.type_name)
            if entry is not None and entry.options.map_entry:
                value = next(f for f in entry.field if f.name == "value")
                return {"type": "object", "additionalProperties": self.field_schema(value)}
            item = self.ref(field.type_name)
        elif field.type == F.TYPE_ENUM:
            item = self.ref(field.type_name)
        else:
            item = dict(SCALARS[field.type])
        if field.label == F.LABEL_REPEATED:
            return {"type": "array", "items": item}
        return item

    def _message_schema(self, type_name: str) -> dict[str, Any]:
        message = self.messages[type_name]
        properties: dict[str, Any] = {}
        for field in message.field:
            schema = self.field_schema(field)
            comment = self.comments.get(f"{type_name}.{field.name}")
            if comment:
                schema = {**schema, "description": comment} if "$ref" not in schema else {
                    "allOf": [schema], "description": comment}
            properties[field.json_name] = schema
        result: dict[str, Any] = {"type": "object", "properties": properties}
        if self.comments.get(type_name):
            result["description"] = self.comments[type_name]
        return result

    # ---------------------------------------------------------------------------------------- operations

    def _field_by_path(self, type_name: str, path: str) -> tuple[descriptor_pb2.FieldDescriptorProto, str, str]:
        """The field at a dotted proto path, its dotted JSON name and its comment."""
        field, json_parts, owner = None, [], type_name
        for part in path.split("."):
            owner = type_name
            field = next(f for f in self.messages[type_name].field if f.name == part)
            json_parts.append(field.json_name)
            type_name = field.type_name
        assert field is not None
        return field, ".".join(json_parts), self.comments.get(f"{owner}.{field.name}", "")

    def _query_parameters(self, type_name: str, bound: set[str], prefix: str = "", json_prefix: str = "",
                          depth: int = 0) -> list[dict[str, Any]]:
        parameters = []
        for field in self.messages[type_name].field:
            path, json_path = prefix + field.name, json_prefix + field.json_name
            if path in bound:
                continue
            nested = self.messages.get(field.type_name) if field.type == F.TYPE_MESSAGE else None
            if nested is not None and not nested.options.map_entry and field.type_name.lstrip(".") not in WELL_KNOWN:
                if depth < 2 and field.label != F.LABEL_REPEATED:
                    parameters += self._query_parameters(field.type_name, bound, f"{path}.", f"{json_path}.",
                                                         depth + 1)
                continue
            if nested is not None and nested.options.map_entry:
                continue  # maps cannot be query parameters
            parameter: dict[str, Any] = {"name": json_path, "in": "query", "schema": self.field_schema(field)}
            comment = self.comments.get(f"{type_name}.{field.name}", "")
            if path != json_path:  # the transcoder takes the proto spelling too (Meta sends hub.verify_token)
                comment = f"{comment} (also accepted as `{path}`)".strip()
            if comment:
                parameter["description"] = comment
            parameters.append(parameter)
        return parameters

    def operation(self, service: str, method: descriptor_pb2.MethodDescriptorProto, verb: str, path: str,
                  rule: Any) -> tuple[str, dict[str, Any]]:
        full = f".{PACKAGE}.{service}.{method.name}"
        request = method.input_type
        bound: set[str] = set()
        parameters = []

        def path_variable(match: re.Match[str]) -> str:
            field, json_name, comment = self._field_by_path(request, match.group(1))
            bound.add(match.group(1))
            parameter = {"name": json_name, "in": "path", "required": True, "schema": self.field_schema(field)}
            if comment:
                parameter["description"] = comment
            parameters.append(parameter)
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
        if rule.body != "*":
            if rule.body:
                bound.add(rule.body)
            parameters += self._query_parameters(request, bound)
        if parameters:
            op["parameters"] = parameters
        if rule.body:
            if rule.body == "*":
                body_type, schema = request, self.ref(request)
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
            ok = {"description": "The raw body, with the content type the server sets.",
                  "content": {"*/*": {"schema": {"type": "string"}}}}
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
        return openapi_path, op

    # ------------------------------------------------------------------------------------------ document

    def document(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        tags = []
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
                        openapi_path, op = self.operation(service.name, method, verb, path, binding)
                        if binding is not rule:
                            op["operationId"] += f"_{len([p for p in paths.values() for _ in p])}"
                        paths.setdefault(openapi_path, {})[verb] = op
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
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "WA Gateway REST API",
                "version": "v1",
                "description": "Generated from proto/wagw/v1 by gateway/openapi.py (`make gen`). Every JSON "
                               "reply is enveloped: `{success: true, data, meta}` or `{success: false, error}`. "
                               "Authenticate with an API key (`X-API-Key`) or a JWT (`Authorization: Bearer`).",
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


# ------------------------------------------------------------------------------------------------ HTML

CSS = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2330;background:#fafbfc}
nav{position:fixed;top:0;bottom:0;left:0;width:260px;overflow:auto;background:#1d2330;color:#ddd;padding:1em}
nav a{color:#cfe0ff;text-decoration:none;display:block;font-size:13px}nav h3{margin:1em 0 .2em;color:#fff}
main{margin-left:300px;padding:1em 2em;max-width:1000px}
.op{background:#fff;border:1px solid #dde;border-radius:6px;padding:.6em 1em;margin:1em 0}
.verb{display:inline-block;min-width:4.5em;font-weight:bold;text-transform:uppercase}
.get{color:#0a7d32}.post{color:#1456c2}.patch,.put{color:#9a5b00}.delete{color:#b3261e}
code{background:#eef1f5;padding:0 .25em;border-radius:3px}pre{white-space:pre-wrap;margin:.3em 0}
table{border-collapse:collapse;width:100%;font-size:14px}td,th{border:1px solid #dde;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f0f2f6}
"""


def _type_html(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{html.escape(name)}">{html.escape(name)}</a>'
    if "allOf" in schema:
        return _type_html(schema["allOf"][0])
    if schema.get("type") == "array":
        return f"array of {_type_html(schema.get('items', {}))}"
    if schema.get("type") == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {_type_html(schema['additionalProperties'])}"
    text = schema.get("type", "any")
    if "format" in schema:
        text += f" ({schema['format']})"
    if "enum" in schema:
        text += ": " + " | ".join(schema["enum"])
    if "const" in schema:
        text = json.dumps(schema["const"])
    return html.escape(str(text))


def _text(description: str | None) -> str:
    return f"<pre>{html.escape(description)}</pre>" if description else ""


def render_html(document: dict[str, Any]) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(document['info']['title'])}</title>", f"<style>{CSS}</style></head><body>"]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {t["name"]: [] for t in document["tags"]}
    for path, operations in document["paths"].items():
        for verb, op in operations.items():
            by_tag[op["tags"][0]].append((path, verb, op))
    out.append("<nav><b>WA Gateway API</b>")
    out.append('<a href="/api/openapi.json">openapi.json</a>')
    for tag, ops in by_tag.items():
        out.append(f'<h3><a href="#tag-{tag}">{tag}</a></h3>')
        for path, verb, op in ops:
            out.append(f'<a href="#{op["operationId"]}">{verb.upper()} {html.escape(path)}</a>')
    out.append('<h3><a href="#schemas">Schemas</a></h3></nav><main>')
    out.append(f"<h1>{html.escape(document['info']['title'])}</h1>{_text(document['info']['description'])}")
    out.append("<p>The machine-readable document: <a href=\"/api/openapi.json\"><code>/api/openapi.json"
               "</code></a> (OpenAPI 3.1).</p>")
    tag_descriptions = {t["name"]: t.get("description") for t in document["tags"]}
    for tag, ops in by_tag.items():
        out.append(f'<h2 id="tag-{tag}">{tag}</h2>{_text(tag_descriptions.get(tag))}')
        for path, verb, op in ops:
            out.append(f'<div class="op" id="{op["operationId"]}"><h3><span class="verb {verb}">{verb}</span>'
                       f"<code>{html.escape(path)}</code></h3>")
            out.append(f"<p>RPC <code>{tag}/{op['summary']}</code>"
                       + (f"; scope <code>{html.escape(op['x-required-scope'])}</code>"
                          if "x-required-scope" in op else "; no API key or JWT (checked by the handler)")
                       + "</p>")
            out.append(_text(op.get("description")))
            if op.get("parameters"):
                out.append("<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Description</th></tr>")
                for p in op["parameters"]:
                    out.append(f"<tr><td><code>{html.escape(p['name'])}</code></td><td>{p['in']}</td>"
                               f"<td>{_type_html(p['schema'])}</td><td>{_text(p.get('description'))}</td></tr>")
                out.append("</table>")
            if "requestBody" in op:
                content_type, body = next(iter(op["requestBody"]["content"].items()))
                out.append(f"<p>Request body ({html.escape(content_type)}): {_type_html(body['schema'])}</p>")
            ok = op["responses"]["200"]
            content_type, media = next(iter(ok["content"].items()))
            schema = media["schema"]
            data = schema.get("properties", {}).get("data", schema)
            out.append(f"<p>Response 200 ({html.escape(content_type)}): {_type_html(data)}"
                       + (" in the success envelope" if "properties" in schema and "data" in schema.get(
                           "properties", {}) else "") + "</p></div>")
    out.append('<h2 id="schemas">Schemas</h2>')
    for name, schema in document["components"]["schemas"].items():
        out.append(f'<div class="op" id="schema-{html.escape(name)}"><h3><code>{html.escape(name)}</code></h3>')
        out.append(_text(schema.get("description")))
        if "properties" in schema:
            out.append("<table><tr><th>Field</th><th>Type</th><th>Description</th></tr>")
            for field, field_schema in schema["properties"].items():
                out.append(f"<tr><td><code>{html.escape(field)}</code></td><td>{_type_html(field_schema)}</td>"
                           f"<td>{_text(field_schema.get('description'))}</td></tr>")
            out.append("</table>")
        elif "enum" in schema:
            out.append(f"<p>{_type_html({k: v for k, v in schema.items() if k != 'description'})}</p>")
        out.append("</div>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"


def generate(descriptor_set: Path, out_dir: Path) -> None:
    file_set = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    document = Generator(file_set).document()
    (out_dir / "openapi.json").write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    (out_dir / "docs.html").write_text(render_html(document))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    generate(Path(sys.argv[1]), Path(sys.argv[2]))

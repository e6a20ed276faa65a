"""Running the API's examples (proto/wagw/v1/examples.yaml) against a stack, as a reader of /docs would.

The examples are written for people: literal ids such as `msg_01kb…` or `120363025246125486@g.us`, the seed's
`profile-123`. The runner sends each one as written, except that it swaps the example values it has learned a
real value for: given ones up front (a profile id unique to the test), and the ids the stack answers with,
learned by reading each real answer beside the example's answer (`id` and `…Id` fields), so that GetMessage's
example id becomes the id SendText really made.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from gateway.openapi import load_examples
from server.core.config import ROOT

OPENAPI_PATH = ROOT / "gen" / "openapi.json"


def load_document() -> dict[str, Any]:
    return json.loads(OPENAPI_PATH.read_text())


@dataclass(frozen=True)
class Operation:
    name: str  # `<Service>.<Method>`
    verb: str
    path: str  # the OpenAPI path, `{name}` for each variable
    spec: dict[str, Any]

    @property
    def streaming(self) -> bool:
        return "application/x-ndjson" in self.spec["responses"]["200"]["content"]

    def response_schema(self) -> dict[str, Any]:
        """The schema of the 200 answer's body (the envelope, for unary JSON operations)."""
        return next(iter(self.spec["responses"]["200"]["content"].values()))["schema"]

    def body_schema(self) -> dict[str, Any] | None:
        if "requestBody" not in self.spec:
            return None
        return next(iter(self.spec["requestBody"]["content"].values()))["schema"]


def operations(document: dict[str, Any]) -> dict[str, Operation]:
    """Every operation of the document by `<Service>.<Method>` (from its operationId)."""
    found = {}
    for path, verbs in document["paths"].items():
        for verb, spec in verbs.items():
            service, method = spec["operationId"].split("_")[:2]
            found[f"{service}.{method}"] = Operation(f"{service}.{method}", verb, path, spec)
    return found


def walkthrough() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every example in the file's order: (operation name, example)."""
    for name, examples in load_examples().items():
        for example in examples:
            yield name, example


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator of `schema`, whose `#/components/...` references resolve in `document`."""
    registry = Registry().with_resource("urn:openapi", DRAFT202012.create_resource(document))
    return Draft202012Validator(_rebase(schema), registry=registry)


def _rebase(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: (f"urn:openapi{value}" if key == "$ref" else _rebase(value)) for key, value in node.items()}
    if isinstance(node, list):
        return [_rebase(item) for item in node]
    return node


_ID_KEY = re.compile(r"^(id|[a-z][A-Za-z]*Id)$")


class ExampleRunner:
    """Sends examples through a REST client (base URL `…/api` stripped: paths in the document start with /api)."""

    def __init__(self, client: httpx.Client, document: dict[str, Any], substitutions: dict[str, str]):
        self.client = client
        self.operations = operations(document)
        self.substitutions = dict(substitutions)

    def swap(self, value: Any) -> Any:
        """The value with every example value the runner knows a real one for replaced, deep."""
        if isinstance(value, str):
            return self.substitutions.get(value, value)
        if isinstance(value, dict):
            return {key: self.swap(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.swap(item) for item in value]
        return value

    def learn(self, example: Any, real: Any) -> None:
        """Map the ids of an example answer to those of the real answer to the same request."""
        if isinstance(example, dict) and isinstance(real, dict):
            for key, value in example.items():
                if key not in real:
                    continue
                if (_ID_KEY.match(key) and isinstance(value, str) and isinstance(real[key], str)
                        and value != real[key] and not value.isdigit()):  # not event ids: "32" may be anything
                    self.substitutions.setdefault(value, real[key])
                else:
                    self.learn(value, real[key])
        elif isinstance(example, list) and isinstance(real, list):
            for example_item, real_item in zip(example, real, strict=False):
                self.learn(example_item, real_item)

    def request(self, name: str, example: dict[str, Any], body: Any = None) -> httpx.Request:
        """The HTTP request of an example (with `body` instead of the example's, when given)."""
        operation = self.operations[name]
        path_values = self.swap(example.get("path", {}))
        path = re.sub(r"\{([^}]+)\}", lambda match: str(path_values[match.group(1)]), operation.path)
        headers = {key: str(value) for key, value in self.swap(example.get("headers", {})).items()}
        content = None
        payload = self.swap(example["body"]) if body is None and "body" in example else body
        if payload is not None:
            # Compact, in the file's key order: the Cloud API example's signature is over exactly these bytes.
            content = json.dumps(payload, separators=(",", ":")).encode()
            headers.setdefault("Content-Type", "application/json")
        query = {key: value if isinstance(value, list) else str(value)
                 for key, value in self.swap(example.get("query", {})).items()}
        url = str(self.client.base_url.copy_with(path=path, query=None))
        return self.client.build_request(operation.verb.upper(), url, params=query, headers=headers, content=content)

    def send(self, name: str, example: dict[str, Any], body: Any = None) -> tuple[httpx.Response, Any]:
        """Send the example; (the response, its `data` or first streamed object or text). A streaming answer
        is read up to its first object only: a watch stays open."""
        request = self.request(name, example, body)
        if self.operations[name].streaming:
            response = self.client.send(request, stream=True)
            try:
                if response.status_code != 200:
                    response.read()
                    return response, response.json()
                first = next(response.iter_lines())
                return response, json.loads(first)
            finally:
                response.close()
        response = self.client.send(request)
        if not response.headers.get("content-type", "").startswith("application/json"):
            return response, response.text
        body_json = response.json()
        return response, body_json.get("data") if isinstance(body_json, dict) else body_json

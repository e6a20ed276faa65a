"""What the contract tests and the REST tests share: the seed's routes and bulk example, and the routes the protos
annotate (google.api.http in the descriptor set Envoy reads)."""

from __future__ import annotations

import functools
import re

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from server.core.config import ROOT

GEN = ROOT / "gen"

DESCRIPTOR_SET = GEN / "descriptor.binpb"

# The 37 routes of seed/api-specification.txt, under its base URL /api.
SEED_ROUTES = [
    "POST /api/messages/text",
    "POST /api/messages/image",
    "POST /api/messages/video",
    "POST /api/messages/document",
    "POST /api/messages/location",
    "POST /api/messages/contact",
    "POST /api/messages/poll",
    "POST /api/bulk/send",
    "GET /api/bulk/batches",
    "GET /api/bulk/batch/:batchId",
    "POST /api/bulk/batch/:batchId/cancel",
    "GET /api/groups/profile/:profileId",
    "GET /api/groups/:groupId",
    "POST /api/groups",
    "PATCH /api/groups/:groupId",
    "POST /api/groups/:groupId/participants/add",
    "POST /api/groups/:groupId/participants/remove",
    "POST /api/groups/:groupId/participants/promote",
    "POST /api/groups/:groupId/participants/demote",
    "POST /api/groups/:groupId/leave",
    "GET /api/groups/:groupId/invite-link",
    "GET /api/profiles",
    "POST /api/profiles",
    "GET /api/profiles/:id",
    "DELETE /api/profiles/:id",
    "POST /api/profiles/:id/connect",
    "GET /api/profiles/:id/qr",
    "POST /api/profiles/:id/disconnect",
    "GET /api/contacts",
    "POST /api/contacts",
    "GET /api/contacts/:id",
    "PATCH /api/contacts/:id",
    "DELETE /api/contacts/:id",
    "POST /api/contacts/:id/tags",
    "GET /api/webhooks",
    "POST /api/webhooks",
    "DELETE /api/webhooks/:id",
]

# The seed's "Send Bulk with Variables" example body, verbatim.
SEED_BULK_BODY = """{
"profileId": "profile-123",
"messages": [
{
"chatId": "628123456789@c.us",
"type": "text",
"content": { "text": "Hello {name}!" },
"variables": { "name": "John" }
},
{
"chatId": "628987654321@c.us",
"type": "text",
"content": { "text": "Hello {name}!" },
"variables": { "name": "Jane" }
}
],
"options": {
"delayBetweenMessages": 5000,
"randomizeDelay": true
}
}"""

# A path variable: `{field}` or `{field=pattern}` in a proto template, `:param` in the seed.
PATH_VARIABLE = re.compile(r"\{([^}=]+)(?:=[^}]*)?\}|:([A-Za-z_]\w*)")

def path_shape(path: str) -> str:
    """The path with every variable replaced by one placeholder, so `/a/:id` and `/a/{id}` compare equal."""
    return PATH_VARIABLE.sub("{}", path)

def path_variables(path: str) -> list[str]:
    return [braced or colon for braced, colon in PATH_VARIABLE.findall(path)]

def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()

@functools.cache
def annotated_routes() -> dict[tuple[str, str], tuple[str, str]]:
    """(HTTP method, path shape) -> (RPC full name, proto path) for every google.api.http binding."""
    file_set = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    routes = {}
    for file in file_set.file:
        for service in file.service:
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                for binding in [rule, *rule.additional_bindings]:
                    verb = binding.WhichOneof("pattern")
                    if verb is None:
                        continue
                    if verb == "custom":
                        verb, path = binding.custom.kind, binding.custom.path
                    else:
                        path = getattr(binding, verb)
                    rpc = f"{file.package}.{service.name}/{method.name}"
                    routes[(verb.upper(), path_shape(path))] = (rpc, path)
    return routes

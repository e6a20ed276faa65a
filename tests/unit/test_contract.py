"""The API contract: gen/ matches proto/, every seed route is annotated, the seed's bulk example parses.

`buf lint` and `buf breaking` are not repeated here: `make test` runs `make lint` before pytest.
"""

import subprocess
from pathlib import Path

import pytest
from google.api import annotations_pb2
from google.protobuf import json_format
from google.rpc import status_pb2

from server.core.config import ROOT
from tests.support.contract import (
    GEN,
    SEED_BULK_BODY,
    SEED_ROUTES,
    annotated_routes,
    path_shape,
    path_variables,
    snake_case,
)
from wagw.v1 import bulk_pb2, messages_pb2


def generated_files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_gen_is_fresh(tmp_path):
    """gen/ is exactly what `make gen` makes from proto/ (the Makefile holds the one protoc command)."""
    subprocess.run(
        ["make", "--no-print-directory", "-s", "gen", f"GEN_OUT={tmp_path}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    fresh, committed = generated_files(tmp_path), generated_files(GEN)
    missing, extra = sorted(fresh.keys() - committed.keys()), sorted(committed.keys() - fresh.keys())
    assert not missing and not extra, f"run `make gen`: gen/ lacks {missing} and has extra {extra}"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"gen/ is stale, run `make gen`: {stale}"


@pytest.mark.parametrize(
    ("vendored", "installed_module"),
    [
        ("google/api/annotations.proto", annotations_pb2),
        ("google/api/http.proto", annotations_pb2),
        ("google/api/field_behavior.proto", annotations_pb2),
        ("google/api/httpbody.proto", annotations_pb2),
        ("google/rpc/status.proto", status_pb2),
        ("google/rpc/error_details.proto", status_pb2),
    ],
)
def test_vendored_googleapis_match_the_wheel(vendored, installed_module):
    """third_party/googleapis (what buf and protoc read) is the wheel's own copy, so the descriptor set
    Envoy reads and the google.api modules the stubs import at run time describe the same files."""
    installed = Path(installed_module.__file__).parent / Path(vendored).name
    assert (ROOT / "third_party/googleapis" / vendored).read_bytes() == installed.read_bytes()


def test_seed_has_37_routes():
    assert len(SEED_ROUTES) == 37
    assert len(set(SEED_ROUTES)) == 37


@pytest.mark.parametrize("route", SEED_ROUTES)
def test_seed_route_is_annotated(route):
    verb, seed_path = route.split(" ")
    routes = annotated_routes()
    assert (verb, path_shape(seed_path)) in routes, f"no RPC has `{route}` in its google.api.http option"
    rpc, proto_path = routes[(verb, path_shape(seed_path))]
    # The seed's `:batchId` is the request field `batch_id`, which JSON spells `batchId`.
    assert path_variables(proto_path) == [snake_case(p) for p in path_variables(seed_path)], rpc


def test_seed_bulk_example_parses():
    # json_format matches enum names case-sensitively; Envoy's transcoder runs with
    # case_insensitive_enum_parsing, which is how the verbatim `"type": "text"` is accepted in production
    # (tested through Envoy elsewhere). Here the value is upper-cased to the enum's own spelling.
    assert SEED_BULK_BODY.count('"type": "text"') == 2
    body = SEED_BULK_BODY.replace('"type": "text"', '"type": "TEXT"')

    request = json_format.Parse(body, bulk_pb2.SendBulkRequest())

    assert request.profile_id == "profile-123"
    assert [m.chat_id for m in request.messages] == ["628123456789@c.us", "628987654321@c.us"]
    assert [m.type for m in request.messages] == [messages_pb2.TEXT, messages_pb2.TEXT]
    assert [m.content.text for m in request.messages] == ["Hello {name}!", "Hello {name}!"]
    assert [dict(m.variables) for m in request.messages] == [{"name": "John"}, {"name": "Jane"}]
    assert request.options.delay_between_messages == 5000
    assert request.options.randomize_delay is True

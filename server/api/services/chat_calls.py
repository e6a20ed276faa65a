"""How the API's services ask a profile's engine host for a conversation operation (EngineHostService.ChatCall:
reactions, edits, revokes, reads, presence, pictures, blocks; server/engine_host/conversations.py) and for a
message's media (DownloadMedia)."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, struct_pb2

from server.core.models import Profile
from server.engine_host import client as engine_client
from wagw.engine.v1 import engine_host_pb2


def chat_call(profile: Profile, operation: str, **arguments: Any) -> dict[str, Any]:
    """Run the operation on the profile's engine host; its answer as JSON (engine_host.proto ChatCallResponse)."""
    struct = struct_pb2.Struct()
    json_format.ParseDict(arguments, struct)
    request = engine_host_pb2.ChatCallRequest(profile_id=profile.id, operation=operation, arguments=struct)
    return json_format.MessageToDict(engine_client.call(profile, lambda stub: stub.ChatCall, request).result)


def download_media(profile: Profile, message_id: str) -> engine_host_pb2.DownloadMediaResponse:
    return engine_client.call(profile, lambda stub: stub.DownloadMedia,
                              engine_host_pb2.DownloadMediaRequest(message_id=message_id))

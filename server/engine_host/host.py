"""The engine host: a process of its own that holds live WhatsApp sessions, so that a crash or a hang in an
engine (whatsmeow is Go code in-process) never takes the API server down. The API server and the workers
call it over the internal EngineHostService; it writes statuses and events to the database itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
from typing import Any

import grpc
from google.protobuf import json_format

from server.core import broker, runtime, urls
from server.core.config import Settings, load
from server.core.errors import invalid
from server.core.logs import fields
from server.core.rpc import Interceptor
from server.engine_host.sessions import SessionManager
from wagw.engine.v1 import engine_host_pb2, engine_host_pb2_grpc

log = logging.getLogger("wagw.engine_host")


class EngineHostServicer(engine_host_pb2_grpc.EngineHostServiceServicer):
    def __init__(self, sessions: SessionManager):
        self.sessions = sessions

    def Connect(self, request: engine_host_pb2.ConnectRequest, context: grpc.ServicerContext
                ) -> engine_host_pb2.ConnectResponse:
        return engine_host_pb2.ConnectResponse(
            pairing_code=self.sessions.connect(request.profile_id, request.phone_number))

    def Disconnect(self, request: engine_host_pb2.DisconnectRequest, context: grpc.ServicerContext
                   ) -> engine_host_pb2.DisconnectResponse:
        self.sessions.disconnect(request.profile_id)
        return engine_host_pb2.DisconnectResponse()

    def Logout(self, request: engine_host_pb2.LogoutRequest, context: grpc.ServicerContext
               ) -> engine_host_pb2.LogoutResponse:
        self.sessions.logout(request.profile_id)
        return engine_host_pb2.LogoutResponse()

    def Forget(self, request: engine_host_pb2.ForgetRequest, context: grpc.ServicerContext
               ) -> engine_host_pb2.ForgetResponse:
        self.sessions.forget(request.profile_id)
        return engine_host_pb2.ForgetResponse()

    def Send(self, request: engine_host_pb2.SendRequest, context: grpc.ServicerContext
             ) -> engine_host_pb2.SendResponse:
        return engine_host_pb2.SendResponse(wa_message_id=self.sessions.send(request.message_id, request.profile_id))

    def DeliverWebhook(self, request: engine_host_pb2.DeliverWebhookRequest, context: grpc.ServicerContext
                       ) -> engine_host_pb2.DeliverWebhookResponse:
        try:
            payload = json.loads(request.payload)
        except ValueError:
            raise invalid("payload", "is not JSON") from None
        if not isinstance(payload, dict):
            raise invalid("payload", "must be a JSON object")
        return engine_host_pb2.DeliverWebhookResponse(
            events=self.sessions.deliver_webhook(request.profile_id, payload))

    def GroupCall(self, request: engine_host_pb2.GroupCallRequest, context: grpc.ServicerContext
                  ) -> engine_host_pb2.GroupCallResponse:
        """One group operation of the profile's live engine, by its GROUP_OPERATIONS name (engine_host.proto)."""
        from server.core.engine_specs import GROUP_OPERATIONS

        operation = request.operation
        if operation not in GROUP_OPERATIONS:
            raise invalid("operation", f"'{operation}' is not one of " + ", ".join(GROUP_OPERATIONS))
        engine = self.sessions.engine(request.profile_id)
        engine.require(operation)
        arguments = json_format.MessageToDict(request.arguments)

        def argument(name: str) -> Any:
            if name not in arguments:
                raise invalid(f"arguments.{name}", f"is required for {operation}")
            return arguments[name]

        result: dict[str, Any]
        if operation == "list_groups":
            result = {"groups": engine.list_groups()}
        elif operation == "get_group":
            result = {"group": engine.get_group(argument("group_id"))}
        elif operation == "create_group":
            info, results = engine.create_group(argument("name"), list(argument("participants")))
            result = {"group": info, "results": results}
        elif operation == "update_group":
            changes = {key: arguments[key] for key in ("name", "description", "announce", "locked") if key in arguments}
            result = {"group": engine.update_group(argument("group_id"), **changes)}
        elif operation == "leave_group":
            engine.leave_group(argument("group_id"))
            result = {}
        elif operation in ("invite_link", "revoke_invite_link"):
            result = {"code": engine.invite_link(argument("group_id"), revoke=operation == "revoke_invite_link")}
        else:  # add_participants, remove_participants, promote_participants, demote_participants
            action = operation.removesuffix("_participants")
            result = {"results": engine.update_participants(argument("group_id"), action,
                                                            list(argument("participants")))}
        reply = engine_host_pb2.GroupCallResponse()
        json_format.ParseDict(_jsonable(result), reply.result)
        return reply

    def ChatCall(self, request: engine_host_pb2.ChatCallRequest, context: grpc.ServicerContext
                 ) -> engine_host_pb2.ChatCallResponse:
        """One conversation operation of the profile's live engine (server/engine_host/conversations.py)."""
        result = self.sessions.conversations.call(request.profile_id, request.operation,
                                                  json_format.MessageToDict(request.arguments))
        reply = engine_host_pb2.ChatCallResponse()
        json_format.ParseDict(_jsonable(result), reply.result)
        return reply

    def DownloadMedia(self, request: engine_host_pb2.DownloadMediaRequest, context: grpc.ServicerContext
                      ) -> engine_host_pb2.DownloadMediaResponse:
        media = self.sessions.conversations.download(request.message_id)
        return engine_host_pb2.DownloadMediaResponse(data=media.data, mimetype=media.mimetype,
                                                     filename=media.filename)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value


def build_server(settings: Settings, sessions: SessionManager, address: str) -> tuple[grpc.Server, int]:
    server = runtime.new_server(settings, Interceptor(settings), thread_name="engine-rpc")
    engine_host_pb2_grpc.add_EngineHostServiceServicer_to_server(EngineHostServicer(sessions), server)
    return server, runtime.listen(server, address)


def serve(settings: Settings) -> None:
    runtime.prepare(settings)
    broker.configure(settings)
    address = f"{settings.engine_host}:{settings.engine_port}"
    sessions = SessionManager(settings.engine_host_id or settings.engine_target, settings.engine_target,
                              settings.database_url,
                              url_guard=urls.Guard.from_settings(settings))
    server, _ = build_server(settings, sessions, address)
    server.start()
    sessions.start()
    log.info("engine host listening", extra=fields(address=address, host_id=sessions.host_id))
    runtime.wait_for_signal()
    server.stop(grace=5).wait()
    sessions.stop()
    # Leave at once: an abandoned whatsmeow login keeps a non-daemon Go thread waiting forever.
    logging.shutdown()
    os._exit(0)


def main() -> None:
    serve(load())

"""The simulator service: the one SimulatedNetwork, served over gRPC (proto/wagw/simulator/v1/simulator.proto).

DeviceService is for the `simulator` engines of the engine hosts. Each engine host opens one event stream (a
Connection); each of its engines is an Attachment of that connection. The network hands an attachment's events
to its connection's queue, and the stream sends them in order: the network never waits for an engine host, and
an engine host demultiplexes its stream by device, so one slow consumer delays nobody else's events. When a
stream ends (its engine host died or stopped), its attachments are released: their profiles' durable events
wait for the next attachment.

PhoneService is the remote control of tests and demos: the simulated phones and the faults.

Both check the gateway's internal token (WAGW_INTERNAL_TOKEN), like the engine host.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from server.core import logs, runtime
from server.core.config import Settings, load
from server.core.convert import to_timestamp
from server.core.errors import ApiError, invalid
from server.core.logs import fields
from server.core.rpc import Interceptor
from server.simulator import events
from server.simulator.clock import RealClock
from server.simulator.content import Media
from server.simulator.errors import Refusal
from server.simulator.events import Event
from server.simulator.groups import GroupInfo, ParticipantResult
from server.simulator.network import AutoPair, OutgoingMessage, SimulatedNetwork
from server.simulator.store import open_state
from server.simulator.templates import approved
from wagw.simulator.v1 import simulator_pb2 as pb
from wagw.simulator.v1 import simulator_pb2_grpc

log = logging.getLogger("wagw.simulator")


class Connection:
    """One engine host's event stream: the events of every device attached through it, in the network's order."""

    def __init__(self) -> None:
        self.id = uuid.uuid4().hex
        self.attachments: dict[str, Attachment] = {}
        self.closed = False
        self._queue: queue.SimpleQueue[tuple[Attachment, Event] | None] = queue.SimpleQueue()

    def put(self, attachment: Attachment, event: Event) -> None:
        if not self.closed:
            self._queue.put((attachment, event))

    def next(self) -> tuple[Attachment, Event] | None:
        """The next event, waiting for it; None once the connection is closed."""
        item = self._queue.get()
        return None if self.closed else item

    def close(self) -> None:
        self.closed = True
        self._queue.put(None)


@dataclass(eq=False)
class Attachment:
    """One engine of an engine host: a Device of the network."""

    connection: Connection
    attachment_id: str
    profile_id: str

    def deliver(self, event: Event) -> None:
        self.connection.put(self, event)


class DeviceServicer(simulator_pb2_grpc.DeviceServiceServicer):
    def __init__(self, network: SimulatedNetwork):
        self.network = network
        self._connections: dict[str, Connection] = {}
        self._lock = threading.Lock()

    def StreamEvents(self, request: pb.StreamEventsRequest, context: grpc.ServicerContext) -> Iterator[pb.DeviceEvent]:
        connection = Connection()
        with self._lock:
            self._connections[connection.id] = connection
        context.add_callback(lambda: self._close(connection))  # wakes the loop below when the stream ends
        log.info("engine host connected", extra=fields(connection_id=connection.id))
        yield pb.DeviceEvent(opened=pb.Opened(connection_id=connection.id))
        while (item := connection.next()) is not None:
            attachment, event = item
            yield device_event(attachment, event)

    def Acknowledge(self, request: pb.AcknowledgeRequest, context: grpc.ServicerContext) -> pb.AcknowledgeResponse:
        self.network.acknowledge(list(request.seqs))
        return pb.AcknowledgeResponse()

    def Connect(self, request: pb.ConnectRequest, context: grpc.ServicerContext) -> pb.ConnectResponse:
        credentials = ({"phone_number": request.credentials.phone_number, "push_name": request.credentials.push_name,
                        "device_id": request.credentials.device_id, "token": request.credentials.token}
                       if request.HasField("credentials") else None)
        auto_pair = (AutoPair(request.auto_pair.phone_number, request.auto_pair.delay_seconds)
                     if request.HasField("auto_pair") else None)
        code = self.network.connect(self._attach(request.device), credentials, request.phone_number, auto_pair)
        return pb.ConnectResponse(pairing_code=code)

    def Disconnect(self, request: pb.DisconnectRequest, context: grpc.ServicerContext) -> pb.DisconnectResponse:
        self.network.disconnect(self._attached(request.device))
        return pb.DisconnectResponse()

    def Logout(self, request: pb.LogoutRequest, context: grpc.ServicerContext) -> pb.LogoutResponse:
        self.network.logout(self._attach(request.device))
        return pb.LogoutResponse()

    def Release(self, request: pb.ReleaseRequest, context: grpc.ServicerContext) -> pb.ReleaseResponse:
        attachment = self._connection(request.device).attachments.pop(request.device.attachment_id, None)
        if attachment is not None:
            self.network.release(attachment)
        return pb.ReleaseResponse()

    def Send(self, request: pb.SendRequest, context: grpc.ServicerContext) -> pb.SendResponse:
        message = OutgoingMessage(request.chat_id, request.type, _content(request.content),
                                  _media(request.media) if request.HasField("media") else None, request.id,
                                  request.media.data, request.reply_to)
        return pb.SendResponse(wa_message_id=self.network.send(self._attached(request.device), message))

    def Lookup(self, request: pb.LookupRequest, context: grpc.ServicerContext) -> pb.LookupResponse:
        return pb.LookupResponse(
            registered=self.network.lookup(self._attached(request.device), list(request.phone_numbers)))

    def ListTemplates(self, request: pb.ListTemplatesRequest, context: grpc.ServicerContext
                      ) -> pb.ListTemplatesResponse:
        self._attached(request.device)
        return pb.ListTemplatesResponse(templates=[json.dumps(entry) for entry in approved()])

    def ListGroups(self, request: pb.ListGroupsRequest, context: grpc.ServicerContext) -> pb.ListGroupsResponse:
        return pb.ListGroupsResponse(groups=[group_proto(info) for info in
                                             self.network.list_groups(self._attached(request.device))])

    def GetGroup(self, request: pb.GetGroupRequest, context: grpc.ServicerContext) -> pb.Group:
        return group_proto(self.network.get_group(self._attached(request.device), request.group_id))

    def CreateGroup(self, request: pb.CreateGroupRequest, context: grpc.ServicerContext) -> pb.CreateGroupResponse:
        info, results = self.network.create_group(self._attached(request.device), request.name,
                                                  list(request.participants))
        return pb.CreateGroupResponse(group=group_proto(info), results=[result_proto(r) for r in results])

    def UpdateGroup(self, request: pb.UpdateGroupRequest, context: grpc.ServicerContext) -> pb.Group:
        changes = {name: getattr(request, name) for name in ("name", "description", "announce", "locked")
                   if request.HasField(name)}
        return group_proto(self.network.update_group(self._attached(request.device), request.group_id, **changes))

    def UpdateParticipants(self, request: pb.UpdateParticipantsRequest, context: grpc.ServicerContext
                           ) -> pb.UpdateParticipantsResponse:
        results = self.network.update_participants(self._attached(request.device), request.group_id,
                                                   request.action, list(request.participants))
        return pb.UpdateParticipantsResponse(results=[result_proto(r) for r in results])

    def LeaveGroup(self, request: pb.LeaveGroupRequest, context: grpc.ServicerContext) -> pb.LeaveGroupResponse:
        self.network.leave_group(self._attached(request.device), request.group_id)
        return pb.LeaveGroupResponse()

    def InviteLink(self, request: pb.InviteLinkRequest, context: grpc.ServicerContext) -> pb.InviteLinkResponse:
        return pb.InviteLinkResponse(code=self.network.invite_link(self._attached(request.device), request.group_id,
                                                                    revoke=request.revoke))

    def DeleteForMe(self, request: pb.DeleteForMeRequest, context: grpc.ServicerContext) -> pb.DeleteForMeResponse:
        self.network.delete_for_me(self._attached(request.device), request.chat_id, request.wa_message_id)
        return pb.DeleteForMeResponse()

    def MarkRead(self, request: pb.MarkReadRequest, context: grpc.ServicerContext) -> pb.MarkReadResponse:
        self.network.mark_read(self._attached(request.device), request.chat_id, list(request.wa_message_ids))
        return pb.MarkReadResponse()

    def SendPresence(self, request: pb.SendPresenceRequest, context: grpc.ServicerContext
                     ) -> pb.SendPresenceResponse:
        self.network.send_presence(self._attached(request.device), request.chat_id, request.presence)
        return pb.SendPresenceResponse()

    def GetPicture(self, request: pb.GetPictureRequest, context: grpc.ServicerContext) -> pb.GetPictureResponse:
        url, picture_id = self.network.get_picture(self._attached(request.device), request.chat_id)
        return pb.GetPictureResponse(url=url, picture_id=picture_id)

    def UpdateBlocklist(self, request: pb.UpdateBlocklistRequest, context: grpc.ServicerContext
                        ) -> pb.UpdateBlocklistResponse:
        return pb.UpdateBlocklistResponse(blocked=self.network.update_blocklist(
            self._attached(request.device), request.action, list(request.chat_ids)))

    def DownloadMedia(self, request: pb.DownloadMediaRequest, context: grpc.ServicerContext
                      ) -> pb.DownloadMediaResponse:
        return pb.DownloadMediaResponse(data=self.network.download_media(self._attached(request.device),
                                                                         request.sha256))

    # Connections and attachments

    def _connection(self, device: pb.Device) -> Connection:
        with self._lock:
            connection = self._connections.get(device.connection_id)
        if connection is None:
            raise ApiError("UNAVAILABLE", f"no open event stream has the connection id '{device.connection_id}': "
                                          "open one (StreamEvents) and connect again")
        return connection

    def _attach(self, device: pb.Device) -> Attachment:
        """The device's attachment through its connection, made on its first Connect or Logout."""
        if not device.profile_id or not device.attachment_id:
            raise invalid("device", "needs a profile_id and an attachment_id")
        connection = self._connection(device)
        with self._lock:
            attachment = connection.attachments.get(device.attachment_id)
            if attachment is None:
                # The profile's earlier engines on this connection are replaced: forget them.
                for earlier in [a for a in connection.attachments.values() if a.profile_id == device.profile_id]:
                    del connection.attachments[earlier.attachment_id]
                attachment = connection.attachments[device.attachment_id] = Attachment(
                    connection, device.attachment_id, device.profile_id)
        if attachment.profile_id != device.profile_id:
            raise invalid("device.attachment_id", f"is the attachment of profile '{attachment.profile_id}'")
        return attachment

    def _attached(self, device: pb.Device) -> Attachment:
        attachment = self._connection(device).attachments.get(device.attachment_id)
        if attachment is None or attachment.profile_id != device.profile_id:
            raise Refusal("the device is not connected", "PROFILE_NOT_CONNECTED")
        return attachment

    def _close(self, connection: Connection) -> None:
        """The stream ended: its devices are gone, as a dropped connection is for WhatsApp."""
        with self._lock:
            self._connections.pop(connection.id, None)
            attachments = list(connection.attachments.values())
        connection.close()
        for attachment in attachments:
            self.network.release(attachment)
        log.info("engine host disconnected", extra=fields(connection_id=connection.id, devices=len(attachments)))


class PhoneServicer(simulator_pb2_grpc.PhoneServiceServicer):
    def __init__(self, network: SimulatedNetwork):
        self.network = network

    def Scan(self, request: pb.ScanRequest, context: grpc.ServicerContext) -> pb.ScanResponse:
        self.network.scan(request.qr_code, request.phone)
        return pb.ScanResponse()

    def EnterPairingCode(self, request: pb.EnterPairingCodeRequest, context: grpc.ServicerContext
                         ) -> pb.EnterPairingCodeResponse:
        self.network.enter_pairing_code(request.phone, request.code)
        return pb.EnterPairingCodeResponse()

    def SendFrom(self, request: pb.SendFromRequest, context: grpc.ServicerContext) -> pb.SendFromResponse:
        wa_message_id = self.network.send_from(request.phone, request.to, request.type, _content(request.content),
                                               _media(request.media) if request.HasField("media") else None,
                                               request.media.data)
        return pb.SendFromResponse(wa_message_id=wa_message_id)

    def JoinByInvite(self, request: pb.JoinByInviteRequest, context: grpc.ServicerContext) -> pb.JoinByInviteResponse:
        return pb.JoinByInviteResponse(group_id=self.network.join_by_invite(request.phone, request.code))

    def Inbox(self, request: pb.InboxRequest, context: grpc.ServicerContext) -> pb.InboxResponse:
        return pb.InboxResponse(messages=[incoming_proto(entry)
                                          for entry in self.network.inbox(request.phone_or_chat_id)])

    def Inject(self, request: pb.InjectRequest, context: grpc.ServicerContext) -> pb.InjectResponse:
        options = {name: getattr(request, name) for name in ("n", "seconds", "operation", "reason")
                   if request.HasField(name)}
        try:
            self.network.inject(request.profile_id, request.fault, **options)
        except ValueError as error:
            raise invalid("fault", str(error)) from error
        return pb.InjectResponse()

    def IsRegistered(self, request: pb.IsRegisteredRequest, context: grpc.ServicerContext) -> pb.IsRegisteredResponse:
        return pb.IsRegisteredResponse(registered=self.network.is_registered(request.phone))

    def Unregister(self, request: pb.UnregisterRequest, context: grpc.ServicerContext) -> pb.UnregisterResponse:
        self.network.unregister(request.phone)
        return pb.UnregisterResponse()

    def SetPrivacy(self, request: pb.SetPrivacyRequest, context: grpc.ServicerContext) -> pb.SetPrivacyResponse:
        self.network.set_privacy(request.phone, refuse_group_add=request.refuse_group_add)
        return pb.SetPrivacyResponse()

    def SetOnline(self, request: pb.SetOnlineRequest, context: grpc.ServicerContext) -> pb.SetOnlineResponse:
        self.network.set_online(request.phone, request.online)
        return pb.SetOnlineResponse()

    def SetReads(self, request: pb.SetReadsRequest, context: grpc.ServicerContext) -> pb.SetReadsResponse:
        self.network.set_reads(request.phone, request.reads,
                               delay=request.delay if request.HasField("delay") else None)
        return pb.SetReadsResponse()

    def SetPushName(self, request: pb.SetPushNameRequest, context: grpc.ServicerContext) -> pb.SetPushNameResponse:
        self.network.set_push_name(request.phone, request.name)
        return pb.SetPushNameResponse()

    def SetPicture(self, request: pb.SetPictureRequest, context: grpc.ServicerContext) -> pb.SetPictureResponse:
        self.network.set_picture(request.phone, request.picture_id)
        return pb.SetPictureResponse()

    def ExpireMedia(self, request: pb.ExpireMediaRequest, context: grpc.ServicerContext) -> pb.ExpireMediaResponse:
        self.network.expire_media(request.sha256)
        return pb.ExpireMediaResponse()

    def Presences(self, request: pb.PresencesRequest, context: grpc.ServicerContext) -> pb.PresencesResponse:
        return pb.PresencesResponse(presences=[
            pb.Presence(sender=entry["sender"], chat_id=entry["chat_id"], presence=entry["presence"],
                        timestamp=to_timestamp(entry["timestamp"])) for entry in self.network.presences(request.phone)])

    def ReadBy(self, request: pb.ReadByRequest, context: grpc.ServicerContext) -> pb.ReadByResponse:
        return pb.ReadByResponse(wa_message_ids=self.network.read_by(request.phone))


# The network's values as messages of the contract


def device_event(attachment: Attachment, event: Event) -> pb.DeviceEvent:
    message = pb.DeviceEvent(attachment_id=attachment.attachment_id, profile_id=attachment.profile_id, seq=event.seq)
    data = event.data
    if event.type == events.CREDENTIALS:
        message.credentials.CopyFrom(pb.Credentials(**data))
    elif event.type == events.QR:
        message.qr_code.CopyFrom(pb.QrCode(code=data["code"], expires_at=to_timestamp(data["expires_at"])))
    elif event.type == events.PAIRING:
        message.pairing_code.CopyFrom(pb.PairingCode(code=data["code"]))
    elif event.type == events.QR_TIMEOUT:
        message.qr_timeout.SetInParent()
    elif event.type == events.CONNECTED:
        message.connected.CopyFrom(pb.Connected(**data))
    elif event.type == events.DISCONNECTED:
        message.disconnected.CopyFrom(pb.Disconnected(**data))
    elif event.type == events.LOGGED_OUT:
        message.logged_out.CopyFrom(pb.LoggedOut(**data))
    elif event.type == events.BANNED:
        message.banned.CopyFrom(pb.Banned(reason=data["reason"], until=to_timestamp(data["until"])))
    elif event.type == events.REPLACED:
        message.replaced.SetInParent()
    elif event.type == events.MESSAGE:
        message.message.CopyFrom(incoming_proto(data))
    elif event.type == events.RECEIPT:
        message.receipt.CopyFrom(pb.Receipt(**{**data, "timestamp": to_timestamp(data["timestamp"])}))
    elif event.type == events.GROUP:
        message.group_change.CopyFrom(pb.GroupChange(**data))
    else:
        raise ValueError(f"no message of the contract for a '{event.type}' event")
    return message


def incoming_proto(entry: dict[str, Any]) -> pb.IncomingMessage:
    return pb.IncomingMessage(wa_message_id=entry["wa_message_id"], chat_id=entry["chat_id"], sender=entry["sender"],
                              type=entry["type"], content=json.dumps(entry["content"]),
                              timestamp=to_timestamp(entry["timestamp"]), sender_name=entry.get("sender_name", ""))


def group_proto(info: GroupInfo) -> pb.Group:
    return pb.Group(group_id=info.group_id, name=info.name, description=info.description, owner=info.owner,
                    created_at=to_timestamp(info.created_at),
                    participants=[pb.Participant(chat_id=p.chat_id, role=p.role) for p in info.participants],
                    announce=info.announce, locked=info.locked)


def result_proto(result: ParticipantResult) -> pb.ParticipantResult:
    return pb.ParticipantResult(chat_id=result.chat_id, status=result.status, error=result.error)


def _content(text: str) -> dict[str, Any]:
    try:
        content = json.loads(text or "{}")
    except ValueError:
        raise invalid("content", "is not JSON") from None
    if not isinstance(content, dict):
        raise invalid("content", "must be a JSON object")
    return content


def _media(media: pb.Media) -> Media:
    return Media(media.mimetype, media.filename, media.size, media.sha256)


# The process


# Devices upload media with their messages: documents are up to 100 MiB.
MAX_MESSAGE_BYTES = 101 * 1024 * 1024


def build_server(settings: Settings, network: SimulatedNetwork, address: str) -> tuple[grpc.Server, int]:
    server = runtime.new_server(settings, Interceptor(settings, uses_database=False), thread_name="simulator-rpc",
                                max_message_bytes=MAX_MESSAGE_BYTES)
    simulator_pb2_grpc.add_DeviceServiceServicer_to_server(DeviceServicer(network), server)
    simulator_pb2_grpc.add_PhoneServiceServicer_to_server(PhoneServicer(network), server)
    return server, runtime.listen(server, address)


def open_network(settings: Settings) -> SimulatedNetwork:
    """The network from WAGW_SIMULATOR_SEED, WAGW_SIMULATOR_TIME_SCALE and WAGW_SIMULATOR_STATE."""
    if settings.simulator_state:
        Path(settings.simulator_state).parent.mkdir(parents=True, exist_ok=True)
    return SimulatedNetwork(settings.simulator_seed, RealClock(settings.simulator_time_scale),
                            state=open_state(settings.simulator_state))


def serve(settings: Settings) -> None:
    logs.configure(settings.log_level)
    network = open_network(settings)
    address = f"{settings.simulator_host}:{settings.simulator_port}"
    server, _ = build_server(settings, network, address)
    server.start()
    log.info("simulator listening", extra=fields(address=address, state=settings.simulator_state or "memory"))
    runtime.wait_for_signal()
    server.stop(grace=2).wait()
    network.close()


def main() -> None:
    serve(load())

"""The phones of the simulated WhatsApp (`python -m server.simulator`), for the one public route that uses them:
a simulated contact writes to a simulator profile (ProfileService.SimulateIncomingMessage), so a newcomer sees
an incoming message, its `message.received` event and the webhooks it fires without a phone.

The API server reaches the simulated WhatsApp as the engine hosts do, over gRPC (wagw.simulator.v1.PhoneService)
with the gateway's internal token; the network's refusals come back as ApiErrors with their own codes.
"""

from __future__ import annotations

import json
from functools import cache

import grpc

from server.core.config import Settings
from server.core.errors import passed_on
from server.core.rpc import internal_metadata
from wagw.simulator.v1 import simulator_pb2, simulator_pb2_grpc

CALL_TIMEOUT_S = 10.0


@cache
def _phones(target: str) -> simulator_pb2_grpc.PhoneServiceStub:
    return simulator_pb2_grpc.PhoneServiceStub(grpc.insecure_channel(target))


def send_from(settings: Settings, phone: str, to: str, content: dict[str, str]) -> str:
    """The phone `phone` sends a message of `content` (MessageContent's shape: {"text": …}) to the number `to`;
    answers its WhatsApp id."""
    request = simulator_pb2.SendFromRequest(phone=phone, to=to, type="text", content=json.dumps(content))
    try:
        reply = _phones(settings.simulator_target).SendFrom(request, timeout=CALL_TIMEOUT_S,
                                                            metadata=internal_metadata(settings))
    except grpc.RpcError as error:
        raise passed_on(error, f"the simulated WhatsApp at {settings.simulator_target} did not answer") from error
    return reply.wa_message_id

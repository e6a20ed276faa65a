"""CloudApiWebhookService: the webhook URL of `cloudapi` profiles, `/api/cloudapi/{profileId}/webhook`, which
Meta's WhatsApp Cloud API calls with delivery statuses and incoming messages (proto/wagw/v1/cloudapi.proto).

Meta holds no API key, so the interceptor lets exactly these two methods through without one
(auth.HANDLER_AUTHENTICATED_METHODS) and they authenticate the call with the profile's own secrets: the
subscription handshake by `verifyToken`, every notification by the `appSecret` HMAC of its exact bytes
(`X-Hub-Signature-256`; Envoy passes the body through unparsed as a google.api.HttpBody). A verified
notification goes to the engine host that holds the profile (or would take it), which records its events through
SessionManager.on_event like any engine's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

import grpc
from google.api import httpbody_pb2
from google.protobuf import empty_pb2

from server.core.engine_specs import CLOUDAPI
from server.core.errors import forbidden, invalid, not_found, unauthorized
from server.core.models import Profile
from server.engine_host import client as engine_client
from wagw.engine.v1 import engine_host_pb2
from wagw.v1 import cloudapi_pb2, cloudapi_pb2_grpc

SIGNATURE_HEADER = "x-hub-signature-256"


def verify_subscription(params: Mapping[str, str], verify_token: str) -> str | None:
    """Meta's `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…` handshake: the challenge to echo back
    when the token matches the profile's `verifyToken`, else None (answer 403)."""
    if not verify_token or params.get("hub.mode") != "subscribe":
        return None
    given = params.get("hub.verify_token", "")
    if not hmac.compare_digest(given.encode(), verify_token.encode()):
        return None
    return params.get("hub.challenge")


def check_signature(body: bytes, header: str, app_secret: str) -> bool:
    """Whether `X-Hub-Signature-256` (`sha256=<hex HMAC of the raw body with the app secret>`) is Meta's."""
    if not app_secret or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256=").lower())


def _cloudapi_profile(profile_id: str) -> Profile:
    """The profile, if it is a cloudapi one. A profile of another engine gets the same NOT_FOUND as an unknown
    id, so a caller without credentials learns nothing about the gateway's other profiles."""
    profile = Profile.get_or_none(Profile.id == profile_id) if profile_id else None
    if profile is None or profile.engine != CLOUDAPI.name:
        raise not_found("cloudapi profile", profile_id)
    return profile


def _header(context: grpc.ServicerContext, name: str) -> str:
    for key, value in context.invocation_metadata():
        if key == name and isinstance(value, str):
            return value.strip()
    return ""


class CloudApiWebhookServicer(cloudapi_pb2_grpc.CloudApiWebhookServiceServicer):
    def VerifyCloudApiWebhook(self, request: cloudapi_pb2.VerifyCloudApiWebhookRequest,
                              context: grpc.ServicerContext) -> httpbody_pb2.HttpBody:
        profile = _cloudapi_profile(request.profile_id)
        verify_token = profile.engine_settings.get("verifyToken", "")
        if not verify_token:
            raise forbidden(f"cloudapi profile '{profile.id}' has no verifyToken in its engineSettings: set one "
                            "and enter the same in the Meta app's webhook settings")
        if request.hub.mode != "subscribe":
            raise invalid("hub.mode", "must be 'subscribe'")
        hub = request.hub
        challenge = verify_subscription(
            {"hub.mode": hub.mode, "hub.verify_token": hub.verify_token, "hub.challenge": hub.challenge},
            verify_token)
        if challenge is None:
            raise forbidden("hub.verify_token is not the profile's verifyToken")
        return httpbody_pb2.HttpBody(content_type="text/plain", data=challenge.encode())

    def ReceiveCloudApiWebhook(self, request: cloudapi_pb2.ReceiveCloudApiWebhookRequest,
                               context: grpc.ServicerContext) -> empty_pb2.Empty:
        profile = _cloudapi_profile(request.profile_id)
        app_secret = profile.engine_settings.get("appSecret", "")
        if not app_secret:
            raise unauthorized(f"cloudapi profile '{profile.id}' has no appSecret in its engineSettings, so Meta's "
                               "signatures cannot be checked: set it to the Meta app's secret")
        signature = _header(context, SIGNATURE_HEADER)
        if not signature:
            raise unauthorized("missing X-Hub-Signature-256 header")
        body = request.payload.data
        if not check_signature(body, signature, app_secret):
            raise unauthorized("X-Hub-Signature-256 is not the HMAC-SHA256 of the body with the profile's appSecret")
        try:
            payload = json.loads(body)
        except ValueError:
            raise invalid("payload", "is not JSON") from None
        if not isinstance(payload, dict):
            raise invalid("payload", "must be a JSON object")
        # No engine host alive: UNAVAILABLE (503), and Meta delivers the notification again later.
        engine_client.call(profile, lambda stub: stub.DeliverWebhook,
                           engine_host_pb2.DeliverWebhookRequest(profile_id=profile.id, payload=body))
        return empty_pb2.Empty()

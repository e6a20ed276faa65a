"""WebhookService: where events are POSTed, and the log of their deliveries. Delivery itself is the workers' job
(server/core/webhook_attempts.py, from worker/actors.py); TestWebhook makes its first attempt itself, to
answer with it."""

from __future__ import annotations

import datetime as dt
import re
import secrets

import grpc
from google.protobuf import empty_pb2

from server.api.auth import current_principal, get_visible
from server.api.services.profiles import get_profile
from server.core import event_filters, urls, validation, webhook_attempts, webhook_deliveries
from server.core.config import Settings
from server.core.convert import to_timestamp
from server.core.db import utcnow, write_transaction
from server.core.errors import conflict, forbidden, invalid, not_found
from server.core.ids import new_id
from server.core.models import Webhook, WebhookDelivery
from server.core.pagination import paginate
from wagw.v1 import webhooks_pb2, webhooks_pb2_grpc

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
# Headers the gateway sets itself on every delivery: a webhook may not override them.
_RESERVED_HEADERS = {"host", "content-type", "content-length", "user-agent"}


def to_proto(row: Webhook, *, with_secret: bool = False) -> webhooks_pb2.Webhook:
    return webhooks_pb2.Webhook(
        id=row.id,
        profile_id=row.profile_id or "",
        url=row.url,
        events=row.events,
        headers=row.headers,
        secret=row.secret if with_secret else "",
        active=row.active,
        description=row.description,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
    )


def delivery_to_proto(row: WebhookDelivery) -> webhooks_pb2.WebhookDelivery:
    return webhooks_pb2.WebhookDelivery(
        id=row.id,
        webhook_id=row.webhook_id,
        event_id=row.event_id,
        event=row.event,
        status=webhooks_pb2.WebhookDelivery.Status.Value(row.status),
        attempts=[webhooks_pb2.DeliveryAttempt(
            time=to_timestamp(dt.datetime.fromisoformat(item["time"].removesuffix("Z"))),
            http_status=item["httpStatus"], latency_ms=item["latencyMs"], response_excerpt=item["responseExcerpt"],
        ) for item in row.attempts],
        next_attempt_time=to_timestamp(row.next_attempt_at),
        create_time=to_timestamp(row.created_at),
    )


class WebhookServicer(webhooks_pb2_grpc.WebhookServiceServicer):
    def __init__(self, settings: Settings):
        self.settings = settings
        self.url_guard = urls.Guard.from_settings(settings)

    def ListWebhooks(self, request: webhooks_pb2.ListWebhooksRequest, context: grpc.ServicerContext
                     ) -> webhooks_pb2.ListWebhooksResponse:
        principal = current_principal()
        query = Webhook.select()
        if request.profile_id:
            principal.require_profile(request.profile_id)
            query = query.where(Webhook.profile == request.profile_id)
        if principal.profile_ids is not None:
            # Global webhooks see every profile's events: only unrestricted callers may see them.
            query = query.where(Webhook.profile.in_(sorted(principal.profile_ids)))
        rows, token, total = paginate(query, Webhook.id, request.page_size, request.page_token)
        return webhooks_pb2.ListWebhooksResponse(
            webhooks=[to_proto(row) for row in rows], next_page_token=token, total_size=total
        )

    def CreateWebhook(self, request: webhooks_pb2.CreateWebhookRequest, context: grpc.ServicerContext
                      ) -> webhooks_pb2.Webhook:
        if request.profile_id:
            profile = get_profile(request.profile_id)
        elif current_principal().profile_ids is not None:
            raise forbidden("a key limited to profiles cannot create a global webhook: give profileId")
        else:
            profile = None
        row = Webhook(
            id=new_id("wh"),
            profile=profile,
            url=self._url(request.url),
            events=event_filters.validate(list(request.events) or ["*"], "events"),
            headers=_headers(dict(request.headers)),
            secret=_secret(request.secret) if request.secret else "whsec_" + secrets.token_urlsafe(32),
            active=request.active if request.HasField("active") else True,
            description=validation.text(request.description, "description", max_len=500),
        )
        with write_transaction():
            row.save(force_insert=True)
        return to_proto(row, with_secret=True)

    def GetWebhook(self, request: webhooks_pb2.GetWebhookRequest, context: grpc.ServicerContext
                   ) -> webhooks_pb2.Webhook:
        return to_proto(_get_webhook(request.id))

    def UpdateWebhook(self, request: webhooks_pb2.UpdateWebhookRequest, context: grpc.ServicerContext
                      ) -> webhooks_pb2.Webhook:
        row = _get_webhook(request.id)
        if request.HasField("url"):
            row.url = self._url(request.url)
        if request.events:
            row.events = event_filters.validate(list(request.events), "events")
        if request.headers:
            merged = {**row.headers, **request.headers}
            row.headers = _headers({name: value for name, value in merged.items() if value})
        if request.HasField("secret"):
            row.secret = _secret(request.secret)
        if request.HasField("description"):
            row.description = validation.text(request.description, "description", max_len=500)
        if request.HasField("active"):
            row.active = request.active
        row.updated_at = utcnow()
        with write_transaction():
            row.save()
        return to_proto(row)

    def DeleteWebhook(self, request: webhooks_pb2.DeleteWebhookRequest, context: grpc.ServicerContext
                      ) -> empty_pb2.Empty:
        row = _get_webhook(request.id)
        with write_transaction():
            WebhookDelivery.delete().where(WebhookDelivery.webhook_id == row.id).execute()
            row.delete_instance()
        return empty_pb2.Empty()

    def TestWebhook(self, request: webhooks_pb2.TestWebhookRequest, context: grpc.ServicerContext
                    ) -> webhooks_pb2.WebhookDelivery:
        row = _get_webhook(request.id)
        delivery_id = webhook_deliveries.fire_test(row)
        webhook_attempts.attempt(delivery_id, self.settings)  # the first one here, to answer with it
        return delivery_to_proto(WebhookDelivery.get_by_id(delivery_id))

    def ListWebhookDeliveries(self, request: webhooks_pb2.ListWebhookDeliveriesRequest,
                              context: grpc.ServicerContext) -> webhooks_pb2.ListWebhookDeliveriesResponse:
        row = _get_webhook(request.id)
        query = WebhookDelivery.select().where(WebhookDelivery.webhook_id == row.id)
        if request.status:
            query = query.where(WebhookDelivery.status == webhooks_pb2.WebhookDelivery.Status.Name(request.status))
        rows, token, total = paginate(query, WebhookDelivery.id, request.page_size, request.page_token,
                                      newest_first=True)
        return webhooks_pb2.ListWebhookDeliveriesResponse(
            deliveries=[delivery_to_proto(item) for item in rows], next_page_token=token, total_size=total)

    def RedeliverWebhookDelivery(self, request: webhooks_pb2.RedeliverWebhookDeliveryRequest,
                                 context: grpc.ServicerContext) -> webhooks_pb2.WebhookDelivery:
        row = _get_webhook(request.id)
        item = WebhookDelivery.get_or_none((WebhookDelivery.id == request.delivery_id)
                                           & (WebhookDelivery.webhook_id == row.id))
        if item is None:
            raise not_found("webhook delivery", request.delivery_id)
        if not webhook_deliveries.redeliver(item):
            raise conflict(f"delivery '{item.id}' is still {item.status}: only a DELIVERED or FAILED delivery "
                           "can be redelivered", state=True)
        return delivery_to_proto(WebhookDelivery.get_by_id(item.id))

    def _url(self, raw: str) -> str:
        return urls.check_public_url(raw, "url", self.url_guard)

def _get_webhook(webhook_id: str) -> Webhook:
    return get_visible(Webhook.get_or_none(Webhook.id == webhook_id), "webhook", webhook_id)


def _headers(headers: dict[str, str]) -> dict[str, str]:
    for name in headers:
        if not _HEADER_NAME.fullmatch(name):
            raise invalid("headers", f"'{name}' is not a header name")
        if name.lower() in _RESERVED_HEADERS or name.lower().startswith("x-webhook-"):
            raise invalid("headers", f"'{name}' is set by the gateway and cannot be overridden")
    return validation.string_map(headers, "headers", max_entries=20)


def _secret(secret: str) -> str:
    if not 16 <= len(secret) <= 256:
        raise invalid("secret", "must be 16 to 256 characters")
    return secret



"""BulkService: paced campaigns with template variables (DESIGN.md §6)."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator

import grpc

from server.api import streams
from server.api.auth import current_principal, get_visible
from server.api.services.messages import idempotency_key
from server.api.services.profiles import get_profile
from server.core import content, lids, lifecycle, template_messages, templates
from server.core.convert import from_timestamp, to_timestamp
from server.core.db import utcnow
from server.core.engine_specs import NotSupported, send_operation, supports
from server.core.errors import ApiError, invalid
from server.core.hosts import VIEW_S, alive_hosts, effective_status
from server.core.models import Batch, Message
from server.core.pagination import paginate
from server.core.phones import normalize_chat_id
from wagw.v1 import bulk_pb2, bulk_pb2_grpc, messages_pb2

MAX_ITEMS = 10_000
MAX_DELAY_MS = 3_600_000
MAX_SCHEDULE_AHEAD = dt.timedelta(days=30)
DEFAULT_ITEMS_PAGE = 100
MAX_ITEMS_PAGE = 1000
# A watch reads its batch when the batch's profile records a bulk event, and at least this often (a change that
# records none: the batch starting).
WATCH_POLL_S = 2.0


def to_proto(batch: Batch) -> bulk_pb2.Batch:
    """The batch; `batch_id` repeats `id` for callers of the seed's API (proto/wagw/v1/bulk.proto)."""
    return bulk_pb2.Batch(
        id=batch.id, batch_id=batch.id, profile_id=batch.profile_id, status=bulk_pb2.Batch.Status.Value(batch.status),
        progress=bulk_pb2.BatchProgress(**lifecycle.progress(batch)),
        options=bulk_pb2.BulkOptions(delay_between_messages=batch.delay_ms, randomize_delay=batch.randomize_delay,
                                     stop_on_error=batch.stop_on_error, start_time=to_timestamp(batch.start_at)),
        create_time=to_timestamp(batch.created_at), start_time=to_timestamp(batch.started_at),
        estimated_end_time=to_timestamp(batch.estimated_end_at), end_time=to_timestamp(batch.finished_at),
    )


def _get_batch(batch_id: str) -> Batch:
    return get_visible(Batch.get_or_none(Batch.id == batch_id), "batch", batch_id)


def _items(request: bulk_pb2.SendBulkRequest, engine: str) -> list[dict]:
    """Every item checked and its placeholders filled, before anything is stored."""
    if not request.messages:
        raise invalid("messages", "give 1 to 10,000 messages")
    if len(request.messages) > MAX_ITEMS:
        raise invalid("messages", f"at most {MAX_ITEMS:,} messages in one batch")
    items, chat_ids = [], {}
    for index, item in enumerate(request.messages):
        prefix = f"messages[{index}]"
        if not item.type:
            raise invalid(f"{prefix}.type", "is required: text, image, video, document, location, contact, poll, "
                                              "audio, sticker or template")
        type_name = messages_pb2.MessageType.Name(item.type)
        operation = send_operation(type_name.lower())
        if not supports(engine, operation):
            raise NotSupported(engine, f"{operation} ({prefix})")
        if not item.chat_id.strip():
            raise invalid(f"{prefix}.chatId", "is required")
        raw = item.chat_id.strip()
        if raw not in chat_ids:  # campaigns repeat recipients; phone parsing is the costly part
            chat_ids[raw] = normalize_chat_id(raw, f"{prefix}.chatId")
        filled = messages_pb2.MessageContent()
        filled.CopyFrom(item.content)
        variables = dict(item.variables)
        for name in ("text", "caption"):
            if getattr(filled, name):
                setattr(filled, name, templates.fill(getattr(filled, name), variables,
                                                     f"{prefix}.content.{name}", f"{prefix}.variables"))
        if filled.HasField("template"):
            template_messages.fill(filled, variables, f"{prefix}.content.template", f"{prefix}.variables")
        checked = content.check(type_name, filled, f"{prefix}.content", f"{prefix}.type")
        items.append({"chat_id": chat_ids[raw], "type": type_name, "content": checked})
    return items


class BulkServicer(bulk_pb2_grpc.BulkServiceServicer):
    def __init__(self, hub: streams.Hub):
        self.hub = hub

    def SendBulk(self, request: bulk_pb2.SendBulkRequest, context: grpc.ServicerContext) -> bulk_pb2.Batch:
        if not request.profile_id:
            raise invalid("profileId", "is required")
        profile = get_profile(request.profile_id)
        options = request.options
        if not 0 <= options.delay_between_messages <= MAX_DELAY_MS:
            raise invalid("options.delayBetweenMessages", f"must be between 0 and {MAX_DELAY_MS:,} ms")
        start_at = from_timestamp(options.start_time) if options.HasField("start_time") else None
        if start_at and start_at > utcnow() + MAX_SCHEDULE_AHEAD:
            raise invalid("options.startTime", "must be within 30 days")
        key = idempotency_key(request, context)
        if key:
            first = Batch.get_or_none((Batch.profile == profile.id) & (Batch.idempotency_key == key))
            if first is not None:
                return to_proto(first)
        items = _items(request, profile.engine)
        for item in items:  # one person, one conversation: a LID the profile knows is filed under its number
            item["chat_id"] = lids.phone_chat_id(profile.id, item["chat_id"])
        scheduled = start_at is not None and start_at > utcnow()
        status = effective_status(profile, alive_hosts(max_age_s=VIEW_S))
        if status != "CONNECTED" and not scheduled:
            raise ApiError("PROFILE_NOT_CONNECTED", f"profile '{profile.id}' is {status}, not CONNECTED: connect it "
                                                    "first (or give options.startTime)")
        batch = lifecycle.accept_batch(profile, items, delay_ms=options.delay_between_messages,
                                       randomize=options.randomize_delay, stop_on_error=options.stop_on_error,
                                       start_at=start_at, idempotency_key=key)
        return to_proto(batch)

    def ListBatches(self, request: bulk_pb2.ListBatchesRequest, context: grpc.ServicerContext
                    ) -> bulk_pb2.ListBatchesResponse:
        principal = current_principal()
        query = Batch.select()
        if request.profile_id:
            principal.require_profile(request.profile_id)
            query = query.where(Batch.profile == request.profile_id)
        elif principal.profile_ids is not None:
            query = query.where(Batch.profile.in_(sorted(principal.profile_ids)))
        if request.status:
            query = query.where(Batch.status == bulk_pb2.Batch.Status.Name(request.status))
        rows, token, total = paginate(query, Batch.id, request.page_size, request.page_token, newest_first=True)
        return bulk_pb2.ListBatchesResponse(batches=[to_proto(row) for row in rows], next_page_token=token,
                                            total_size=total)

    def GetBatch(self, request: bulk_pb2.GetBatchRequest, context: grpc.ServicerContext) -> bulk_pb2.Batch:
        batch = _get_batch(request.batch_id)
        size = request.items_page_size or DEFAULT_ITEMS_PAGE
        if not 1 <= size <= MAX_ITEMS_PAGE:
            raise invalid("itemsPageSize", f"must be between 1 and {MAX_ITEMS_PAGE}")
        start = _index_token(request.items_page_token)
        rows = list(Message.select(Message.id, Message.batch_index, Message.chat_id, Message.status, Message.error)
                    .where((Message.batch_id == batch.id) & (Message.batch_index >= start))
                    .order_by(Message.batch_index).limit(size + 1))
        reply = to_proto(batch)
        for row in rows[:size]:
            reply.items.add(index=row.batch_index, chat_id=row.chat_id, message_id=row.id,
                            status=messages_pb2.Message.Status.Value(row.status), error=row.error)
        if len(rows) > size:
            reply.next_items_page_token = base64.urlsafe_b64encode(str(rows[size].batch_index).encode()).decode()
        return reply

    def CancelBatch(self, request: bulk_pb2.CancelBatchRequest, context: grpc.ServicerContext) -> bulk_pb2.Batch:
        return to_proto(lifecycle.cancel_batch(_get_batch(request.batch_id), utcnow()))

    async def WatchBatch(self, request: bulk_pb2.WatchBatchRequest, context: grpc.aio.ServicerContext
                         ) -> AsyncIterator[bulk_pb2.Batch]:
        """The batch now, then again each time it changes, until it ends. A coroutine woken by the batch's bulk
        events (server/api/streams.py), holding no thread while it waits."""
        principal = current_principal()
        batch = await self.hub.read(_get_batch, request.batch_id)
        with self.hub.slot(principal.subject):
            subscription = streams.Subscription(principal.subject, batch.profile_id, principal.profile_ids,
                                                ["bulk.*"], 0, queued=False)
            subscription.lagging = False
            with self.hub.subscribed(subscription):
                last = None
                while True:
                    current = to_proto(batch)
                    if current != last:
                        yield current
                        last = current
                    if batch.status in lifecycle.TERMINAL:
                        return
                    await subscription.wait(WATCH_POLL_S)
                    if self.hub.closed:
                        raise streams.stopping()
                    batch = await self.hub.read(Batch.get_by_id, batch.id)


def _index_token(token: str) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except ValueError as error:
        raise invalid("itemsPageToken", "is not a token this server issued") from error

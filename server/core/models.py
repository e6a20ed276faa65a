"""The tables. Rows are the truth; the gRPC layer converts them to and from protobuf messages."""

from __future__ import annotations

import json
from typing import Any

import peewee

from server.core.db import database, utcnow


class JSONField(peewee.TextField):
    """JSON kept as text, so SQLite and PostgreSQL store it the same way."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)

    def python_value(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class Profile(BaseModel):
    # Not a column: whether the profile's engine credentials are stored, when the row was read with it
    # (server/core/rows.py); None when it was not.
    has_session: bool | None = None

    id = peewee.CharField(primary_key=True, max_length=64)
    name = peewee.CharField(max_length=200)
    engine = peewee.CharField(max_length=20)
    status = peewee.CharField(max_length=20, default="DISCONNECTED")
    phone_number = peewee.CharField(max_length=20, default="")
    last_error = peewee.TextField(default="")
    engine_settings = JSONField(default=dict)
    min_gap_ms = peewee.IntegerField(default=0)
    jitter_ms = peewee.IntegerField(default=0)
    daily_cap = peewee.IntegerField(default=0)
    labels = JSONField(default=dict)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
    # What the caller asked for: "connected" sessions are (re)opened by an engine host after any restart.
    desired_state = peewee.CharField(max_length=20, default="disconnected")
    # The engine host that holds the live session (EngineHost.id), if any.
    host_id = peewee.CharField(max_length=100, null=True)
    # The login in progress: the QR string to show and until when, or the pairing code.
    qr_code = peewee.TextField(default="")
    qr_expires_at = peewee.DateTimeField(null=True)
    pairing_code = peewee.CharField(max_length=20, default="")
    # What to do with a send whose outcome is unknown (server/core/delivery_guarantee.py): AT_MOST_ONCE or
    # AT_LEAST_ONCE.
    delivery_guarantee = peewee.CharField(max_length=20, default="AT_MOST_ONCE")


class Contact(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=40)
    profile = peewee.ForeignKeyField(Profile, on_delete="CASCADE", backref="contacts")
    phone_number = peewee.CharField(max_length=20)
    name = peewee.CharField(max_length=200, default="")
    email = peewee.CharField(max_length=254, default="")
    notes = peewee.TextField(default="")
    # A JSON array of lower-case tags; filtered with LIKE '%"tag"%', which both backends index-free support.
    tags = JSONField(default=list)
    attributes = JSONField(default=dict)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("profile", "phone_number"), True),)


class Webhook(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=40)
    # NULL: a global webhook, for every profile.
    profile = peewee.ForeignKeyField(Profile, null=True, on_delete="CASCADE", backref="webhooks")
    url = peewee.TextField()
    events = JSONField(default=list)
    headers = JSONField(default=dict)
    secret = peewee.CharField(max_length=256)
    active = peewee.BooleanField(default=True)
    description = peewee.TextField(default="")
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)


class ApiKey(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=40)
    name = peewee.CharField(max_length=200)
    # The key's public prefix, used to find the row; the secret part is kept only as a SHA-256 hash.
    prefix = peewee.CharField(max_length=32, unique=True)
    key_hash = peewee.CharField(max_length=64)
    scopes = JSONField(default=list)
    # Empty: every profile.
    profile_ids = JSONField(default=list)
    expires_at = peewee.DateTimeField(null=True)
    revoked_at = peewee.DateTimeField(null=True)
    last_used_at = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)


class EngineSession(BaseModel):
    """An engine's stored credentials for one profile (the SessionStore of server.engines.base)."""

    profile = peewee.ForeignKeyField(Profile, primary_key=True, on_delete="CASCADE")
    engine = peewee.CharField(max_length=20)
    data = JSONField(default=dict)
    updated_at = peewee.DateTimeField(default=utcnow)


class EngineHost(BaseModel):
    """A live engine-host process: where to call it, and its heartbeat. A host whose heartbeat is stale is
    gone, and its profiles are shown as RECONNECTING until a host takes them over."""

    id = peewee.CharField(primary_key=True, max_length=100)
    address = peewee.CharField(max_length=200)
    heartbeat_at = peewee.DateTimeField(default=utcnow)


class Event(BaseModel):
    """The durable event log: written before any fan-out, so every consumer can resume from an id."""

    id = peewee.BigAutoField()
    name = peewee.CharField(max_length=40)
    # Not a foreign key: events outlive a deleted profile.
    profile_id = peewee.CharField(max_length=64, null=True, index=True)
    data = JSONField(default=dict)
    created_at = peewee.DateTimeField(default=utcnow)


class Message(BaseModel):
    """A message sent or received. An outbound row is the outbox entry: stored PENDING before anything is
    queued, so no accepted message is lost, and delivered by the row (its id goes to the engine as the
    message's own id) so none is sent twice."""

    id = peewee.CharField(primary_key=True, max_length=40)
    profile = peewee.ForeignKeyField(Profile, on_delete="CASCADE", backref="messages")
    chat_id = peewee.CharField(max_length=100)
    direction = peewee.CharField(max_length=10)  # OUTBOUND or INBOUND
    type = peewee.CharField(max_length=10)  # a wagw.v1.MessageType name
    # wagw.v1.MessageContent as JSON with proto field names (inline media as base64 in media.data).
    content = JSONField(default=dict)
    status = peewee.CharField(max_length=12)
    error = peewee.TextField(default="")
    wa_message_id = peewee.CharField(max_length=128, null=True)
    batch_id = peewee.CharField(max_length=40, null=True)
    batch_index = peewee.IntegerField(null=True)
    reply_to = peewee.CharField(max_length=128, default="")
    mentions = JSONField(default=list)
    sender = peewee.CharField(max_length=100, default="")
    idempotency_key = peewee.CharField(max_length=200, null=True)
    # Delivery bookkeeping (server/core/lifecycle.py): a bulk item's turn (not before this time; NULL while the
    # items before it are not out), and when and how often a worker handed it to an engine host.
    not_before = peewee.DateTimeField(null=True)
    handed_at = peewee.DateTimeField(null=True)
    # When the engine host gave it to WhatsApp, written before the engine call: while the message is still
    # PENDING, a send whose answer was never recorded (server/core/delivery_guarantee.py).
    dispatched_at = peewee.DateTimeField(null=True)
    attempts = peewee.IntegerField(default=0)
    created_at = peewee.DateTimeField(default=utcnow)
    sent_at = peewee.DateTimeField(null=True)
    delivered_at = peewee.DateTimeField(null=True)
    read_at = peewee.DateTimeField(null=True)
    updated_at = peewee.DateTimeField(default=utcnow)
    # Conversations (server/core/lifecycle.py). All nullable, so bulk inserts need not name them. The sender's
    # push name (inbound); reactions [{sender, emoji, from_me, time}], one per sender; the texts before each edit
    # [{text, replaced_at}]; when the message was edited, revoked (deleted for everyone) or deleted for the
    # profile only; poll votes {voter: [options]} (a poll's latest vote per voter).
    sender_name = peewee.CharField(max_length=200, null=True)
    reactions = JSONField(null=True)
    edits = JSONField(null=True)
    edited_at = peewee.DateTimeField(null=True)
    revoked_at = peewee.DateTimeField(null=True)
    deleted_at = peewee.DateTimeField(null=True)
    poll_votes = JSONField(null=True)
    # How the engine downloads a received message's media again (whatsmeow: direct path, media key, hashes;
    # Cloud API: Meta's media id; simulator: the file's hash). Never shown to callers. The bytes themselves live in
    # the media store, never in the database.
    media_ref = JSONField(null=True)

    class Meta:
        # The delivery path's lookups match an index column for column, their ORDER BY included, so that they read
        # one entry whatever the planner's statistics say: a PostgreSQL table analysed while small otherwise
        # scanned a profile's whole backlog (10,000 rows) at each step and each receipt. The waiting messages'
        # indexes (below the class) are partial: they hold only what waits, and a lookup that names its status as
        # a constant (server/core/lifecycle.py) is the only one that can use them.
        indexes = (
            (("profile", "idempotency_key"), True),
            (("profile", "created_at"), False),
            # A receipt's message (and an incoming message's duplicate), by its WhatsApp id.
            (("profile", "wa_message_id"), False),
            # A profile's chats: its messages by chat, newest first.
            (("profile", "chat_id", "created_at"), False),
        )


# A profile's waiting messages: its single sends oldest first (the order they go out in), all of them counted for
# its daily cap.
Message.add_index(Message.index(Message.profile, Message.batch_id, Message.created_at, Message.id)
                  .where(Message.status == "PENDING"))
# A profile's waiting batch items whose turn is set (the next of each batch), soonest first.
Message.add_index(Message.index(Message.profile, Message.not_before, Message.batch_index)
                  .where((Message.status == "PENDING") & Message.not_before.is_null(False)))
# A batch's items in order. Partial too: a prepared statement's generic plan for the single sends' lookup
# (`batch_id IS NULL`) took it, and read every single send of every profile.
Message.add_index(Message.index(Message.batch_id, Message.batch_index).where(Message.batch_id.is_null(False)))
# A batch's waiting items in order: the next one to schedule after each item leaves the queue. Found in the index
# above, it was the first PENDING among the items already sent, each read and passed (item 2,000 of a batch read
# 4,000 pages, 1.2 ms), so a batch's schedules took time in the square of its size.
Message.add_index(Message.index(Message.batch_id, Message.batch_index, name="message_waiting_batch_items").where(
    (Message.status == "PENDING") & Message.batch_id.is_null(False)))


class SendGate(BaseModel):
    """The per-profile send gate, shared by every worker (server/core/send_gate.py), and the profile's delivery
    job (server/core/jobs.py): whoever holds its lease sends the profile's messages, one at a time, with a
    minimum gap before the next (`next_at`), a daily cap, and pauses after WhatsApp pushed back. `due_at` says
    when the profile's waiting messages next need a look (NULL: none wait), `queued_at` when the wake-up queued
    for that is due, `version` counts the times new work was added."""

    profile = peewee.ForeignKeyField(Profile, primary_key=True, on_delete="CASCADE")
    leased_until = peewee.DateTimeField(null=True)
    lease_owner = peewee.CharField(max_length=40, null=True)
    due_at = peewee.DateTimeField(null=True)
    queued_at = peewee.DateTimeField(null=True)
    version = peewee.IntegerField(default=0)
    next_at = peewee.DateTimeField(null=True)
    paused_until = peewee.DateTimeField(null=True)
    pause_reason = peewee.TextField(default="")
    day = peewee.CharField(max_length=10, default="")
    sent_today = peewee.IntegerField(default=0)


class Batch(BaseModel):
    """A bulk campaign. Its items are Message rows (batch_id, batch_index); the counters here are kept up to
    date with every item's change, so progress reads stay cheap at 10,000 items."""

    id = peewee.CharField(primary_key=True, max_length=40)
    profile = peewee.ForeignKeyField(Profile, on_delete="CASCADE", backref="batches")
    status = peewee.CharField(max_length=12, default="QUEUED")
    total = peewee.IntegerField()
    sent = peewee.IntegerField(default=0)
    failed = peewee.IntegerField(default=0)
    cancelled = peewee.IntegerField(default=0)
    delivered = peewee.IntegerField(default=0)
    read = peewee.IntegerField(default=0)
    delay_ms = peewee.IntegerField(default=0)
    randomize_delay = peewee.BooleanField(default=False)
    stop_on_error = peewee.BooleanField(default=False)
    start_at = peewee.DateTimeField(null=True)
    idempotency_key = peewee.CharField(max_length=200, null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    started_at = peewee.DateTimeField(null=True)
    estimated_end_at = peewee.DateTimeField(null=True)
    finished_at = peewee.DateTimeField(null=True)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("profile", "idempotency_key"), True), (("status",), False))


ALL_MODELS: list[type[BaseModel]] = [
    Profile, Contact, Webhook, ApiKey, EngineSession, EngineHost, Event, Message, SendGate, Batch,
]


class WebhookDelivery(BaseModel):
    """One event's delivery to one webhook (DESIGN.md §7), made by the dispatcher that follows the event log
    (worker/webhook_dispatch.py). The row is the truth: its status and `next_attempt_at` say what happens next, so a
    lost queue message only delays an attempt (the sweep re-queues it). Attempts are a JSON list of
    {time, httpStatus, latencyMs, responseExcerpt}, appended by the worker holding the row's lease."""

    id = peewee.CharField(primary_key=True, max_length=40)
    # Not a foreign key (a migration may run before the webhook table of an old database exists): deleting a
    # webhook deletes its deliveries itself, and the sweep removes those of webhooks deleted with a profile.
    webhook_id = peewee.CharField(max_length=40)
    event_id = peewee.BigIntegerField()
    event = peewee.CharField(max_length=40)
    profile_id = peewee.CharField(max_length=64, null=True)
    status = peewee.CharField(max_length=10, default="PENDING")  # PENDING, RETRYING, DELIVERED, FAILED
    attempts = JSONField(default=list)
    # Attempts since the delivery was created or last redelivered: what the backoff schedule counts.
    round_attempts = peewee.IntegerField(default=0)
    next_attempt_at = peewee.DateTimeField(null=True)
    # When the queued attempt should run (the sweep re-queues what is long overdue), and who holds it now.
    queued_at = peewee.DateTimeField(null=True)
    leased_until = peewee.DateTimeField(null=True)
    lease_owner = peewee.CharField(max_length=40, null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("webhook_id", "event_id"), True),
            (("webhook_id", "id"), False),
            (("status", "next_attempt_at"), False),
        )


class WebhookCursor(BaseModel):
    """How far the webhook dispatcher has followed the event log: every event up to `last_event_id` has its
    deliveries (or matched no webhook)."""

    name = peewee.CharField(primary_key=True, max_length=40)
    last_event_id = peewee.BigIntegerField(default=0)
    updated_at = peewee.DateTimeField(default=utcnow)


ALL_MODELS.extend([WebhookDelivery, WebhookCursor])


class LidMapping(BaseModel):
    """A person's WhatsApp-internal id (`<digits>@lid`) and their phone-number chat id, as a profile learned it
    from WhatsApp (server/core/lids.py): WhatsApp addresses some people only by LID, and one person must keep one
    chat id."""

    profile = peewee.ForeignKeyField(Profile, on_delete="CASCADE")
    lid = peewee.CharField(max_length=64)
    chat_id = peewee.CharField(max_length=64)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        primary_key = peewee.CompositeKey("profile", "lid")


ALL_MODELS.append(LidMapping)

"""The bounds, patterns and value lists the API server enforces on request fields, as JSON Schema keywords.

gateway/openapi.py adds them to the OpenAPI document, so a client (or Swagger UI at /docs) knows a field's limits
before it sends. The server's own checks stay the truth: the numbers come from the constants they use where
those are named, and tests/integration/test_api_examples.py tries each bound through the real stack, just past
it (a VALIDATION_ERROR naming the field) and right at it (no such refusal): a rule here looser or stricter than
the server's fails a test.

Keys are proto field names (`wagw.v1.<Message>.<field>`). A rule describes a value that is given: in proto3 JSON
an empty string, 0 or an empty list is the same as leaving the field out. Rules on a repeated field apply to the
array (`minItems`, `maxItems`, `uniqueItems`) and, under `items`, to each element; rules on a map apply to the
object (`maxProperties`), its keys (`propertyNames`) and its values (`additionalProperties`).
"""

from __future__ import annotations

from typing import Any

from server.api.auth import VALID_SCOPES
from server.api.services import bulk, chats, events, groups, messages, profiles
from server.core import content, validation
from server.core.event_filters import EVENT_NAMES
from server.core.pagination import MAX_PAGE_SIZE

Rule = dict[str, Any]

# Event filters as webhooks, ListEvents and WatchEvents accept them: `*`, a family (`message.*`) or a name.
EVENT_FILTERS = ["*", *sorted({f"{name.split('.')[0]}.*" for name in EVENT_NAMES}), *EVENT_NAMES]

_PAGE_SIZE: Rule = {"minimum": 0, "maximum": MAX_PAGE_SIZE}
_IDEMPOTENCY_KEY: Rule = {"maxLength": 200}
_CAPTION: Rule = {"maxLength": content.MAX_CAPTION}
_MEDIA_URL: Rule = {"format": "uri", "pattern": "^https?://[^/?#]+"}
_WEBHOOK_URL: Rule = {**_MEDIA_URL, "maxLength": 2000}
_STRING_MAP_ENTRIES: Rule = {"propertyNames": {"minLength": 1, "maxLength": 64},
                             "additionalProperties": {"type": "string", "maxLength": 1000}}
_STRING_MAP: Rule = {"maxProperties": validation.MAX_ATTRIBUTES, **_STRING_MAP_ENTRIES}
_TAG: Rule = {"minLength": 1, "maxLength": 50}
_TAGS: Rule = {"maxItems": validation.MAX_TAGS, "items": _TAG}
_PARTICIPANTS: Rule = {"minItems": 1, "maxItems": groups.MAX_PARTICIPANTS}
_GROUP_NAME: Rule = {"minLength": 1, "maxLength": groups.MAX_NAME}
_EVENTS: Rule = {"items": {"enum": EVENT_FILTERS}}
_WEBHOOK_HEADER_ENTRIES: Rule = {"propertyNames": {"pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$"},
                                 "additionalProperties": {"type": "string", "maxLength": 1000}}
_WEBHOOK_HEADERS: Rule = {"maxProperties": 20, **_WEBHOOK_HEADER_ENTRIES}
_WEBHOOK_SECRET: Rule = {"minLength": 16, "maxLength": 256}
_NAME: Rule = {"minLength": 1, "maxLength": 200}

RULES: dict[str, Rule] = {
    # Profiles
    "wagw.v1.CreateProfileRequest.id": {"pattern": "^[A-Za-z0-9_-]{1,64}$"},
    "wagw.v1.CreateProfileRequest.name": _NAME,
    "wagw.v1.CreateProfileRequest.labels": _STRING_MAP,
    "wagw.v1.SendLimits.min_gap_ms": {"minimum": 0, "maximum": profiles.MAX_GAP_MS},
    "wagw.v1.SendLimits.jitter_ms": {"minimum": 0, "maximum": profiles.MAX_GAP_MS},
    "wagw.v1.SendLimits.daily_cap": {"minimum": 0, "maximum": 1_000_000},
    "wagw.v1.ListProfilesRequest.page_size": _PAGE_SIZE,
    "wagw.v1.BlockContactsRequest.chat_ids": {"minItems": 1, "maxItems": profiles.MAX_BLOCK},
    "wagw.v1.UnblockContactsRequest.chat_ids": {"minItems": 1, "maxItems": profiles.MAX_BLOCK},
    # Messages
    "wagw.v1.SendTextRequest.text": {"minLength": 1, "maxLength": content.MAX_TEXT},
    "wagw.v1.SendTextRequest.mentions": {"maxItems": messages.MAX_MENTIONS},
    "wagw.v1.SendTextRequest.idempotency_key": _IDEMPOTENCY_KEY,
    **{f"wagw.v1.Send{kind}Request.{field}": rule
       for kind in ("Image", "Video", "Document")
       for field, rule in (("caption", _CAPTION), ("idempotency_key", _IDEMPOTENCY_KEY))},
    **{f"wagw.v1.Send{kind}Request.idempotency_key": _IDEMPOTENCY_KEY
       for kind in ("Location", "Contact", "Poll", "Audio", "Sticker", "Template")},
    "wagw.v1.EditMessageRequest.text": {"minLength": 1, "maxLength": content.MAX_TEXT},
    "wagw.v1.Media.url": _MEDIA_URL,
    # Empty too: a message answers "" for media whose type is not known yet (a URL not downloaded).
    "wagw.v1.Media.mimetype": {"pattern": "^([a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*)?$"},
    "wagw.v1.Media.filename": {"maxLength": 255},
    "wagw.v1.Location.latitude": {"minimum": -90, "maximum": 90},
    "wagw.v1.Location.longitude": {"minimum": -180, "maximum": 180},
    "wagw.v1.Location.name": {"maxLength": 1000},
    "wagw.v1.Location.address": {"maxLength": 1000},
    "wagw.v1.Poll.question": {"minLength": 1, "maxLength": 255},
    "wagw.v1.Poll.options": {"minItems": content.POLL_OPTIONS[0], "maxItems": content.POLL_OPTIONS[1],
                             "uniqueItems": True, "items": {"minLength": 1, "maxLength": 100}},
    "wagw.v1.ListMessagesRequest.page_size": _PAGE_SIZE,
    # Chats
    "wagw.v1.ListChatsRequest.page_size": _PAGE_SIZE,
    "wagw.v1.ListChatMessagesRequest.page_size": _PAGE_SIZE,
    "wagw.v1.MarkChatReadRequest.message_ids": {"maxItems": chats.MAX_READ_IDS},
    # Bulk
    "wagw.v1.SendBulkRequest.messages": {"minItems": 1, "maxItems": bulk.MAX_ITEMS},
    "wagw.v1.SendBulkRequest.idempotency_key": _IDEMPOTENCY_KEY,
    "wagw.v1.BulkOptions.delay_between_messages": {"minimum": 0, "maximum": bulk.MAX_DELAY_MS},
    "wagw.v1.ListBatchesRequest.page_size": _PAGE_SIZE,
    "wagw.v1.GetBatchRequest.items_page_size": {"minimum": 0, "maximum": bulk.MAX_ITEMS_PAGE},
    # Groups
    "wagw.v1.ListGroupsRequest.page_size": _PAGE_SIZE,
    "wagw.v1.CreateGroupRequest.name": _GROUP_NAME,
    # None for a Cloud API profile, whose groups are joined by invite link.
    "wagw.v1.CreateGroupRequest.participants": {"maxItems": groups.MAX_PARTICIPANTS},
    "wagw.v1.UpdateGroupRequest.name": _GROUP_NAME,
    "wagw.v1.UpdateGroupRequest.description": {"maxLength": groups.MAX_DESCRIPTION},
    **{f"wagw.v1.{action}ParticipantsRequest.participants": _PARTICIPANTS
       for action in ("Add", "Remove", "Promote", "Demote")},
    # Contacts
    "wagw.v1.ListContactsRequest.page_size": _PAGE_SIZE,
    **{f"wagw.v1.{request}.{field}": rule
       for request in ("CreateContactRequest", "UpdateContactRequest")
       for field, rule in (("name", {"maxLength": 200}), ("email", {"maxLength": 254}),
                           ("notes", {"maxLength": 5000}))},
    "wagw.v1.CreateContactRequest.attributes": _STRING_MAP,
    "wagw.v1.CreateContactRequest.tags": _TAGS,
    # Merged into what the contact has: the totals (50 attributes, 50 tags) bound the sum, not the request.
    "wagw.v1.UpdateContactRequest.attributes": _STRING_MAP_ENTRIES,
    "wagw.v1.AddContactTagsRequest.tags": {"minItems": 1, "items": _TAG},
    # Webhooks
    "wagw.v1.ListWebhooksRequest.page_size": _PAGE_SIZE,
    "wagw.v1.ListWebhookDeliveriesRequest.page_size": _PAGE_SIZE,
    **{f"wagw.v1.{request}.{field}": rule
       for request in ("CreateWebhookRequest", "UpdateWebhookRequest")
       for field, rule in (("url", _WEBHOOK_URL), ("events", _EVENTS), ("secret", _WEBHOOK_SECRET),
                           ("description", {"maxLength": 500}))},
    "wagw.v1.CreateWebhookRequest.headers": _WEBHOOK_HEADERS,
    # Merged into the webhook's headers: the total of 20 bounds the sum, not the request.
    "wagw.v1.UpdateWebhookRequest.headers": _WEBHOOK_HEADER_ENTRIES,
    # Events
    "wagw.v1.ListEventsRequest.since": {"minimum": 0},
    "wagw.v1.ListEventsRequest.page_size": {"minimum": 0, "maximum": events.MAX_PAGE_SIZE},
    "wagw.v1.ListEventsRequest.events": _EVENTS,
    "wagw.v1.WatchEventsRequest.since": {"minimum": events.FROM_NOW},
    "wagw.v1.WatchEventsRequest.events": _EVENTS,
    # API keys
    "wagw.v1.ListApiKeysRequest.page_size": _PAGE_SIZE,
    "wagw.v1.CreateApiKeyRequest.name": _NAME,
    "wagw.v1.CreateApiKeyRequest.scopes": {"minItems": 1, "items": {"enum": sorted(VALID_SCOPES)}},
}

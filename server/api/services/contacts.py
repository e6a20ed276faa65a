"""ContactService: each profile's address book, with tags and free-form attributes."""

from __future__ import annotations

import grpc
import peewee
from google.protobuf import empty_pb2

from server.api.auth import current_principal, get_visible
from server.api.services.profiles import get_profile
from server.core import validation
from server.core.convert import to_timestamp
from server.core.db import utcnow, write_transaction
from server.core.errors import conflict, invalid
from server.core.ids import new_id
from server.core.models import Contact
from server.core.pagination import paginate
from server.core.phones import normalize_phone, phone_to_chat_id
from wagw.v1 import contacts_pb2, contacts_pb2_grpc


def to_proto(row: Contact) -> contacts_pb2.Contact:
    return contacts_pb2.Contact(
        id=row.id,
        profile_id=row.profile_id,
        phone_number=row.phone_number,
        chat_id=phone_to_chat_id(row.phone_number),
        name=row.name,
        email=row.email,
        notes=row.notes,
        tags=row.tags,
        attributes=row.attributes,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
    )


def _get_contact(contact_id: str) -> Contact:
    return get_visible(Contact.get_or_none(Contact.id == contact_id), "contact", contact_id)


def _save(row: Contact, *, insert: bool = False) -> Contact:
    """Write a new or changed contact; its phone number must stay unique within the profile."""
    row.updated_at = utcnow()
    try:
        with write_transaction(savepoint=True):
            row.save(force_insert=insert)
    except peewee.IntegrityError as exc:
        raise conflict(f"a contact with phone number {row.phone_number} already exists in profile "
                       f"'{row.profile_id}'") from exc
    return row


class ContactServicer(contacts_pb2_grpc.ContactServiceServicer):
    def ListContacts(self, request: contacts_pb2.ListContactsRequest, context: grpc.ServicerContext
                     ) -> contacts_pb2.ListContactsResponse:
        query = Contact.select()
        if request.profile_id:
            current_principal().require_profile(request.profile_id)
            query = query.where(Contact.profile == request.profile_id)
        allowed = current_principal().profile_ids
        if allowed is not None:
            query = query.where(Contact.profile.in_(sorted(allowed)))
        if request.tag:
            tag = validation.tags([request.tag], "tag")[0]
            # Matched in the stored JSON text; converter=False keeps the pattern from being JSON-encoded itself.
            query = query.where(Contact.tags ** peewee.Value(f'%"{tag}"%', converter=False))
        if request.query.strip():
            needle = request.query.strip().lower()
            query = query.where(
                peewee.fn.LOWER(Contact.name).contains(needle)
                | Contact.phone_number.contains(needle)
                | peewee.fn.LOWER(Contact.email).contains(needle)
            )
        rows, token, total = paginate(query, Contact.id, request.page_size, request.page_token)
        return contacts_pb2.ListContactsResponse(
            contacts=[to_proto(row) for row in rows], next_page_token=token, total_size=total
        )

    def CreateContact(self, request: contacts_pb2.CreateContactRequest, context: grpc.ServicerContext
                      ) -> contacts_pb2.Contact:
        if not request.profile_id:
            raise invalid("profileId", "is required")
        if not request.phone_number.strip():
            raise invalid("phoneNumber", "is required")
        phone_number = normalize_phone(request.phone_number, "phoneNumber")
        row = Contact(
            id=new_id("ct"),
            profile=get_profile(request.profile_id),
            phone_number=phone_number,
            name=validation.text(request.name, "name"),
            email=validation.email(request.email),
            notes=validation.text(request.notes, "notes", max_len=5000),
            tags=validation.tags(list(request.tags)),
            attributes=validation.string_map(dict(request.attributes), "attributes"),
        )
        return to_proto(_save(row, insert=True))

    def GetContact(self, request: contacts_pb2.GetContactRequest, context: grpc.ServicerContext
                   ) -> contacts_pb2.Contact:
        return to_proto(_get_contact(request.id))

    def UpdateContact(self, request: contacts_pb2.UpdateContactRequest, context: grpc.ServicerContext
                      ) -> contacts_pb2.Contact:
        row = _get_contact(request.id)
        if request.HasField("phone_number"):
            row.phone_number = normalize_phone(request.phone_number, "phoneNumber")
        if request.HasField("name"):
            row.name = validation.text(request.name, "name")
        if request.HasField("email"):
            row.email = validation.email(request.email)
        if request.HasField("notes"):
            row.notes = validation.text(request.notes, "notes", max_len=5000)
        if request.HasField("tags"):
            row.tags = validation.tags([
                value.string_value if value.WhichOneof("kind") == "string_value" else None
                for value in request.tags.values
            ])
        if request.attributes:
            merged = {**row.attributes, **request.attributes}
            row.attributes = validation.string_map({k: v for k, v in merged.items() if v}, "attributes")
        return to_proto(_save(row))

    def DeleteContact(self, request: contacts_pb2.DeleteContactRequest, context: grpc.ServicerContext
                      ) -> empty_pb2.Empty:
        row = _get_contact(request.id)
        with write_transaction():
            row.delete_instance()
        return empty_pb2.Empty()

    def AddContactTags(self, request: contacts_pb2.AddContactTagsRequest, context: grpc.ServicerContext
                       ) -> contacts_pb2.Contact:
        row = _get_contact(request.id)
        if not request.tags:
            raise invalid("tags", "give at least one tag")
        row.tags = validation.tags(row.tags + list(request.tags))
        return to_proto(_save(row))

"""ApiKeyService: create, list, revoke and delete the keys callers send as X-API-Key.

A caller never sees a key that reaches beyond its own profiles (to it such a key does not exist: NOT_FOUND),
and never creates, revokes or deletes one broader than itself, so a limited key cannot lock out the admin.
"""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from server.api import auth, streams
from server.core import models
from server.core.convert import from_timestamp, to_timestamp
from server.core.errors import forbidden, invalid, not_found
from server.core.pagination import paginate
from wagw.v1 import api_keys_pb2, api_keys_pb2_grpc


def _to_proto(row: models.ApiKey) -> api_keys_pb2.ApiKey:
    return api_keys_pb2.ApiKey(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=row.scopes,
        profile_ids=row.profile_ids,
        expire_time=to_timestamp(row.expires_at),
        revoke_time=to_timestamp(row.revoked_at),
        last_used_time=to_timestamp(row.last_used_at),
        create_time=to_timestamp(row.created_at),
    )


def _visible(principal: auth.Principal, row: models.ApiKey) -> bool:
    return principal.covers((), row.profile_ids)


def _get(principal: auth.Principal, key_id: str) -> models.ApiKey:
    if not key_id:
        raise invalid("id", "is required")
    row = models.ApiKey.get_or_none(models.ApiKey.id == key_id)
    if row is None or not _visible(principal, row):
        raise not_found("API key", key_id)
    return row


def _get_to_change(principal: auth.Principal, key_id: str) -> models.ApiKey:
    row = _get(principal, key_id)
    if not principal.covers(row.scopes, row.profile_ids):
        raise forbidden(f"API key '{key_id}' has more scopes or profiles than this credential")
    return row


class ApiKeyServicer(api_keys_pb2_grpc.ApiKeyServiceServicer):
    def __init__(self, hub: streams.Hub | None = None):
        self.hub = hub  # the key's open streams are told at once when it is revoked or deleted

    def ListApiKeys(
        self, request: api_keys_pb2.ListApiKeysRequest, context: grpc.ServicerContext
    ) -> api_keys_pb2.ListApiKeysResponse:
        principal = auth.current_principal()
        query = models.ApiKey.select()
        if principal.profile_ids is not None:
            # profile_ids is JSON text, which SQL cannot compare portably; the key table is small, so filter
            # the ids here and let the database paginate over them.
            candidates = models.ApiKey.select(models.ApiKey.id, models.ApiKey.profile_ids)
            visible = [row.id for row in candidates if _visible(principal, row)]
            query = query.where(models.ApiKey.id.in_(visible))
        rows, next_token, total = paginate(query, models.ApiKey.id, request.page_size, request.page_token)
        return api_keys_pb2.ListApiKeysResponse(
            api_keys=[_to_proto(row) for row in rows], next_page_token=next_token, total_size=total
        )

    def CreateApiKey(
        self, request: api_keys_pb2.CreateApiKeyRequest, context: grpc.ServicerContext
    ) -> api_keys_pb2.CreateApiKeyResponse:
        row, key = auth.create_api_key(
            request.name,
            list(request.scopes),
            list(request.profile_ids),
            from_timestamp(request.expire_time),
            granted_by=auth.current_principal(),
        )
        return api_keys_pb2.CreateApiKeyResponse(api_key=_to_proto(row), key=key)

    def GetApiKey(self, request: api_keys_pb2.GetApiKeyRequest, context: grpc.ServicerContext) -> api_keys_pb2.ApiKey:
        return _to_proto(_get(auth.current_principal(), request.id))

    def RevokeApiKey(
        self, request: api_keys_pb2.RevokeApiKeyRequest, context: grpc.ServicerContext
    ) -> api_keys_pb2.ApiKey:
        row = _get_to_change(auth.current_principal(), request.id)
        auth.revoke_api_key(row)
        self._recheck(row)
        return _to_proto(row)

    def DeleteApiKey(
        self, request: api_keys_pb2.DeleteApiKeyRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        row = _get_to_change(auth.current_principal(), request.id)
        auth.delete_api_key(row)
        self._recheck(row)
        return empty_pb2.Empty()

    def _recheck(self, row: models.ApiKey) -> None:
        if self.hub is not None:
            self.hub.recheck(auth.key_subject(row.id))

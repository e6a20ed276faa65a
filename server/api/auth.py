"""Who is calling and what they may do (DESIGN.md §3).

A request carries `X-API-Key: <key>` or `Authorization: Bearer <JWT or key>`. `authenticate` turns that into a
`Principal`: a subject, the scopes it holds and the profiles it may touch. The server's interceptor checks
`required_scope` of the method, then keeps the principal in a context variable for the servicers, which check
the profile of what they touch with `current_principal().require_profile(...)`.

Scopes are `*`, `<resource>:*`, `<resource>:read`, `<resource>:write`, `messages:send` and `bulk:send`.

An API server keeps the keys it has read for WAGW_KEY_CACHE_S (2 s), so a busy key costs no query per request. A
key revoked or deleted through this server is forgotten at once; one revoked elsewhere (another API server, the
CLI) stops working here within that time.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import jwt
import peewee

from server.core import models
from server.core.config import Settings
from server.core.db import utcnow, write_transaction
from server.core.errors import conflict, forbidden, invalid, not_found, unauthorized
from server.core.ids import new_id

log = logging.getLogger(__name__)

# gRPC service (in package wagw.v1) → the resource its scopes name.
SERVICE_RESOURCES = {
    "ProfileService": "profiles",
    "MessageService": "messages",
    "ChatService": "messages",
    "BulkService": "bulk",
    "GroupService": "groups",
    "ContactService": "contacts",
    "WebhookService": "webhooks",
    "EventService": "events",
    "ApiKeyService": "keys",
    # Listing a profile's WhatsApp templates is reading what it may send.
    "TemplateService": "messages",
}
# Sending gets a scope of its own, so a key can send without managing profiles, batches or anything else. What
# else a recipient sees as coming from the profile (reactions, edits, deletions, read receipts, typing) is sending
# too.
_SEND_SERVICES = {"MessageService", "BulkService"}
_SEND_METHODS = frozenset({
    "MessageService/ReactToMessage", "MessageService/EditMessage", "MessageService/DeleteMessage",
    "ChatService/MarkChatRead", "ChatService/SendChatPresence",
})
_READ_VERBS = ("Get", "List", "Watch")
# Questions to WhatsApp that change nothing, named for what they ask.
_READ_METHODS = frozenset({"ProfileService/CheckNumbers"})
# Infrastructure a load balancer or a tool calls without credentials.
_OPEN_SERVICE_PREFIXES = ("grpc.health.v1.", "grpc.reflection.")
# Methods whose callers cannot hold our credentials, so their servicer authenticates them itself: Meta's
# WhatsApp Cloud API webhooks, proven by the profile's own `verifyToken` (the subscription handshake) and
# `appSecret` (the HMAC of each notification), in server/services/cloudapi_webhooks.py. Exactly these
# methods skip key and JWT auth; a method added to their service stays closed until it is listed here.
HANDLER_AUTHENTICATED_METHODS = frozenset({
    "wagw.v1.CloudApiWebhookService/VerifyCloudApiWebhook",
    "wagw.v1.CloudApiWebhookService/ReceiveCloudApiWebhook",
})

VALID_SCOPES = frozenset(
    {"*", "messages:send", "bulk:send"}
    | {f"{resource}:{access}" for resource in SERVICE_RESOURCES.values() for access in ("*", "read", "write")}
)

MISSING_CREDENTIALS = "missing credentials: send X-API-Key or Authorization: Bearer"
_INVALID_KEY = "invalid API key"

# `wagw_<prefix>_<secret>`: the prefix finds the row, the secret (token_urlsafe(32): 43 characters) proves it.
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_KEY_FORMAT = re.compile(r"wagw_([a-z0-9]{8})_([A-Za-z0-9_-]{43,})")
# last_used_at is for people ("is this key still in use?"): minute resolution spares a write per request.
_LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
_JWT_LEEWAY = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. profile_ids None means every profile."""

    subject: str
    scopes: frozenset[str]
    profile_ids: frozenset[str] | None

    def has_scope(self, scope: str) -> bool:
        resource = scope.split(":", 1)[0]
        return "*" in self.scopes or scope in self.scopes or f"{resource}:*" in self.scopes

    def require_scope(self, scope: str) -> None:
        if not self.has_scope(scope):
            raise forbidden(f"missing scope '{scope}'")

    def can_access(self, profile_id: str | None) -> bool:
        """Whether the caller may touch `profile_id`; None or "" is something global, across all profiles."""
        if self.profile_ids is None:
            return True
        return bool(profile_id) and profile_id in self.profile_ids

    def require_profile(self, profile_id: str | None) -> None:
        if not self.can_access(profile_id):
            if profile_id:
                raise forbidden(f"not allowed on profile {profile_id}")
            raise forbidden("not allowed on resources of all profiles: this credential is limited to some")

    def covers(self, scopes: Iterable[str], profile_ids: Iterable[str] | None) -> bool:
        """Whether this caller may hand out a credential with these scopes and profiles (empty/None: all).

        Nobody can grant more than they hold, so a limited key cannot mint itself a broader one.
        """
        if not all(self.has_scope(scope) for scope in scopes):
            return False
        if self.profile_ids is None:
            return True
        wanted = set(profile_ids or ())
        return bool(wanted) and wanted <= self.profile_ids


T = TypeVar("T")

_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("wagw_principal", default=None)


def current_principal() -> Principal:
    """The caller of the RPC being served."""
    principal = _current.get()
    if principal is None:
        raise unauthorized(MISSING_CREDENTIALS)
    return principal


@contextlib.contextmanager
def principal_context(principal: Principal) -> Iterator[Principal]:
    """Make `principal` the current one for the body of the `with`."""
    token = _current.set(principal)
    try:
        yield principal
    finally:
        _current.reset(token)


def get_visible(row: T | None, kind: str, ident: str) -> T:
    """The row of a resource the caller asked for by id: NOT_FOUND alike when there is none and when it belongs
    to a profile the caller may not touch, so the ids of others cannot be probed. `row` has a `profile_id`
    (None: something global, which only unlimited callers see)."""
    if row is None or not current_principal().can_access(row.profile_id):
        raise not_found(kind, ident)
    return row


def required_scope(full_method: str) -> str | None:
    """The scope a method needs, from its path `/wagw.v1.<Service>/<Method>`; None for open methods (health,
    reflection) and for HANDLER_AUTHENTICATED_METHODS, which check their callers themselves.

    Get*/List*/Watch* (and _READ_METHODS) read, MessageService Send* and BulkService SendBulk send (and
    _SEND_METHODS), every other method writes.
    A method of a service not in SERVICE_RESOURCES needs `*`, so a new service is closed until it is mapped.
    """
    service_path, _, method = full_method.lstrip("/").partition("/")
    if service_path.startswith(_OPEN_SERVICE_PREFIXES) or full_method.lstrip("/") in HANDLER_AUTHENTICATED_METHODS:
        return None
    package, _, service = service_path.rpartition(".")
    resource = SERVICE_RESOURCES.get(service) if package == "wagw.v1" else None
    if resource is None:
        return "*"
    if (service in _SEND_SERVICES and method.startswith("Send")) or f"{service}/{method}" in _SEND_METHODS:
        return f"{resource}:send"
    if method.startswith(_READ_VERBS) or f"{service}/{method}" in _READ_METHODS:
        return f"{resource}:read"
    return f"{resource}:write"


def authenticate(metadata: Mapping[str, str], settings: Settings) -> Principal:
    """The caller, from lower-case gRPC metadata; raises UNAUTHORIZED when the credentials do not hold."""
    api_key = metadata.get("x-api-key", "").strip()
    if api_key:
        return _authenticate_key(api_key, settings.key_cache_s)
    scheme, _, token = metadata.get("authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized(MISSING_CREDENTIALS)
    # A key also works as a bearer token, for clients that can only set Authorization.
    if _KEY_FORMAT.fullmatch(token):
        return _authenticate_key(token, settings.key_cache_s)
    return _authenticate_jwt(token, settings)


# --- API keys ---


def _hash_secret(secret: str) -> str:
    # The secret is 256 random bits, so a fast hash is enough: there is nothing to guess, and a slow KDF
    # (bcrypt, scrypt) would only add latency to every request.
    return hashlib.sha256(secret.encode()).hexdigest()


def key_subject(key_id: str) -> str:
    """The subject of an API key's principal (in logs, and what the stream cap counts by)."""
    return f"key:{key_id}"


class KeyCache:
    """API keys as read from the database, by prefix, each trusted for `ttl_s` seconds after it was read."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._rows: dict[str, tuple[float, models.ApiKey, Principal]] = {}

    def get(self, prefix: str, ttl_s: float) -> tuple[models.ApiKey, Principal] | None:
        entry = self._rows.get(prefix)
        if entry is None or self._clock() - entry[0] >= ttl_s:
            return None
        return entry[1], entry[2]

    def put(self, row: models.ApiKey, ttl_s: float) -> tuple[models.ApiKey, Principal]:
        principal = Principal(subject=key_subject(row.id), scopes=frozenset(row.scopes),
                              profile_ids=frozenset(row.profile_ids) or None)
        if ttl_s > 0:
            self._rows[row.prefix] = (self._clock(), row, principal)
        return row, principal

    def forget(self, prefix: str) -> None:
        self._rows.pop(prefix, None)


_keys = KeyCache()


def _authenticate_key(key: str, ttl_s: float) -> Principal:
    match = _KEY_FORMAT.fullmatch(key)
    if match is None:
        raise unauthorized(_INVALID_KEY)
    prefix, secret = match.groups()
    cached = _keys.get(prefix, ttl_s)
    if cached is None:
        found = models.ApiKey.get_or_none(models.ApiKey.prefix == prefix)
        cached = _keys.put(found, ttl_s) if found is not None else None
    # The prefix is a public lookup handle, so answering an unknown one faster reveals nothing; the secret is
    # compared in constant time. Revoked and expired are told only to someone who holds the whole key.
    if cached is None or not hmac.compare_digest(cached[0].key_hash, _hash_secret(secret)):
        raise unauthorized(_INVALID_KEY)
    row, principal = cached
    now = utcnow()
    if row.revoked_at is not None:
        raise unauthorized("API key has been revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise unauthorized("API key has expired")
    if row.last_used_at is None or now - row.last_used_at >= _LAST_USED_RESOLUTION:
        # Conditional, so concurrent requests on several servers write once per minute between them.
        last_used = models.ApiKey.last_used_at
        models.ApiKey.update(last_used_at=now).where(
            models.ApiKey.id == row.id,
            last_used.is_null() | (last_used <= now - _LAST_USED_RESOLUTION),
        ).execute()
        row.last_used_at = now
    return principal


def validate_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes, deduplicated in order; VALIDATION_ERROR naming `scopes` if one is unknown or none given."""
    wanted = list(dict.fromkeys(scope.strip() for scope in scopes))
    if not wanted:
        raise invalid("scopes", "give at least one scope")
    for scope in wanted:
        if scope not in VALID_SCOPES:
            resources = ", ".join(SERVICE_RESOURCES.values())
            raise invalid(
                "scopes",
                f"unknown scope '{scope}': use *, <resource>:*, <resource>:read, <resource>:write, "
                f"messages:send or bulk:send, with a resource of {resources}",
            )
    return wanted


def create_api_key(
    name: str,
    scopes: list[str],
    profile_ids: list[str],
    expires_at: dt.datetime | None,
    *,
    granted_by: Principal | None = None,
) -> tuple[models.ApiKey, str]:
    """Store a new key and return it with its plaintext, which exists nowhere else afterwards.

    With `granted_by`, refuse (FORBIDDEN) a key broader than that caller; validation comes first, so a typo
    in a scope reads as a typo rather than as a permission problem.
    """
    name = name.strip()
    if not name or len(name) > 200:
        raise invalid("name", "must be 1 to 200 characters")
    scopes = validate_scopes(scopes)
    profile_ids = list(dict.fromkeys(profile.strip() for profile in profile_ids))
    if "" in profile_ids:
        raise invalid("profileIds", "must not contain an empty id")
    if expires_at is not None:
        if expires_at.tzinfo is not None:
            expires_at = expires_at.astimezone(dt.UTC).replace(tzinfo=None)
        if expires_at <= utcnow():
            raise invalid("expireTime", "must be in the future")
    if granted_by is not None and not granted_by.covers(scopes, profile_ids):
        raise forbidden("a key cannot have more scopes or profiles than the credential creating it")
    return _insert_key(name, scopes, profile_ids, expires_at)


def _new_key() -> tuple[str, str, str]:
    """(prefix, secret, whole key)."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
    secret = secrets.token_urlsafe(32)
    return prefix, secret, f"wagw_{prefix}_{secret}"


def _insert_key(
    name: str, scopes: list[str], profile_ids: list[str], expires_at: dt.datetime | None, attempts: int = 3
) -> tuple[models.ApiKey, str]:
    prefix, secret, key = _new_key()
    try:
        with write_transaction(savepoint=True):
            row = models.ApiKey.create(
                id=new_id("key"),
                name=name,
                prefix=prefix,
                key_hash=_hash_secret(secret),
                scopes=scopes,
                profile_ids=profile_ids,
                expires_at=expires_at,
            )
    except peewee.IntegrityError:
        # 36^8 prefixes make a clash very rare, but the unique index turns one into an error: draw again.
        if attempts == 1:
            raise
        return _insert_key(name, scopes, profile_ids, expires_at, attempts - 1)
    return row, key


def revoke_api_key(key: models.ApiKey) -> None:
    """Revoke `key` now; CONFLICT if it already is."""
    now = utcnow()
    # Conditional, so of two concurrent revokes exactly one wins and the other gets the conflict.
    updated = models.ApiKey.update(revoked_at=now).where(
        models.ApiKey.id == key.id, models.ApiKey.revoked_at.is_null()
    ).execute()
    _keys.forget(key.prefix)
    if not updated:
        raise conflict(f"API key '{key.id}' is already revoked", state=True)
    key.revoked_at = now


def delete_api_key(key: models.ApiKey) -> None:
    """Delete `key`: it stops working at once on this server (within WAGW_KEY_CACHE_S on others)."""
    key.delete_instance()
    _keys.forget(key.prefix)


def ensure_configured_admin_key(settings: Settings) -> bool:
    """With WAGW_ADMIN_API_KEY set, make sure that exact key exists as an unrestricted, unrevoked "admin" key (the
    environment is the source of truth for it): every API server does this at start, so the key works whichever
    process was started first. Safe from several processes at once (one upsert). Returns whether a key was set."""
    configured = settings.admin_api_key.strip()
    if not configured:
        return False
    match = _KEY_FORMAT.fullmatch(configured)
    if match is None:
        log.warning("WAGW_ADMIN_API_KEY is not of the form wagw_<8 of a-z0-9>_<43+ of A-Za-z0-9_->; ignored")
        return False
    prefix, secret = match.groups()
    admin: dict[str, Any] = {"name": "admin", "key_hash": _hash_secret(secret), "scopes": ["*"], "profile_ids": [],
                             "expires_at": None, "revoked_at": None}
    with write_transaction():
        models.ApiKey.insert(id=new_id("key"), prefix=prefix, **admin).on_conflict(
            conflict_target=[models.ApiKey.prefix],
            update={getattr(models.ApiKey, name): value for name, value in admin.items()}).execute()
    _keys.forget(prefix)
    return True


def ensure_admin_key(settings: Settings) -> str | None:
    """Make sure someone can administer the gateway (`make run`): the configured key (see
    ensure_configured_admin_key), or else, on a database without any key, a first admin key, made and returned
    once for the launcher to print."""
    if ensure_configured_admin_key(settings):
        return None
    with write_transaction():
        if models.ApiKey.select().exists():
            return None
        _, key = _insert_key("admin", ["*"], [], None)
        return key


# --- JWT ---


def _authenticate_jwt(token: str, settings: Settings) -> Principal:
    if not (settings.jwt_secret or settings.jwt_jwks_file):
        raise unauthorized("JWT auth is not configured")
    try:
        header = jwt.get_unverified_header(token)
        # Each key is used only with its own algorithm, so an RS256 public key can never verify an HS256 MAC.
        algorithm = header.get("alg")
        if algorithm == "RS256" and settings.jwt_jwks_file:
            key: Any = _jwks_key(settings.jwt_jwks_file, header.get("kid"))
        elif algorithm == "HS256" and settings.jwt_secret:
            key = settings.jwt_secret
        else:
            raise unauthorized(f"JWT algorithm '{algorithm}' is not accepted")
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=settings.jwt_audience or None,
            issuer=settings.jwt_issuer or None,
            leeway=_JWT_LEEWAY,
            # Without a configured audience, a token's `aud` is someone else's business.
            options={"require": ["exp", "sub"], "verify_aud": bool(settings.jwt_audience)},
        )
    except jwt.InvalidTokenError as error:  # PyJWT's messages name the reason and never echo the token
        raise unauthorized(f"invalid JWT: {error}") from None
    return _jwt_principal(claims)


def _jwks_key(path: str, kid: str | None) -> Any:
    keys = _load_jwks(path, os.stat(path).st_mtime_ns)
    if kid is None:
        if len(keys.keys) != 1:
            raise unauthorized("invalid JWT: no kid in the header, and the JWKS has several keys")
        return keys.keys[0].key
    try:
        return keys[kid].key
    except KeyError:
        raise unauthorized(f"invalid JWT: unknown kid '{kid}'") from None


@functools.lru_cache(maxsize=4)
def _load_jwks(path: str, mtime_ns: int) -> jwt.PyJWKSet:
    """The JWKS file, parsed once per version: keyed by mtime, so a rotated file needs no restart."""
    with open(path, encoding="utf-8") as file:
        return jwt.PyJWKSet.from_json(file.read())


def _jwt_principal(claims: Mapping[str, Any]) -> Principal:
    scopes: set[str] = set()
    if "scope" in claims:
        if not isinstance(claims["scope"], str):
            raise unauthorized("invalid JWT: the scope claim must be a space-separated string")
        scopes.update(claims["scope"].split())
    if "scopes" in claims:
        scopes.update(_string_list(claims["scopes"], "scopes"))
    profiles = _string_list(claims.get("profiles", []), "profiles")
    return Principal(
        subject=f"jwt:{claims['sub']}",
        scopes=frozenset(scopes),
        profile_ids=frozenset(profiles) or None,
    )


def _string_list(value: Any, claim: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise unauthorized(f"invalid JWT: the {claim} claim must be a list of strings")
    return value

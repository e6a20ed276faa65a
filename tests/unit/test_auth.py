"""Auth: API keys, JWTs (HS256 and RS256 via JWKS), scopes, profile limits, the key service and the CLI.

Storage tests run on SQLite and on PostgreSQL. grpcio-testing runs each handler on a thread of its own, where
the principal's context variable is not set, so the servicer is tested by calling its methods directly (as the
interceptor would, inside principal_context) with a stand-in context.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import grpc
import jwt
import peewee
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from server.api import auth
from server.api.auth import Principal, principal_context
from server.api.services.api_keys import ApiKeyServicer
from server.core import models
from server.core.config import (
    ROOT,
    Settings,
)
from server.core.db import open_database, utcnow
from server.core.errors import ApiError
from server.core.migrations import migrate
from tests.support.stack import postgres_database
from wagw.v1 import api_keys_pb2

HS_SECRET = "a-test-secret-of-at-least-thirty-two-bytes"


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[peewee.Database]:
    if request.param == "sqlite":
        db = open_database(f"sqlite:///{tmp_path / 'auth.db'}")
        migrate()
        yield db
        db.close()
        return
    with postgres_database() as url:
        db = open_database(url)
        try:
            migrate()
            yield db
        finally:
            db.close()
            db.close_all()


class Clock:
    """The key cache's clock (seconds), moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def key_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A fresh key cache for each test, on a clock of its own."""
    clock = Clock()
    monkeypatch.setattr(auth, "_keys", auth.KeyCache(clock))
    return clock


def settings(**overrides: object) -> Settings:
    base = {"jwt_secret": "", "jwt_jwks_file": "", "jwt_issuer": "", "jwt_audience": "", "admin_api_key": ""}
    return Settings(**{**base, **overrides})


def raises(code: str, match: str | None = None) -> pytest.RaisesExc[ApiError]:
    """pytest.raises for an ApiError with this code (and a message matching `match`)."""
    return pytest.raises(ApiError, match=match, check=lambda error: error.code == code)


def admin() -> Principal:
    return Principal("test:admin", frozenset({"*"}), None)


# --- Principal, scopes and methods ---


def test_scope_rules() -> None:
    contacts = Principal("p", frozenset({"contacts:*", "messages:send"}), None)
    assert contacts.has_scope("contacts:read")
    assert contacts.has_scope("contacts:write")
    assert contacts.has_scope("contacts:*")
    assert contacts.has_scope("messages:send")
    assert not contacts.has_scope("messages:read")
    assert not contacts.has_scope("groups:read")
    assert not contacts.has_scope("*")
    assert admin().has_scope("webhooks:write")
    contacts.require_scope("contacts:write")
    with raises("FORBIDDEN", "missing scope 'groups:write'"):
        contacts.require_scope("groups:write")


def test_validate_scopes() -> None:
    assert auth.validate_scopes(["*", "contacts:*", "keys:read", "bulk:send", "bulk:send"]) == [
        "*", "contacts:*", "keys:read", "bulk:send"
    ]
    for bad in (["contacts:send"], ["profiles:admin"], ["nothing:read"], ["read"], []):
        with raises("VALIDATION_ERROR", "^scopes: "):
            auth.validate_scopes(bad)


@pytest.mark.parametrize(
    ("method", "scope"),
    [
        ("/wagw.v1.ProfileService/ListProfiles", "profiles:read"),
        ("/wagw.v1.ProfileService/GetProfileQr", "profiles:read"),
        ("/wagw.v1.ProfileService/ConnectProfile", "profiles:write"),
        ("/wagw.v1.MessageService/SendText", "messages:send"),
        ("/wagw.v1.MessageService/SendPoll", "messages:send"),
        ("/wagw.v1.MessageService/GetMessage", "messages:read"),
        ("/wagw.v1.BulkService/SendBulk", "bulk:send"),
        ("/wagw.v1.BulkService/WatchBatch", "bulk:read"),
        ("/wagw.v1.BulkService/CancelBatch", "bulk:write"),
        ("/wagw.v1.GroupService/AddParticipants", "groups:write"),
        ("/wagw.v1.ContactService/AddContactTags", "contacts:write"),
        ("/wagw.v1.WebhookService/TestWebhook", "webhooks:write"),
        ("/wagw.v1.EventService/WatchEvents", "events:read"),
        ("/wagw.v1.ApiKeyService/CreateApiKey", "keys:write"),
        ("/wagw.v1.ApiKeyService/ListApiKeys", "keys:read"),
        ("/wagw.v1.ProfileService/CheckNumbers", "profiles:read"),  # a question that changes nothing
        ("/grpc.health.v1.Health/Check", None),
        ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", None),
        ("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", None),
        # Meta's webhooks: the servicer checks the profile's verifyToken / appSecret signature instead.
        ("/wagw.v1.CloudApiWebhookService/VerifyCloudApiWebhook", None),
        ("/wagw.v1.CloudApiWebhookService/ReceiveCloudApiWebhook", None),
        ("/wagw.v1.CloudApiWebhookService/OtherMethod", "*"),
        # Not mapped: closed to all but `*`.
        ("/wagw.v1.FutureService/DoThing", "*"),
        ("/other.v1.ProfileService/ListProfiles", "*"),
    ],
)
def test_required_scope(method: str, scope: str | None) -> None:
    assert auth.required_scope(method) == scope


def test_require_profile() -> None:
    limited = Principal("p", frozenset({"*"}), frozenset({"pa"}))
    assert limited.can_access("pa")
    assert not limited.can_access("pb")
    assert not limited.can_access(None)
    assert not limited.can_access("")
    limited.require_profile("pa")
    with raises("FORBIDDEN", "not allowed on profile pb"):
        limited.require_profile("pb")
    with raises("FORBIDDEN", "all profiles"):
        limited.require_profile(None)
    assert admin().can_access(None)
    admin().require_profile("anything")


def test_covers() -> None:
    boss = admin()
    assert boss.covers(["*"], [])
    limited = Principal("p", frozenset({"keys:*", "contacts:read", "messages:send"}), frozenset({"pa", "pb"}))
    assert limited.covers(["contacts:read", "messages:send"], ["pa"])
    assert limited.covers(["keys:*", "keys:read"], ["pa", "pb"])
    assert limited.covers([], ["pb"])
    assert not limited.covers(["*"], ["pa"])
    assert not limited.covers(["contacts:*"], ["pa"])
    assert not limited.covers(["contacts:write"], ["pa"])
    assert not limited.covers(["contacts:read"], ["pc"])
    # No profiles means all of them: more than pa and pb.
    assert not limited.covers(["contacts:read"], [])
    assert not limited.covers(["contacts:read"], None)
    everywhere = Principal("q", frozenset({"contacts:*"}), None)
    assert everywhere.covers(["contacts:read"], [])
    assert not everywhere.covers(["messages:send"], [])


def test_principal_context() -> None:
    with raises("UNAUTHORIZED", "missing credentials"):
        auth.current_principal()
    outer, inner = admin(), Principal("inner", frozenset(), None)
    with principal_context(outer):
        assert auth.current_principal() is outer
        with principal_context(inner):
            assert auth.current_principal() is inner
        assert auth.current_principal() is outer
    with raises("UNAUTHORIZED"):
        auth.current_principal()


# --- API keys ---


def test_create_and_authenticate(database: peewee.Database) -> None:
    row, key = auth.create_api_key(" sender ", ["messages:send", "profiles:read"], ["pa"], None)
    assert row.name == "sender"
    _, prefix, secret = key.split("_", 2)
    assert key.startswith("wagw_") and prefix == row.prefix and len(prefix) == 8 and len(secret) >= 43
    principal = auth.authenticate({"x-api-key": key}, settings())
    assert principal == Principal(f"key:{row.id}", frozenset({"messages:send", "profiles:read"}), frozenset({"pa"}))
    # A key is also accepted as a bearer token.
    assert auth.authenticate({"authorization": f"Bearer {key}"}, settings()) == principal
    _, other_key = auth.create_api_key("all", ["*"], [], None)
    assert auth.authenticate({"x-api-key": other_key}, settings()).profile_ids is None


def test_only_a_hash_is_stored(database: peewee.Database) -> None:
    row, key = auth.create_api_key("k", ["*"], [], None)
    secret = key.split("_", 2)[2]
    stored = models.ApiKey.get_by_id(row.id)
    assert stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    for value in stored.__data__.values():
        assert secret not in str(value)
        assert key not in str(value)


def test_last_used_is_written_at_most_once_a_minute(database: peewee.Database, key_clock: Clock) -> None:
    row, key = auth.create_api_key("k", ["*"], [], None)
    assert models.ApiKey.get_by_id(row.id).last_used_at is None
    auth.authenticate({"x-api-key": key}, settings())
    first = models.ApiKey.get_by_id(row.id).last_used_at
    assert first is not None and abs(utcnow() - first) < dt.timedelta(seconds=5)
    time.sleep(0.01)
    auth.authenticate({"x-api-key": key}, settings())
    assert models.ApiKey.get_by_id(row.id).last_used_at == first
    earlier = utcnow() - dt.timedelta(minutes=2)
    models.ApiKey.update(last_used_at=earlier).where(models.ApiKey.id == row.id).execute()
    key_clock.now += settings().key_cache_s  # the cached row is read again
    auth.authenticate({"x-api-key": key}, settings())
    assert models.ApiKey.get_by_id(row.id).last_used_at > earlier + dt.timedelta(minutes=1)


@pytest.mark.parametrize(
    "metadata",
    [{}, {"authorization": "Basic dXNlcjpwYXNz"}, {"authorization": "Bearer "}, {"authorization": "Bearer"},
     {"x-api-key": "  "}],
)
def test_missing_credentials(metadata: dict[str, str]) -> None:
    with raises("UNAUTHORIZED", "^missing credentials: send X-API-Key or Authorization: Bearer$"):
        auth.authenticate(metadata, settings())


def test_bad_unknown_revoked_and_expired_keys(database: peewee.Database, key_clock: Clock) -> None:
    row, key = auth.create_api_key("k", ["*"], [], None)
    prefix, secret = key.split("_", 2)[1:]
    wrong_secret = f"wagw_{prefix}_{secrets.token_urlsafe(32)}"
    unknown_prefix = f"wagw_zzzzzzzz_{secret}"
    for bad in ("not-a-key", f"wagw_{prefix}_short", wrong_secret, unknown_prefix):
        with raises("UNAUTHORIZED", "^invalid API key$"):
            auth.authenticate({"x-api-key": bad}, settings())

    auth.revoke_api_key(row)
    with raises("UNAUTHORIZED", "revoked"):
        auth.authenticate({"x-api-key": key}, settings())

    soon = utcnow() + dt.timedelta(seconds=60)
    expiring, expiring_key = auth.create_api_key("soon", ["*"], [], soon)
    assert auth.authenticate({"x-api-key": expiring_key}, settings())
    models.ApiKey.update(expires_at=utcnow() - dt.timedelta(seconds=1)).where(
        models.ApiKey.id == expiring.id
    ).execute()
    key_clock.now += settings().key_cache_s
    with raises("UNAUTHORIZED", "expired"):
        auth.authenticate({"x-api-key": expiring_key}, settings())


def test_a_key_revoked_elsewhere_stops_working_within_the_cache_time(database: peewee.Database,
                                                                     key_clock: Clock) -> None:
    """Another process (the CLI, another API server) revokes a key behind this server's cache: refused once the
    cached row is WAGW_KEY_CACHE_S old, not later; revoked or deleted here, refused at once."""
    ttl = settings().key_cache_s
    assert ttl == 2.0  # the documented default
    row, key = auth.create_api_key("k", ["*"], [], None)
    auth.authenticate({"x-api-key": key}, settings())
    models.ApiKey.update(revoked_at=utcnow()).where(models.ApiKey.id == row.id).execute()
    key_clock.now += ttl - 0.1
    auth.authenticate({"x-api-key": key}, settings())  # still the row read before the revoke
    key_clock.now += 0.1
    with raises("UNAUTHORIZED", "revoked"):
        auth.authenticate({"x-api-key": key}, settings())
    # Without a cache, every request reads the row.
    other, other_key = auth.create_api_key("other", ["*"], [], None)
    auth.authenticate({"x-api-key": other_key}, settings(key_cache_s=0))
    models.ApiKey.update(revoked_at=utcnow()).where(models.ApiKey.id == other.id).execute()
    with raises("UNAUTHORIZED", "revoked"):
        auth.authenticate({"x-api-key": other_key}, settings(key_cache_s=0))


@pytest.mark.parametrize("change", ["revoke", "delete"])
def test_a_key_revoked_or_deleted_here_stops_working_at_once(database: peewee.Database, change: str) -> None:
    row, key = auth.create_api_key("k", ["*"], [], None)
    auth.authenticate({"x-api-key": key}, settings())  # cached
    if change == "revoke":
        auth.revoke_api_key(row)
    else:
        auth.delete_api_key(row)
    with raises("UNAUTHORIZED", "revoked" if change == "revoke" else "^invalid API key$"):
        auth.authenticate({"x-api-key": key}, settings())


def test_create_validation(database: peewee.Database) -> None:
    with raises("VALIDATION_ERROR", "^name: "):
        auth.create_api_key("  ", ["*"], [], None)
    with raises("VALIDATION_ERROR", "^name: "):
        auth.create_api_key("x" * 201, ["*"], [], None)
    with raises("VALIDATION_ERROR", "^scopes: "):
        auth.create_api_key("k", [], [], None)
    with raises("VALIDATION_ERROR", "^scopes: unknown scope 'messages:admin'"):
        auth.create_api_key("k", ["messages:admin"], [], None)
    with raises("VALIDATION_ERROR", "^profileIds: "):
        auth.create_api_key("k", ["*"], [""], None)
    with raises("VALIDATION_ERROR", "^expireTime: "):
        auth.create_api_key("k", ["*"], [], utcnow() - dt.timedelta(seconds=1))
    row, _ = auth.create_api_key("k", ["*"], [], dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    assert row.expires_at.tzinfo is None and row.expires_at > utcnow()
    assert models.ApiKey.select().count() == 1


def test_ensure_admin_key_makes_a_first_key(database: peewee.Database) -> None:
    key = auth.ensure_admin_key(settings())
    assert key is not None
    assert auth.authenticate({"x-api-key": key}, settings()).scopes == frozenset({"*"})
    assert auth.ensure_admin_key(settings()) is None
    assert models.ApiKey.select().count() == 1


def test_ensure_admin_key_from_the_environment(database: peewee.Database) -> None:
    configured = f"wagw_adm1n000_{secrets.token_urlsafe(32)}"
    auth.create_api_key("other", ["contacts:read"], [], None)
    assert auth.ensure_admin_key(settings(admin_api_key=configured)) is None
    principal = auth.authenticate({"x-api-key": configured}, settings())
    assert principal.scopes == frozenset({"*"}) and principal.profile_ids is None
    row = models.ApiKey.get(models.ApiKey.prefix == "adm1n000")
    assert row.name == "admin"
    # The environment wins over a revoke through the API, and a second start changes nothing.
    auth.revoke_api_key(row)
    assert auth.ensure_admin_key(settings(admin_api_key=configured)) is None
    assert auth.authenticate({"x-api-key": configured}, settings()).scopes == frozenset({"*"})
    assert models.ApiKey.select().count() == 2


def test_ensure_admin_key_ignores_a_malformed_setting(
    database: peewee.Database, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        key = auth.ensure_admin_key(settings(admin_api_key="hunter2-not-a-key"))
    assert key is not None
    assert "WAGW_ADMIN_API_KEY" in caplog.text and "hunter2" not in caplog.text


# --- JWT ---


def hs_token(secret: str = HS_SECRET, **claims: object) -> str:
    body = {"sub": "alice", "exp": int(time.time()) + 300, "scope": "messages:send profiles:read", **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, secret, algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_jwt_hs256() -> None:
    config = settings(jwt_secret=HS_SECRET, jwt_issuer="https://issuer", jwt_audience="wagw")
    ok = hs_token(iss="https://issuer", aud="wagw")
    principal = auth.authenticate(bearer(ok), config)
    assert principal == Principal("jwt:alice", frozenset({"messages:send", "profiles:read"}), None)
    # Within the 30 s leeway, an expired token still passes.
    assert auth.authenticate(bearer(hs_token(iss="https://issuer", aud="wagw", exp=int(time.time()) - 10)), config)

    cases = {
        "expired": hs_token(iss="https://issuer", aud="wagw", exp=int(time.time()) - 60),
        "Signature verification failed": hs_token(secret="another-secret-of-at-least-32-bytes!!", iss="https://issuer",
                                                  aud="wagw"),
        "Audience": hs_token(iss="https://issuer", aud="someone-else"),
        "issuer": hs_token(iss="https://elsewhere", aud="wagw"),
        '"exp"': hs_token(iss="https://issuer", aud="wagw", exp=None),
        '"sub"': hs_token(iss="https://issuer", aud="wagw", sub=None),
        "invalid JWT": "not.a.jwt",
    }
    for reason, token in cases.items():
        with raises("UNAUTHORIZED", reason):
            auth.authenticate(bearer(token), config)


def test_jwt_not_configured() -> None:
    with raises("UNAUTHORIZED", "^JWT auth is not configured$"):
        auth.authenticate(bearer(hs_token()), settings())


def test_jwt_without_configured_audience_ignores_aud() -> None:
    assert auth.authenticate(bearer(hs_token(aud="anyone")), settings(jwt_secret=HS_SECRET))


def test_jwt_claims() -> None:
    config = settings(jwt_secret=HS_SECRET)
    listed = auth.authenticate(bearer(hs_token(scope=None, scopes=["contacts:*"], profiles=["pa", "pb"])), config)
    assert listed.scopes == frozenset({"contacts:*"}) and listed.profile_ids == frozenset({"pa", "pb"})
    everywhere = auth.authenticate(bearer(hs_token(profiles=[])), config)
    assert everywhere.profile_ids is None
    nothing = auth.authenticate(bearer(hs_token(scope=None)), config)
    assert nothing.scopes == frozenset()
    with raises("UNAUTHORIZED", "profiles claim"):
        auth.authenticate(bearer(hs_token(profiles="pa")), config)
    with raises("UNAUTHORIZED", "scope claim"):
        auth.authenticate(bearer(hs_token(scope=["a"])), config)


@pytest.fixture
def jwks(tmp_path: Path) -> tuple[Path, dict[str, rsa.RSAPrivateKey]]:
    private = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("k1", "k2")}
    keys = [
        {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "use": "sig", "alg": "RS256"}
        for kid, key in private.items()
    ]
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": keys}))
    return path, private


def rs_token(key: rsa.RSAPrivateKey, kid: str | None, **claims: object) -> str:
    body = {"sub": "svc", "exp": int(time.time()) + 300, "aud": "wagw", **claims}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid} if kid else None)


def test_jwt_rs256_jwks(jwks: tuple[Path, dict[str, rsa.RSAPrivateKey]]) -> None:
    path, private = jwks
    config = settings(jwt_jwks_file=str(path), jwt_audience="wagw")
    for kid in ("k1", "k2"):
        principal = auth.authenticate(bearer(rs_token(private[kid], kid, scopes=["bulk:send"])), config)
        assert principal == Principal("jwt:svc", frozenset({"bulk:send"}), None)
    with raises("UNAUTHORIZED", "Signature verification failed"):
        auth.authenticate(bearer(rs_token(private["k1"], "k2")), config)
    with raises("UNAUTHORIZED", "unknown kid 'k9'"):
        auth.authenticate(bearer(rs_token(private["k1"], "k9")), config)
    with raises("UNAUTHORIZED", "no kid"):
        auth.authenticate(bearer(rs_token(private["k1"], None)), config)
    with raises("UNAUTHORIZED", "Audience"):
        auth.authenticate(bearer(rs_token(private["k1"], "k1", aud="other")), config)
    # Only RS256 is configured: an HS256 token (say, MACed with the public key) is refused outright.
    with raises("UNAUTHORIZED", "algorithm 'HS256' is not accepted"):
        auth.authenticate(bearer(hs_token()), config)


def test_jwks_file_is_reread_when_it_changes(jwks: tuple[Path, dict[str, rsa.RSAPrivateKey]]) -> None:
    path, private = jwks
    config = settings(jwt_jwks_file=str(path), jwt_audience="wagw")
    assert auth.authenticate(bearer(rs_token(private["k2"], "k2")), config)
    only_k1 = {"keys": [k for k in json.loads(path.read_text())["keys"] if k["kid"] == "k1"]}
    path.write_text(json.dumps(only_k1))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    with raises("UNAUTHORIZED", "unknown kid 'k2'"):
        auth.authenticate(bearer(rs_token(private["k2"], "k2")), config)
    # With a single key, a token without a kid is accepted.
    assert auth.authenticate(bearer(rs_token(private["k1"], None)), config)


# --- ApiKeyService ---

CONTEXT = mock.Mock(spec=grpc.ServicerContext)


def call(principal: Principal, method: str, request: object) -> object:
    """An RPC as the interceptor runs it: the caller in context around the servicer method."""
    with principal_context(principal):
        return getattr(ApiKeyServicer(), method)(request, CONTEXT)


def create(principal: Principal, name: str, scopes: list[str], profiles: list[str] | None = None) -> object:
    request = api_keys_pb2.CreateApiKeyRequest(name=name, scopes=scopes, profile_ids=profiles or [])
    return call(principal, "CreateApiKey", request)


def test_service_create_shows_the_key_once(database: peewee.Database) -> None:
    expire = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=7)
    request = api_keys_pb2.CreateApiKeyRequest(name="bot", scopes=["messages:send"], profile_ids=["pa"])
    request.expire_time.FromDatetime(expire)
    created = call(admin(), "CreateApiKey", request)
    api_key = created.api_key
    assert (api_key.name, list(api_key.scopes), list(api_key.profile_ids)) == ("bot", ["messages:send"], ["pa"])
    assert created.key.startswith(f"wagw_{api_key.prefix}_")
    assert api_key.expire_time.ToDatetime(dt.UTC) == expire
    assert api_key.HasField("create_time") and not api_key.HasField("revoke_time")
    stored = models.ApiKey.get_by_id(api_key.id)
    assert stored.key_hash == hashlib.sha256(created.key.split("_", 2)[2].encode()).hexdigest()
    # Afterwards the key is nowhere in what the service answers.
    fetched = call(admin(), "GetApiKey", api_keys_pb2.GetApiKeyRequest(id=api_key.id))
    assert fetched == api_key and created.key.split("_", 2)[2] not in str(fetched)
    assert auth.authenticate({"x-api-key": created.key}, settings()).scopes == frozenset({"messages:send"})


def test_service_refuses_escalation(database: peewee.Database) -> None:
    manager = Principal("m", frozenset({"keys:*", "messages:send"}), frozenset({"pa"}))
    assert create(manager, "ok", ["messages:send"], ["pa"]).api_key.id
    for scopes, profiles in ((["*"], ["pa"]), (["messages:send"], []), (["messages:send"], ["pb"]),
                             (["contacts:read"], ["pa"]), (["keys:*", "messages:*"], ["pa"])):
        with raises("FORBIDDEN", "more scopes or profiles"):
            create(manager, "bad", scopes, profiles)
    # A typo is a validation error, not a permission one.
    with raises("VALIDATION_ERROR", "^scopes: "):
        create(manager, "typo", ["mesages:send"], ["pa"])
    assert models.ApiKey.select().count() == 1


def test_service_list_pagination(database: peewee.Database) -> None:
    ids = [create(admin(), f"k{i}", ["*"]).api_key.id for i in range(5)]
    seen, token = [], ""
    for expected in (2, 2, 1):
        page = call(admin(), "ListApiKeys", api_keys_pb2.ListApiKeysRequest(page_size=2, page_token=token))
        assert len(page.api_keys) == expected and page.total_size == 5
        seen += [key.id for key in page.api_keys]
        token = page.next_page_token
    assert token == "" and seen == sorted(ids)
    everything = call(admin(), "ListApiKeys", api_keys_pb2.ListApiKeysRequest())
    assert [key.id for key in everything.api_keys] == sorted(ids) and not everything.next_page_token
    for size in (-1, 501):
        with raises("VALIDATION_ERROR", "^pageSize: "):
            call(admin(), "ListApiKeys", api_keys_pb2.ListApiKeysRequest(page_size=size))
    for token in ("!!!", "%%%", "//8"):  # not base64, empty after decoding, not UTF-8
        with raises("VALIDATION_ERROR", "^pageToken: "):
            call(admin(), "ListApiKeys", api_keys_pb2.ListApiKeysRequest(page_token=token))


def test_service_profile_limited_caller_sees_only_its_keys(database: peewee.Database) -> None:
    ids = {
        name: create(admin(), name, ["contacts:read"], profiles).api_key.id
        for name, profiles in (("a", ["pa"]), ("ab", ["pa", "pb"]), ("all", []), ("b", ["pb"]))
    }
    limited = Principal("l", frozenset({"keys:*", "contacts:read"}), frozenset({"pa"}))
    listed = call(limited, "ListApiKeys", api_keys_pb2.ListApiKeysRequest())
    assert [key.id for key in listed.api_keys] == [ids["a"]] and listed.total_size == 1
    both = Principal("l2", frozenset({"keys:*"}), frozenset({"pa", "pb"}))
    listed = call(both, "ListApiKeys", api_keys_pb2.ListApiKeysRequest(page_size=2))
    assert listed.total_size == 3 and listed.next_page_token
    for name in ("ab", "all", "b"):
        with raises("NOT_FOUND"):
            call(limited, "GetApiKey", api_keys_pb2.GetApiKeyRequest(id=ids[name]))
        with raises("NOT_FOUND"):
            call(limited, "RevokeApiKey", api_keys_pb2.RevokeApiKeyRequest(id=ids[name]))
    assert call(limited, "GetApiKey", api_keys_pb2.GetApiKeyRequest(id=ids["a"])).name == "a"


def test_service_revoke_and_delete(database: peewee.Database) -> None:
    created = create(admin(), "k", ["profiles:read"])
    key_id = created.api_key.id
    revoked = call(admin(), "RevokeApiKey", api_keys_pb2.RevokeApiKeyRequest(id=key_id))
    assert revoked.HasField("revoke_time")
    with raises("UNAUTHORIZED", "revoked"):
        auth.authenticate({"x-api-key": created.key}, settings())
    with pytest.raises(ApiError) as twice:
        call(admin(), "RevokeApiKey", api_keys_pb2.RevokeApiKeyRequest(id=key_id))
    assert twice.value.code == "CONFLICT" and twice.value.grpc_code == grpc.StatusCode.FAILED_PRECONDITION
    # Still listed after revoking; gone after deleting.
    assert call(admin(), "GetApiKey", api_keys_pb2.GetApiKeyRequest(id=key_id)).HasField("revoke_time")
    call(admin(), "DeleteApiKey", api_keys_pb2.DeleteApiKeyRequest(id=key_id))
    for method, request in (
        ("GetApiKey", api_keys_pb2.GetApiKeyRequest(id=key_id)),
        ("RevokeApiKey", api_keys_pb2.RevokeApiKeyRequest(id=key_id)),
        ("DeleteApiKey", api_keys_pb2.DeleteApiKeyRequest(id=key_id)),
    ):
        with raises("NOT_FOUND", f"'{key_id}' not found"):
            call(admin(), method, request)
    with raises("VALIDATION_ERROR", "^id: "):
        call(admin(), "GetApiKey", api_keys_pb2.GetApiKeyRequest())


def test_service_cannot_revoke_a_broader_key(database: peewee.Database) -> None:
    root = create(admin(), "root", ["*"]).api_key.id
    manager = Principal("m", frozenset({"keys:*"}), None)
    with raises("FORBIDDEN"):
        call(manager, "RevokeApiKey", api_keys_pb2.RevokeApiKeyRequest(id=root))
    with raises("FORBIDDEN"):
        call(manager, "DeleteApiKey", api_keys_pb2.DeleteApiKeyRequest(id=root))
    assert models.ApiKey.get_by_id(root).revoked_at is None


def test_service_needs_a_principal(database: peewee.Database) -> None:
    with raises("UNAUTHORIZED"):
        ApiKeyServicer().ListApiKeys(api_keys_pb2.ListApiKeysRequest(), CONTEXT)


# --- CLI ---


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen'}"}
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_cli_create_list_revoke(tmp_path: Path, key_clock: Clock) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    created = cli(url, "keys", "create", "--name", "ops", "--scopes", "messages:send,profiles:read",
                  "--profiles", "pa,pb", "--expires-days", "30")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("wagw_") and "\n" not in key and key not in created.stderr
    assert "only time" in created.stderr

    db = open_database(url)
    try:
        principal = auth.authenticate({"x-api-key": key}, settings())
        assert principal.scopes == frozenset({"messages:send", "profiles:read"})
        assert principal.profile_ids == frozenset({"pa", "pb"})
        row = models.ApiKey.get(models.ApiKey.prefix == key.split("_")[1])
        assert dt.timedelta(days=29) < row.expires_at - utcnow() <= dt.timedelta(days=30)
    finally:
        db.close()

    listed = cli(url, "keys", "list")
    assert listed.returncode == 0 and row.id in listed.stdout and "active" in listed.stdout
    assert key.split("_", 2)[2] not in listed.stdout

    assert cli(url, "keys", "revoke", row.id).returncode == 0
    again = cli(url, "keys", "revoke", row.id)
    assert again.returncode == 1 and "already revoked" in again.stderr
    missing = cli(url, "keys", "revoke", "key_nope")
    assert missing.returncode == 1 and "not found" in missing.stderr
    bad = cli(url, "keys", "create", "--name", "x", "--scopes", "everything")
    assert bad.returncode == 1 and "scopes:" in bad.stderr

    key_clock.now += settings().key_cache_s  # revoked by another process: seen once the cached row is old
    db = open_database(url)
    try:
        with raises("UNAUTHORIZED", "revoked"):
            auth.authenticate({"x-api-key": key}, settings())
    finally:
        db.close()

"""Operator commands, run against the database in DATABASE_URL.

    python -m server.cli keys create --name NAME --scopes '*' [--profiles a,b] [--expires-days N]
    python -m server.cli keys list
    python -m server.cli keys revoke ID
    python -m server.cli profiles connect ID [--phone NUMBER]
    python -m server.cli profiles simulate-message ID TEXT [--from NUMBER]

`keys create` prints the new key alone on stdout (so `KEY=$(… keys create …)` works) and the rest on stderr.

`profiles connect` links a profile from a terminal, for people without a browser: it prints the QR code (and
each new one as it rotates), or with --phone the pairing code, and returns once the profile is CONNECTED (exit
status 0; 1 when the login ends otherwise). `profiles simulate-message` makes a contact of the simulated WhatsApp
write TEXT to a simulator profile, which receives it as any incoming message (`message.received`, webhooks).

The profiles commands act through the running gateway's public gRPC API (WAGW_GRPC_HOST:WAGW_GRPC_PORT), as any
client would, with a key each makes for itself in the database: limited to that profile, expiring in 15
minutes, and deleted when the command ends. The API's errors are printed as its code and message (exit status 1).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import grpc
import segno

from server.api import auth
from server.core import config, db, migrations, models
from server.core.errors import ApiError, error_reason, not_found
from wagw.v1 import events_pb2, events_pb2_grpc, profiles_pb2, profiles_pb2_grpc

# The profiles commands: what their own key may do, and for how long at most.
COMMAND_SCOPES = ["profiles:*", "events:read"]
COMMAND_KEY_LIFETIME = dt.timedelta(minutes=15)
# Statuses that end a login without a connection.
LOGIN_ENDED = {"DISCONNECTED", "LOGGED_OUT", "BANNED", "FAILED"}


def _list_arg(value: str) -> list[str]:
    """`a,b` or `a b` → ["a", "b"]."""
    return value.replace(",", " ").split()


def _status(row: models.ApiKey, now: dt.datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def keys_create(args: argparse.Namespace) -> None:
    expires_at = db.utcnow() + dt.timedelta(days=args.expires_days) if args.expires_days else None
    row, key = auth.create_api_key(args.name, _list_arg(args.scopes), _list_arg(args.profiles), expires_at)
    print(key)
    profiles = ",".join(row.profile_ids) or "all"
    expires = _when(row.expires_at) if row.expires_at else "never"
    print(
        f"created {row.id} ({row.name}): scopes {','.join(row.scopes)}, profiles {profiles}, "
        f"expires {expires}. This is the only time the key is shown.",
        file=sys.stderr,
    )


def keys_list(args: argparse.Namespace) -> None:
    now = db.utcnow()
    print(f"{'ID':<30} {'PREFIX':<9} {'STATUS':<8} {'LAST USED':<17} {'NAME':<20} SCOPES / PROFILES")
    for row in models.ApiKey.select().order_by(models.ApiKey.id):
        profiles = ",".join(row.profile_ids) or "all"
        print(
            f"{row.id:<30} {row.prefix:<9} {_status(row, now):<8} {_when(row.last_used_at):<17} "
            f"{row.name[:20]:<20} {','.join(row.scopes)} / {profiles}"
        )


def keys_revoke(args: argparse.Namespace) -> None:
    row = models.ApiKey.get_or_none(models.ApiKey.id == args.id)
    if row is None:
        raise not_found("API key", args.id)
    auth.revoke_api_key(row)
    print(f"revoked {row.id} ({row.name})", file=sys.stderr)


@contextmanager
def _gateway(command: str, profile_id: str) -> Iterator[tuple[grpc.Channel, list[tuple[str, str]]]]:
    """A channel to the API server, and the metadata of a key for this command alone: the profile's, short-lived,
    deleted afterwards."""
    with db.database.connection_context():
        row, key = auth.create_api_key(f"cli: profiles {command} {profile_id}", COMMAND_SCOPES, [profile_id],
                                       db.utcnow() + COMMAND_KEY_LIFETIME)
    try:
        with grpc.insecure_channel(config.load().api_target) as channel:
            yield channel, [("x-api-key", key)]
    finally:
        with db.database.connection_context(), db.write_transaction():
            models.ApiKey.delete_by_id(row.id)


def _reported(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A command whose API errors are printed as REST callers read them (our code and the message): exit status 1."""
    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except grpc.RpcError as error:
            reason = error_reason(error)
            if reason is None and error.code() == grpc.StatusCode.UNAVAILABLE:
                print(f"error: no API server answers at {config.load().api_target}: is the gateway running "
                      "(make run)?", file=sys.stderr)
            else:
                print(f"error: {reason or error.code().name}: {error.details()}", file=sys.stderr)
            return 1

    return run


def print_qr(code: str) -> None:
    """A QR code in the terminal: half-block characters, two modules per line, light on the terminal's dark."""
    segno.make(code, error="l").terminal(out=sys.stdout, compact=True, border=2)
    sys.stdout.flush()


@_reported
def profiles_connect(args: argparse.Namespace) -> int:
    with _gateway("connect", args.id) as (channel, metadata):
        profiles = profiles_pb2_grpc.ProfileServiceStub(channel)
        # Watch first, so no QR code or status change falls between the connect and the watch.
        watch = events_pb2_grpc.EventServiceStub(channel).WatchEvents(events_pb2.WatchEventsRequest(
            profile_id=args.id, events=["session.status", "qr.updated"], since=-1), metadata=metadata)
        try:
            watch.initial_metadata()
            reply = profiles.ConnectProfile(profiles_pb2.ConnectProfileRequest(
                id=args.id, phone_number=args.phone), metadata=metadata, timeout=30)
            status = profiles_pb2.Profile.Status.Name(reply.profile.status)
            print(f"Profile {args.id}: {status}", flush=True)
            if reply.pairing_code:
                print(f"Pairing code: {reply.pairing_code}\nOn the phone: WhatsApp → Linked devices → Link a device → "
                      "Link with phone number instead, and type it.", flush=True)
            elif status == "QR_READY":
                qr = profiles.GetProfileQr(profiles_pb2.GetProfileQrRequest(id=args.id), metadata=metadata, timeout=30)
                print("Scan it on the phone: WhatsApp → Linked devices → Link a device. It renews itself.", flush=True)
                print_qr(qr.qr)
            return 0 if status == "CONNECTED" else _follow_login(args.id, watch)
        finally:
            watch.cancel()


def _follow_login(profile_id: str, watch: Iterator[events_pb2.Event]) -> int:
    """Prints each new QR or pairing code until the profile is CONNECTED (0) or the login ends otherwise (1)."""
    for event in watch:
        data = dict(event.data)
        if event.event == "qr.updated" and data.get("qr"):
            print("A new QR code:", flush=True)
            print_qr(data["qr"])
        elif event.event == "qr.updated" and data.get("pairingCode"):
            print(f"Pairing code: {data['pairingCode']}", flush=True)
        elif event.event == "session.status" and data.get("status") == "CONNECTED":
            print(f"Profile {profile_id}: CONNECTED", flush=True)
            return 0
        elif event.event == "session.status" and data.get("status") in LOGIN_ENDED:
            print(f"Profile {profile_id}: {data['status']} {data.get('reason') or ''}".rstrip(), file=sys.stderr)
            return 1
    return 1


@_reported
def profiles_simulate_message(args: argparse.Namespace) -> int:
    with _gateway("simulate-message", args.id) as (channel, metadata):
        reply = profiles_pb2_grpc.ProfileServiceStub(channel).SimulateIncomingMessage(
            profiles_pb2.SimulateIncomingMessageRequest(id=args.id, phone_number=args.sender, text=args.text),
            metadata=metadata, timeout=30)
    print(f"Profile {args.id} received it: waMessageId {reply.wa_message_id} (its message.received event follows)")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m server.cli", description="WA Gateway operator commands")
    commands = parser.add_subparsers(dest="group", required=True)
    keys = commands.add_parser("keys", help="API keys").add_subparsers(dest="command", required=True)

    create = keys.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", required=True, help="comma-separated, e.g. 'messages:send,profiles:read' or '*'")
    create.add_argument("--profiles", default="", help="comma-separated profile ids the key is limited to")
    create.add_argument("--expires-days", type=int, default=0, help="days until the key expires (default never)")
    create.set_defaults(run=keys_create)

    keys.add_parser("list", help="list keys (never their secrets)").set_defaults(run=keys_list)

    revoke = keys.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("id")
    revoke.set_defaults(run=keys_revoke)

    profiles = commands.add_parser("profiles", help="profiles").add_subparsers(dest="command", required=True)
    connect = profiles.add_parser("connect", help="link a profile: show its QR code (or pairing code) here and "
                                                  "wait until it is CONNECTED")
    connect.add_argument("id")
    connect.add_argument("--phone", default="", help="log in with a pairing code for this number instead of a QR code")
    connect.set_defaults(run=profiles_connect, own_connections=True)

    message = profiles.add_parser("simulate-message", help="simulator profiles: a simulated contact writes TEXT to "
                                                           "the profile")
    message.add_argument("id")
    message.add_argument("text")
    message.add_argument("--from", dest="sender", default="",
                         help="the contact's number (default: the gateway's simulated contact, +628987654321)")
    message.set_defaults(run=profiles_simulate_message, own_connections=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    db.open_database(config.load().database_url)
    migrations.migrate()
    try:
        if getattr(args, "own_connections", False):
            return args.run(args)
        with db.database.connection_context():
            args.run(args)
    except ApiError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

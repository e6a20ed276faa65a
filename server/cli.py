"""Operator commands, run against the database in DATABASE_URL.

    python -m server.cli keys create --name NAME --scopes '*' [--profiles a,b] [--expires-days N]
    python -m server.cli keys list
    python -m server.cli keys revoke ID

`keys create` prints the new key alone on stdout (so `KEY=$(… keys create …)` works) and the rest on stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence

from server.api import auth
from server.core import config, db, migrations, models
from server.core.errors import ApiError, not_found


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    db.open_database(config.load().database_url)
    migrations.migrate()
    try:
        with db.database.connection_context():
            args.run(args)
    except ApiError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

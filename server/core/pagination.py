"""Cursor pagination for List* RPCs: ordered by id, resumed after the last id the caller saw.

A cursor (rather than an offset) stays correct while rows are added or deleted between pages, and ids sort by
creation (server.ids), so pages come out oldest first. The token is opaque to callers: base64 of the last id.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import peewee

from server.core.errors import invalid

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def paginate(
    query: peewee.ModelSelect, id_field: peewee.Field, page_size: int, page_token: str, *, newest_first: bool = False
) -> tuple[list[Any], str, int]:
    """One page of `query`: (rows, next page token or "" on the last page, total rows of the query).

    page_size 0 is the proto3 default, meaning "not given". newest_first pages from the largest id down.
    """
    size = page_size or DEFAULT_PAGE_SIZE
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise invalid("pageSize", f"must be between 1 and {MAX_PAGE_SIZE}")
    total = query.count()
    page = query.order_by(id_field.desc() if newest_first else id_field)
    if page_token:
        cursor = _cursor(id_field, page_token)
        page = page.where(id_field < cursor if newest_first else id_field > cursor)
    # One extra row tells whether another page follows, without a second query.
    rows = list(page.limit(size + 1))
    if len(rows) <= size:
        return rows, "", total
    last_id = str(getattr(rows[size - 1], id_field.name))
    return rows[:size], base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("="), total


def _cursor(id_field: peewee.Field, token: str) -> Any:
    """The id a page token resumes after."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        value = id_field.db_value(raw)  # e.g. int() for an integer id
    except (ValueError, TypeError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        value = None
    if value in (None, ""):
        raise invalid("pageToken", "is not a token this server issued")
    return value


def paginate_items(items: Iterable[T], key: Callable[[T], str], page_size: int, page_token: str
                   ) -> tuple[list[T], str, int]:
    """The same paging over items held in memory (an engine's answer rather than a query): ordered by `key`,
    which must be unique, and resumed after the key of the last item the caller saw."""
    size = page_size or DEFAULT_PAGE_SIZE
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise invalid("pageSize", f"must be between 1 and {MAX_PAGE_SIZE}")
    ordered = sorted(items, key=key)
    remaining = ordered
    if page_token:
        try:
            after = base64.urlsafe_b64decode(page_token + "=" * (-len(page_token) % 4)).decode()
        except ValueError:  # binascii.Error and UnicodeDecodeError
            after = ""
        if not after:
            raise invalid("pageToken", "is not a token this server issued")
        remaining = [item for item in ordered if key(item) > after]
    if len(remaining) <= size:
        return remaining, "", len(ordered)
    last_key = key(remaining[size - 1])
    return remaining[:size], base64.urlsafe_b64encode(last_key.encode()).decode().rstrip("="), len(ordered)

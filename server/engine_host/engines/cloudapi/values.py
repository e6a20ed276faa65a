"""How the Graph API writes values: phone numbers without "+", opaque group ids (written `<Meta group id>@g.us`
here so the gateway still sees a group chat id), unix timestamps as strings."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from server.core.errors import invalid
from server.core.phones import GROUP_SUFFIX, is_group, phone_to_chat_id


def digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value))


def user_chat_id(number: Any) -> str:
    number_digits = digits(number)
    return phone_to_chat_id(f"+{number_digits}") if number_digits else ""


def chat_ids(people: Iterable[Mapping[str, Any]], *keys: str) -> list[str]:
    """Chat ids of the people in a Meta list, from the first of `keys` each has; people known only by a
    business-scoped user id are left out."""
    found = (user_chat_id(next((person[key] for key in keys if person.get(key)), "")) for person in people)
    return [chat_id for chat_id in found if chat_id]


def group_chat_id(group_id: str) -> str:
    return f"{group_id}{GROUP_SUFFIX}"


def meta_group_id(chat_id: str) -> str:
    if not is_group(chat_id) or chat_id == GROUP_SUFFIX:
        raise invalid("groupId", f"'{chat_id}' is not a group id")
    return chat_id.removesuffix(GROUP_SUFFIX)


def timestamp(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(value), dt.UTC)
    except (TypeError, ValueError):
        return None

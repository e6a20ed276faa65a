"""The hand-written conversions of the answer path agree with protobuf's own, which they replace for speed."""

from __future__ import annotations

import datetime as dt

import pytest
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from server.api.services.messages import _content
from server.core.convert import to_timestamp
from wagw.v1 import messages_pb2

JAKARTA = dt.timezone(dt.timedelta(hours=7))


@pytest.mark.parametrize("value", [
    dt.datetime(2026, 11, 30, 22, 42, 7, 123456),
    dt.datetime(1970, 1, 1),
    dt.datetime(1969, 12, 31, 23, 59, 59, 999999),  # before the epoch: seconds down, nanos still positive
    dt.datetime(1, 1, 1),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
    dt.datetime(2026, 11, 30, 5, 0, tzinfo=JAKARTA),  # an aware value counts in UTC
    dt.datetime(2026, 11, 30, 5, 0, tzinfo=dt.UTC),
])
def test_a_datetime_becomes_the_timestamp_protobuf_makes_of_it(value: dt.datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(value if value.tzinfo else value.replace(tzinfo=dt.UTC))
    assert to_timestamp(value) == expected


def test_no_datetime_is_no_timestamp() -> None:
    assert to_timestamp(None) is None


@pytest.mark.parametrize("stored", [
    {"text": "hello"},
    {"media": {"mimetype": "image/png", "url": "https://example.com/a.png"}, "caption": "a cat"},
    {"media": {"mimetype": "audio/ogg; codecs=opus"}, "voice_note": True},
    {"location": {"latitude": -6.2, "longitude": 106.8, "name": "Monas"}},
    {"poll": {"name": "Lunch?", "options": ["rice", "noodles"], "allow_multiple_answers": False}},
    {"text": "kept", "an_older_key": 1},  # what an older version stored is skipped, as ParseDict skips it
    {"text": None},  # JSON null: unset
    {"voice_note": 1},  # not a bool: ParseDict decides, as before
    {},
])
def test_stored_content_becomes_what_parse_dict_makes_of_it(stored: dict) -> None:
    expected = messages_pb2.MessageContent()
    try:
        json_format.ParseDict(stored, expected, ignore_unknown_fields=True)
    except json_format.ParseError as error:
        with pytest.raises(json_format.ParseError, match=str(error).split(":")[0]):
            _content(stored)
        return
    assert _content(stored) == expected

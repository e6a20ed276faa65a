"""Conversions between stored values and protobuf well-known types, shared by every servicer."""

from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp


def to_timestamp(value: dt.datetime | None) -> Timestamp | None:
    """A stored datetime as a Timestamp; naive datetimes are UTC, as server.db stores them."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def from_timestamp(stamp: Timestamp | None) -> dt.datetime | None:
    """A request Timestamp as naive UTC, ready to store; an unset one (the proto3 default) is None."""
    if stamp is None or (stamp.seconds == 0 and stamp.nanos == 0):
        return None
    return stamp.ToDatetime()

"""GET /api/profiles/{id}/qr right after connect: the first code comes from WhatsApp a moment after the connect
answered (an event), so a profile still CONNECTING is waited for, briefly, instead of answering CONFLICT; the
servicer method as the interceptor runs it, on each backend."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from server.api.auth import Principal, principal_context
from server.api.services import profiles
from server.core import db
from server.core.config import Settings
from server.core.db import utcnow
from server.core.errors import ApiError
from server.core.models import EngineHost, Profile
from wagw.v1 import profiles_pb2

ADMIN = Principal("admin", frozenset({"*"}), None)


@pytest.fixture(autouse=True)
def _database(database):
    """A fresh database of each backend, with one live engine host."""
    EngineHost.create(id="host-1", address="127.0.0.1:1")


def qr(profile_id: str) -> profiles_pb2.ProfileQr:
    with principal_context(ADMIN):
        return profiles.ProfileServicer(Settings()).GetProfileQr(profiles_pb2.GetProfileQrRequest(id=profile_id), None)


def connecting(profile_id: str) -> Profile:
    return Profile.create(id=profile_id, name="Q", engine="simulator", status="CONNECTING",
                          desired_state="connected", host_id="host-1")


def test_a_profile_just_connected_answers_its_first_code_when_it_comes():
    connecting("q1")

    def code_arrives() -> None:
        with db.database.connection_context():
            Profile.update(status="QR_READY", qr_code="2@first-code",
                           qr_expires_at=utcnow() + dt.timedelta(seconds=60)).where(Profile.id == "q1").execute()

    timer = threading.Timer(0.5, code_arrives)
    timer.start()
    try:
        assert qr("q1").qr == "2@first-code"
    finally:
        timer.join()


def test_a_profile_that_never_gets_a_code_is_refused_after_the_wait(monkeypatch):
    monkeypatch.setattr(profiles, "QR_WAIT_S", 0.3)
    connecting("q2")
    with pytest.raises(ApiError) as refused:
        qr("q2")
    assert refused.value.code == "CONFLICT"
    assert "status CONNECTING" in refused.value.message

"""Which class implements which engine. Imported lazily: the whatsmeow engine loads a Go library (and
starts the Go runtime), which only engine hosts should carry."""

from __future__ import annotations

import importlib
from typing import Any

from server.engines.base import Engine
from server.errors import invalid

_ENGINES = {
    "simulator": "server.engines.simulator:SimulatorEngine",
    "whatsmeow": "server.engines.whatsmeow:WhatsmeowEngine",
    "cloudapi": "server.engines.cloudapi:CloudApiEngine",
}
# Engines that take no settings and support every operation of base.Engine: answered here, so the API
# server never imports them.
_WITHOUT_SETTINGS = frozenset({"whatsmeow"})
_SUPPORT_EVERYTHING = frozenset({"whatsmeow"})
NAMES = tuple(_ENGINES)


def engine_class(name: str) -> type[Engine]:
    module, _, attribute = _ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def validate_settings(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """A profile's engineSettings as the engine will get them; VALIDATION_ERROR naming the bad key."""
    if name in _WITHOUT_SETTINGS:
        for key in settings:
            raise invalid(f"engineSettings.{key}", f"the {name} engine takes no settings")
        return {}
    return engine_class(name).validate_settings(settings)


def supports(name: str, operation: str) -> bool:
    """Whether the engine can do this operation (`send_poll`, `create_group`, …)."""
    return name in _SUPPORT_EVERYTHING or operation in engine_class(name).supports

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
# Engines that take no settings: checked here, so the API server never imports them.
_WITHOUT_SETTINGS = frozenset({"whatsmeow"})
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

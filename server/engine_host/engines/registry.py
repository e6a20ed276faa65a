"""Which class implements which engine. Imported lazily: the whatsmeow engine loads a Go library (and starts the
Go runtime), and the Cloud API engine imports pywa; a host loads only the engines its profiles use. What each
engine can do is declared apart, in server/core/engine_specs.py."""

from __future__ import annotations

import importlib

from server.engine_host.engines.base import Engine

_ENGINES = {
    "simulator": "server.engine_host.engines.simulator:SimulatorEngine",
    "whatsmeow": "server.engine_host.engines.whatsmeow:WhatsmeowEngine",
    "cloudapi": "server.engine_host.engines.cloudapi.engine:CloudApiEngine",
}


def engine_class(name: str) -> type[Engine]:
    module, _, attribute = _ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)

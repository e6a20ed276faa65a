"""The simulated business account's approved message templates, and the checks Meta makes when one is sent: the
template must exist in that language (Meta's error 132001) and get as many body parameters as its body has
placeholders (132000). Enough of Meta's side to try template sends and template campaigns without Meta.

Templates are described as Meta's Graph API describes them (`GET /<WABA id>/message_templates`)."""

from __future__ import annotations

import re
from copy import deepcopy
from typing import Any

from server.simulator.errors import Refusal

CATALOGUE: tuple[dict[str, Any], ...] = (
    {"id": "100000000000001", "name": "hello_world", "language": "en_US", "category": "UTILITY",
     "status": "APPROVED", "parameter_format": "POSITIONAL", "components": [
         {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
         {"type": "BODY", "text": "Welcome and congratulations!! This message demonstrates your ability to send a "
                                  "WhatsApp message notification from the Cloud API."},
         {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"}]},
    {"id": "100000000000002", "name": "order_update", "language": "en_US", "category": "UTILITY",
     "status": "APPROVED", "parameter_format": "POSITIONAL", "components": [
         {"type": "BODY", "text": "Hi {{1}}, your order {{2}} is on its way.",
          "example": {"body_text": [["Budi", "#1042"]]}},
         {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop updates"}]}]},
    {"id": "100000000000003", "name": "order_update", "language": "id", "category": "UTILITY",
     "status": "APPROVED", "parameter_format": "POSITIONAL", "components": [
         {"type": "BODY", "text": "Halo {{1}}, pesanan {{2}} sedang dikirim.",
          "example": {"body_text": [["Budi", "#1042"]]}},
         {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Berhenti"}]}]},
)
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def approved() -> list[dict[str, Any]]:
    return deepcopy(list(CATALOGUE))


def checked_template(template: dict[str, Any]) -> dict[str, Any]:
    """The template part of a TEMPLATE message as Meta accepts it; raises Refusal as Meta would."""
    name, language = str(template.get("name", "")), str(template.get("language", ""))
    found = next((entry for entry in CATALOGUE if (entry["name"], entry["language"]) == (name, language)), None)
    if found is None:
        raise Refusal(f"(#132001) Template name does not exist in the translation: {name} ({language})")
    body = next((component for component in found["components"] if component["type"] == "BODY"), {})
    expected = len(set(_PLACEHOLDER.findall(body.get("text", ""))))
    given = sum(len(component.get("parameters") or ()) for component in template.get("components") or ()
                if component.get("type") == "BODY")
    if given != expected:
        raise Refusal(f"(#132000) Number of parameters does not match the expected number of params: the body of "
                      f"{name} ({language}) takes {expected}, {given} given")
    return {"template": deepcopy(template)}

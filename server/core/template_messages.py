"""WhatsApp template messages (wagw.v1.Template): the checks Meta's Cloud API makes of a template's name, language
and parameters that can be made without the approved template itself, so a bad request is a 400 naming the field
instead of a message that fails later; and the `{name}` placeholders of a bulk item filled into its parameters.

Meta's rules (developers.facebook.com, "Send message templates"): names are lower-case letters, digits and
underscores; a header takes one parameter (text up to 60 characters, a currency, a date, or its image, document or
video); a body takes text, currency and date parameters; a button is addressed by its index (0 to 9) and kind, with
one parameter: a quick reply's payload, a URL button's suffix, or a copy-code button's coupon code (up to 15
characters). Whether the values fit the approved template (their number, the button kinds) only Meta knows: it
answers 132000 or 132001 and the message ends FAILED with that reason.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from server.core import templates
from server.core.errors import invalid
from wagw.v1 import messages_pb2, templates_pb2

Component = templates_pb2.TemplateComponent
Parameter = templates_pb2.TemplateParameter

_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2,4})?$")
_PARAMETER_NAME = re.compile(r"^[a-z0-9_]{1,64}$")
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
MAX_TEXT = 1024
MAX_HEADER_TEXT = 60
MAX_PAYLOAD = 128
MAX_COUPON_CODE = 15
MAX_BODY_PARAMETERS = 10
MAX_BUTTON_INDEX = 9
_MEDIA = {Parameter.IMAGE, Parameter.DOCUMENT, Parameter.VIDEO}
# What each part of a template takes.
_ALLOWED = {
    Component.HEADER: {Parameter.TEXT, Parameter.CURRENCY, Parameter.DATE_TIME, *_MEDIA},
    Component.BODY: {Parameter.TEXT, Parameter.CURRENCY, Parameter.DATE_TIME},
}
_BUTTON_PARAMETER = {Component.QUICK_REPLY: Parameter.PAYLOAD, Component.URL: Parameter.TEXT,
                     Component.COPY_CODE: Parameter.COUPON_CODE}


def check(content: messages_pb2.MessageContent, field: str) -> None:
    """VALIDATION_ERROR naming the first field of `content.template` that Meta would refuse. `field` is where the
    template is in the request (`template`, `messages[3].content.template`)."""
    if not content.HasField("template"):
        raise invalid(field, "is required: the name and language of an approved template")
    template = content.template
    if not _NAME.fullmatch(template.name):
        raise invalid(f"{field}.name", "must be the approved template's name: 1 to 512 lower-case letters, digits "
                                       "and underscores")
    if not _LANGUAGE.fullmatch(template.language):
        raise invalid(f"{field}.language", "must be a language code as Meta writes it (en_US, id, pt_BR)")
    seen: set[tuple[int, int]] = set()
    for index, component in enumerate(template.components):
        where = f"{field}.components[{index}]"
        key = (component.type, component.index if component.type == Component.BUTTON else 0)
        if key in seen:
            raise invalid(where, "repeats a part of the template: one header, one body, one entry per button")
        seen.add(key)
        _check_component(component, where)


def _check_component(component: Component, where: str) -> None:
    if component.type == Component.TYPE_UNSPECIFIED:
        raise invalid(f"{where}.type", "is required: HEADER, BODY or BUTTON")
    if component.type == Component.BUTTON:
        if component.sub_type == Component.BUTTON_TYPE_UNSPECIFIED:
            raise invalid(f"{where}.subType", "is required for a BUTTON: QUICK_REPLY, URL or COPY_CODE")
        if not 0 <= component.index <= MAX_BUTTON_INDEX:
            raise invalid(f"{where}.index", f"must be the button's position, 0 to {MAX_BUTTON_INDEX}")
        allowed = {_BUTTON_PARAMETER[component.sub_type]}
    else:
        if component.sub_type != Component.BUTTON_TYPE_UNSPECIFIED or component.index:
            raise invalid(f"{where}.subType", "only a BUTTON has a subType and an index")
        allowed = _ALLOWED[component.type]
    count = len(component.parameters)
    most = MAX_BODY_PARAMETERS if component.type == Component.BODY else 1
    if not 1 <= count <= most:
        raise invalid(f"{where}.parameters", f"give 1 to {most} parameters" if most > 1 else "give one parameter")
    named = {bool(parameter.parameter_name) for parameter in component.parameters}
    if len(named) > 1:
        raise invalid(f"{where}.parameters", "name every parameter (a NAMED template) or none (a POSITIONAL one)")
    for index, parameter in enumerate(component.parameters):
        _check_parameter(parameter, allowed, component.type == Component.HEADER, f"{where}.parameters[{index}]")


def _check_parameter(parameter: Parameter, allowed: set[int], header: bool, where: str) -> None:
    kind = parameter.type
    if kind not in allowed:
        names = ", ".join(sorted(Parameter.Type.Name(value) for value in allowed))
        raise invalid(f"{where}.type", f"must be {names} here")
    if parameter.parameter_name and not _PARAMETER_NAME.fullmatch(parameter.parameter_name):
        raise invalid(f"{where}.parameterName", "must be the template's parameter name: lower-case letters, digits "
                                                "and underscores")
    if kind == Parameter.TEXT:
        _check_string(parameter.text, MAX_HEADER_TEXT if header else MAX_TEXT, f"{where}.text")
    elif kind == Parameter.PAYLOAD:
        _check_string(parameter.payload, MAX_PAYLOAD, f"{where}.payload")
    elif kind == Parameter.COUPON_CODE:
        _check_string(parameter.coupon_code, MAX_COUPON_CODE, f"{where}.couponCode")
    elif kind == Parameter.CURRENCY:
        currency = parameter.currency
        _check_string(currency.fallback_value, MAX_TEXT, f"{where}.currency.fallbackValue")
        if not _CURRENCY_CODE.fullmatch(currency.code):
            raise invalid(f"{where}.currency.code", "must be an ISO 4217 code (USD, IDR)")
    elif kind == Parameter.DATE_TIME:
        _check_string(parameter.date_time.fallback_value, MAX_TEXT, f"{where}.dateTime.fallbackValue")
    else:
        parts = urlsplit(parameter.media.link)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise invalid(f"{where}.media.link", "must be an http(s) URL Meta can download the file from")
        if parameter.media.filename and kind != Parameter.DOCUMENT:
            raise invalid(f"{where}.media.filename", "only a DOCUMENT has a file name")


def _check_string(value: str, most: int, field: str) -> None:
    if not value.strip():
        raise invalid(field, "is required")
    if len(value) > most:
        raise invalid(field, f"must be at most {most} characters")


def fill(content: messages_pb2.MessageContent, variables: dict[str, str], field: str, variables_field: str) -> None:
    """Fill the `{name}` placeholders of a bulk item's template parameters (text, payload, coupon code, the
    fallback values and media links) from its variables, in place (server/core/templates.py's rules)."""
    for c_index, component in enumerate(content.template.components):
        for p_index, parameter in enumerate(component.parameters):
            where = f"{field}.components[{c_index}].parameters[{p_index}]"
            for holder, name, path in ((parameter, "text", "text"), (parameter, "payload", "payload"),
                                       (parameter, "coupon_code", "couponCode"),
                                       (parameter.currency, "fallback_value", "currency.fallbackValue"),
                                       (parameter.date_time, "fallback_value", "dateTime.fallbackValue"),
                                       (parameter.media, "link", "media.link")):
                value: Any = getattr(holder, name)
                if value:
                    setattr(holder, name, templates.fill(value, variables, f"{where}.{path}", variables_field))

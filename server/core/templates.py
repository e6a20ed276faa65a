"""`{name}` placeholders in bulk message text, filled from each item's variables. `{{` and `}}` write a
literal brace. A placeholder without a value is an error naming it, found before anything is queued."""

from __future__ import annotations

import re

from server.core.errors import invalid

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


def fill(template: str, variables: dict[str, str], field: str, variables_field: str) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name is None or not _NAME.fullmatch(name.strip()):
            raise invalid(field, f"'{token}' is not a placeholder: write {{name}}, or {{{{ and }}}} for braces")
        name = name.strip()
        if name not in variables:
            raise invalid(f"{variables_field}.{name}", f"no value for the placeholder {{{name}}} in {field}")
        return variables[name]

    return _TOKEN.sub(replace, template)

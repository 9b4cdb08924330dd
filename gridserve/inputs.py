"""Input no layer can store: NUL and lone surrogates in text, and deep nesting.

PostgreSQL refuses NUL in text and JSONB, and a lone UTF-16 surrogate
(``"\\ud800"`` in JSON) cannot be encoded as UTF-8 by any driver; deep nesting
exhausts Python's (and PostgreSQL's) stack. Each is refused once, here, with
its own code and the path of the offending field, instead of in every service:

- ``json_too_deep`` (400): a JSON body nested deeper than :data:`MAX_JSON_DEPTH`;
- ``invalid_text`` (422): NUL or a lone surrogate in any string or key of the
  JSON body, in a query parameter or in a path segment.

The request-side hooks that apply them to every request are in
:mod:`gridserve.request_checks`; services use :func:`scan` and
:func:`text_problem` for what they judge item by item.
"""

from __future__ import annotations

from typing import Any

from gridserve.errors import AppError

MAX_JSON_DEPTH = 64


class JSONTooDeep(AppError):
    status = 400
    code = "json_too_deep"

    def __init__(self, path: str | None = None) -> None:
        super().__init__(
            f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.",
            details={"max_depth": MAX_JSON_DEPTH, **({"field": path} if path else {})},
        )


class InvalidText(AppError):
    status = 422
    code = "invalid_text"

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            "Text in the request holds a character that cannot be stored.",
            details={"field": path, "reason": reason, "fields": {path: [reason]}},
        )


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None when it can."""
    if "\x00" in value:
        return "NUL characters are not allowed in text."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Lone UTF-16 surrogates are not allowed in text."
    return None


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def scan(
    value: Any, *, max_depth: int | None = MAX_JSON_DEPTH, text: bool = True, path: str = ""
) -> None:
    """Walk parsed JSON without recursion; raise on the first problem found.

    ``path`` is a dotted location (``items.3.notes``) used in the error details.
    """
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, str):
            if text:
                problem = text_problem(node)
                if problem:
                    raise InvalidText(where or "body", problem)
            continue
        if not isinstance(node, (dict, list)):
            continue
        if max_depth is not None and depth > max_depth:
            raise JSONTooDeep(where or None)
        if isinstance(node, dict):
            for key, item in node.items():
                if text and isinstance(key, str):
                    problem = text_problem(key)
                    if problem:
                        raise InvalidText(_join(where, repr(key)[1:-1]), problem)
                stack.append((item, _join(where, key), depth + 1))
        else:
            stack.extend((item, _join(where, i), depth + 1) for i, item in enumerate(node))

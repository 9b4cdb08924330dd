"""The one error type of the geometry layer; services turn it into a 422."""

from __future__ import annotations

from typing import Any


class GeometryError(ValueError):
    """Input geometry that cannot be used, with a stable code and where it went wrong."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

"""Argument parsing with Redis's rules and error texts (`string2ll`, `strtold`, ...)."""

from __future__ import annotations

import math

from ..resp import string2ll
from .errors import NOT_FLOAT, NOT_INTEGER, CommandError


def parse_int(arg: bytes, error: str = NOT_INTEGER) -> int:
    """A signed 64-bit integer in Redis's strict form, else CommandError(error)."""
    value = string2ll(arg) if len(arg) <= 20 else None
    if value is None:
        raise CommandError(error)
    return value


def parse_float(arg: bytes, error: str = NOT_FLOAT) -> float:
    """A finite or infinite double as Redis's `string2ld`/`strtold` accepts it (no NaN)."""
    if not arg or arg[:1].isspace() or arg[-1:].isspace() or len(arg) > 5000:
        raise CommandError(error)
    try:
        value = float(arg)
    except ValueError:
        raise CommandError(error) from None
    if math.isnan(value):
        raise CommandError(error)
    if b"_" in arg:
        raise CommandError(error)
    return value

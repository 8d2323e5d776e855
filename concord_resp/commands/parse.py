"""Argument parsing with Redis's rules and error texts (`string2ll`, `strtod`, `strtold`, ...).

Redis compares option names with `strcasecmp` on C strings, so an argument is cut at its first
NUL byte before it is compared (`"nx\\0junk"` is NX); `option_name` does exactly that.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Final

from ..resp import string2ll
from .errors import NOT_FLOAT, NOT_INTEGER, CommandError
from .floats import DOUBLE, LONG_DOUBLE, parse_c_float

_DECIMAL: Final = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NONZERO: Final = re.compile(rb"[+-]?[0.]*[1-9]")  # a non-zero digit before any exponent

MAX_LONG_DOUBLE_CHARS: Final = 5 * 1024
"""`string2ld` refuses texts of this length or more (the size of its stack buffer)."""


def parse_int(arg: bytes | bytearray, error: str = NOT_INTEGER) -> int:
    """A signed 64-bit integer in Redis's strict form, else CommandError(error)."""
    value = string2ll(bytes(arg)) if len(arg) <= 20 else None
    if value is None:
        raise CommandError(error)
    return value


def parse_float(arg: bytes, error: str = NOT_FLOAT) -> float:
    """A double as Redis's `strtod` checks accept it: finite or infinite, never NaN.

    The sign of zero is kept (`-0` stays `-0.0`). A finite literal out of range is refused
    (`1e400`), as glibc's `ERANGE` makes Redis refuse it; hex floats (`0x1p3`) are accepted.
    """
    if _DECIMAL.fullmatch(arg):
        # The common case, fast: Python rounds a decimal literal correctly, as glibc does; it
        # gives inf or 0 where glibc reports ERANGE.
        value = float(arg)
        if value in (math.inf, -math.inf) or (value == 0 and _NONZERO.match(arg)):
            raise CommandError(error)
        return value
    parsed = parse_c_float(arg, DOUBLE)
    if parsed is None:
        raise CommandError(error)
    negative, magnitude = parsed
    value = math.inf if magnitude is None else float(magnitude)
    return -value if negative else value


def parse_long_double(arg: bytes | bytearray, error: str = NOT_FLOAT) -> Fraction | None:
    """A `long double` as Redis's `string2ld` accepts it, exactly; None if it is infinite.

    The sign of zero is not kept: INCRBYFLOAT, the one user, prints -0 as 0 anyway.
    """
    parsed = parse_c_float(bytes(arg), LONG_DOUBLE) if len(arg) < MAX_LONG_DOUBLE_CHARS else None
    if parsed is None:
        raise CommandError(error)
    negative, magnitude = parsed
    if magnitude is None:
        return None
    return -magnitude if negative else magnitude


def option_name(arg: bytes) -> bytes:
    """An option as Redis's `strcasecmp` sees it: lowercased, cut at the first NUL byte."""
    nul = arg.find(b"\0")
    return (arg if nul < 0 else arg[:nul]).lower()

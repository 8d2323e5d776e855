"""C floating point as Redis parses and prints it: `strtod`/`strtold`, and `%.17Lf`.

Redis parses scores and increments with the C library (`strtod` for doubles, `strtold` for
INCRBYFLOAT's x87 80-bit `long double`) and prints INCRBYFLOAT results with `%.17Lf`. Python
has no `long double`, and replicas must agree bit for bit whatever machine they run on, so this
module does the arithmetic exactly: a value is a `Fraction`, rounded to the target binary
format (ties to even, subnormals, overflow to infinity) the way glibc and the FPU round.

Rules kept from Redis's checks (`string2ld`, `getDoubleFromObject`): the whole text must be
consumed, no leading space, NaN is refused, and a finite literal that overflows or underflows
to zero (glibc's `ERANGE`) is refused; the literals `inf`/`infinity` are accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Final


@dataclass(frozen=True, slots=True)
class BinaryFormat:
    """An IEEE-style binary floating point format."""

    precision: int  # significand bits, including the leading one
    min_exp: int  # exponent of the least significant bit of the smallest subnormal
    max_exp: int  # values of 2**max_exp and above overflow to infinity
    max_digits: int  # significant decimal digits kept when parsing (see `_decimal_value`)


DOUBLE: Final = BinaryFormat(precision=53, min_exp=-1074, max_exp=1024, max_digits=800)
LONG_DOUBLE: Final = BinaryFormat(precision=64, min_exp=-16445, max_exp=16384, max_digits=12000)
"""x86-64 `long double` (x87 extended precision), what Redis's INCRBYFLOAT computes in."""

_DOUBLE_UNBOUNDED: Final = BinaryFormat(
    precision=53, min_exp=-(10**6), max_exp=1024, max_digits=800
)
"""Doubles with no subnormal range: how glibc decides that a result is tiny (after rounding)."""
_DOUBLE_MIN_NORMAL: Final = Fraction(1, 2**1022)

INFINITY: Final = None
"""The magnitude of an infinite value in `CValue`."""

CValue = tuple[bool, Fraction | None]
"""(negative, magnitude), magnitude `None` for infinity. Keeps the sign of zero."""

_C_SPACE: Final = frozenset(b" \t\n\v\f\r")
_DECIMAL: Final = re.compile(rb"([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")
_HEX: Final = re.compile(rb"0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?[0-9]+))?")
_INFINITIES: Final = (b"inf", b"infinity")
_HUGE_EXPONENT: Final = 100_000  # far past any format's range, in decimal or binary digits
_MAX_BINARY_MAGNITUDE: Final = 20_000  # past every format's range (bits)
_CHUNK_DIGITS: Final = 4000  # below CPython's int/str conversion limit (4300 digits)


def parse_c_float(text: bytes, fmt: BinaryFormat) -> CValue | None:
    """The value `strtod`/`strtold` reads from all of `text`, or None if Redis refuses it."""
    if not text or text[0] in _C_SPACE:
        return None
    negative = text[:1] == b"-"
    body = text[1:] if text[:1] in (b"-", b"+") else text
    if body.lower() in _INFINITIES:
        return negative, INFINITY
    exact = _hex_value(body) if body[:2].lower() == b"0x" else _decimal_value(body, fmt)
    if exact is None:
        return None  # not a number, or a literal far out of range (ERANGE)
    if exact == 0:
        return negative, exact
    rounded = round_to_format(exact, fmt)
    if rounded is INFINITY or rounded == 0:
        return None  # ERANGE: overflow, or underflow to zero
    return negative, rounded


def strtod_checked(text: bytes) -> float | None:
    """`strtod` over all of `text` with `errno` checked for ERANGE, as SORT reads weights.

    Leading white space is skipped and "" is 0 (nothing is converted, and the end pointer is
    at the terminating NUL); None if the rest is not one number, is NaN, or glibc sets
    ERANGE: on overflow, and on underflow, which is a result tiny after rounding (below the
    smallest normal double when rounded to 53 bits with an unbounded exponent) and inexact:
    so a literal that becomes 0, and every inexact subnormal, but not `0x1p-1074`.
    """
    if not text:
        return 0.0
    body = text.lstrip(b" \t\n\v\f\r")  # C isspace
    if not body:
        return None  # nothing converted: the end pointer is at the first space
    negative = body[:1] == b"-"
    unsigned = body[1:] if body[:1] in (b"-", b"+") else body
    if unsigned.lower() in _INFINITIES:
        magnitude = float("inf")
    else:
        exact = (
            _hex_value(unsigned)
            if unsigned[:2].lower() == b"0x"
            else _decimal_value(unsigned, DOUBLE)
        )
        if exact is None:
            return None
        rounded = round_to_format(exact, DOUBLE) if exact else exact
        if rounded is None or (exact and not rounded):
            return None  # overflow, or underflow to zero
        if rounded != exact:
            tiny = round_to_format(exact, _DOUBLE_UNBOUNDED)
            if tiny is not None and tiny < _DOUBLE_MIN_NORMAL:
                return None  # an inexact subnormal
        magnitude = float(rounded)
    return -magnitude if negative else magnitude


def round_to_format(value: Fraction, fmt: BinaryFormat) -> Fraction | None:
    """`value` rounded to nearest, ties to even, in `fmt`; None (infinity) on overflow."""
    if value < 0:
        rounded = round_to_format(-value, fmt)
        return None if rounded is None else -rounded
    if value == 0:
        return value
    num, den = value.numerator, value.denominator
    exp = num.bit_length() - den.bit_length()  # floor(log2(value)) is exp or exp - 1
    if (num if exp >= 0 else num << -exp) < (den << exp if exp >= 0 else den):
        exp -= 1
    ulp = max(exp - fmt.precision + 1, fmt.min_exp)
    if ulp >= 0:
        den <<= ulp
    else:
        num <<= -ulp
    quotient, remainder = divmod(num, den)
    if 2 * remainder > den or (2 * remainder == den and quotient & 1):
        quotient += 1
    if quotient.bit_length() + ulp > fmt.max_exp:
        return None
    return Fraction(quotient << ulp) if ulp >= 0 else Fraction(quotient, 1 << -ulp)


def format_fixed(value: Fraction, digits: int, negative: bool = False) -> bytes:
    """C's `%.<digits>f` of an exact value (glibc rounds ties to even)."""
    negative = negative or value < 0
    scaled = abs(value) * 10**digits
    whole, remainder = divmod(scaled.numerator, scaled.denominator)
    if 2 * remainder > scaled.denominator or (2 * remainder == scaled.denominator and whole & 1):
        whole += 1
    text = int_to_digits(whole).rjust(digits + 1, b"0")
    sign = b"-" if negative else b""
    return sign + text[:-digits] + b"." + text[-digits:] if digits else sign + text


def format_long_double_human(value: Fraction) -> bytes:
    """Redis's `ld2string(..., LD_STR_HUMAN)`: `%.17Lf` without trailing zeros, -0 as 0."""
    text = format_fixed(value, 17).rstrip(b"0").rstrip(b".")
    return b"0" if text == b"-0" else text


def int_to_digits(value: int) -> bytes:
    """Decimal digits of a non-negative int of any size (str() refuses > 4300 digits)."""
    if value < 10**_CHUNK_DIGITS:
        return str(value).encode()
    high, low = divmod(value, 10**_CHUNK_DIGITS)
    return int_to_digits(high) + str(low).encode().rjust(_CHUNK_DIGITS, b"0")


def _digits_to_int(digits: bytes) -> int:
    value = 0
    for start in range(0, len(digits), _CHUNK_DIGITS):
        chunk = digits[start : start + _CHUNK_DIGITS]
        value = value * 10 ** len(chunk) + int(chunk)
    return value


def _exponent(text: bytes | None) -> int:
    """An exponent's value, clamped: anything huge is equally out of every format's range."""
    if not text:
        return 0
    negative = text[:1] == b"-"
    digits = text.lstrip(b"+-").lstrip(b"0") or b"0"
    value = int(digits) if len(digits) <= 7 else _HUGE_EXPONENT
    return -value if negative else value


def _decimal_value(body: bytes, fmt: BinaryFormat) -> Fraction | None:
    match = _DECIMAL.fullmatch(body)
    if match is None or not (match[1] or match[2]):
        return None
    fraction_digits = match[2] or b""
    digits = (match[1] + fraction_digits).lstrip(b"0")
    exp10 = _exponent(match[3]) - len(fraction_digits)
    if not digits:
        return Fraction(0)
    stripped = digits.rstrip(b"0")
    exp10 += len(digits) - len(stripped)
    digits = stripped
    if len(digits) > fmt.max_digits:
        # Past max_digits only "are the dropped digits non-zero" can change the rounding
        # (every halfway point between two values of the format has fewer digits), so the
        # tail becomes one sticky non-zero digit.
        exp10 += len(digits) - fmt.max_digits - 1
        digits = digits[: fmt.max_digits] + b"1"
    magnitude = exp10 + len(digits)  # 10**(magnitude-1) <= value < 10**magnitude
    if abs(magnitude) > 2 * fmt.max_exp:  # bits > decimal digits: clearly out of range
        return None
    mantissa = _digits_to_int(digits)
    return Fraction(mantissa * 10**exp10) if exp10 >= 0 else Fraction(mantissa, 10**-exp10)


def _hex_value(body: bytes) -> Fraction | None:
    match = _HEX.fullmatch(body)
    if match is None or not (match[1] or match[2]):
        return None
    fraction_digits = match[2] or b""
    mantissa = int(match[1] + fraction_digits or b"0", 16)
    exp2 = _exponent(match[3]) - 4 * len(fraction_digits)
    if mantissa == 0:
        return Fraction(0)
    if abs(exp2 + mantissa.bit_length()) > _MAX_BINARY_MAGNITUDE:
        return None
    return Fraction(mantissa << exp2) if exp2 >= 0 else Fraction(mantissa, 1 << -exp2)

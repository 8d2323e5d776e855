"""The RDB format's building blocks: lengths, strings (integer, LZF or verbatim), doubles.

Writers append to a `bytearray` exactly what rdb.c's rdbSaveLen, rdbSaveRawString and
rdbSaveBinaryDoubleValue write (Redis 7.0, rdbcompression yes). `Reader` reads them back as
rdbLoadLen, rdbGenericLoadStringObject and the double loaders do, over the whole RESTORE
argument: Redis parses the value from the start of the payload and never checks that it
ends where the footer starts, so a value may run into the footer's bytes, and bytes left
before the footer are ignored. Every malformed or truncated input raises `BadPayload`, never
anything else, and nothing is allocated from a declared length before the bytes are there.
Pure: no I/O.
"""

from __future__ import annotations

import math
import re
import struct
from typing import Final

from ...resp import string2ll
from . import lzf

ENCODED: Final = 3  # RDB_ENCVAL: the top two bits of a length byte mark a special string
ENC_INT8: Final = 0
ENC_INT16: Final = 1
ENC_INT32: Final = 2
ENC_LZF: Final = 3
LEN_32BIT: Final = 0x80
LEN_64BIT: Final = 0x81
COMPRESS_ABOVE: Final = 20  # rdbSaveRawString: shorter strings never shrink
INTEGER_TEXT_MAX: Final = 11  # rdbSaveRawString tries integers only up to "-2147483648"

_DOUBLE = struct.Struct("<d")
# A double's text as strtod reads it (after leading spaces): decimal or hex, inf, infinity,
# nan with an optional n-char sequence, signed.
_C_DOUBLE = re.compile(
    rb"[ \t\n\v\f\r]*([+-]?)(0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)"
    rb"(?:[pP][+-]?[0-9]+)?|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    rb"|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN](?:\([0-9A-Za-z_]*\))?)"
)


_HEX_CONTINUATIONS = frozenset(bytes((c,)) for c in b"0123456789abcdef.")


class BadPayload(ValueError):
    """The payload is not a value RESTORE can load ("Bad data format")."""


# -- writing ----------------------------------------------------------------------------


def write_length(out: bytearray, length: int) -> None:
    """rdbSaveLen: 6-bit, 14-bit (big-endian), or a marker and a 32/64-bit big-endian."""
    if length < 1 << 6:
        out.append(length)
    elif length < 1 << 14:
        out += bytes(((length >> 8) | 0x40, length & 0xFF))
    elif length <= 0xFFFFFFFF:
        out.append(LEN_32BIT)
        out += length.to_bytes(4, "big")
    else:
        out.append(LEN_64BIT)
        out += length.to_bytes(8, "big")


def integer_encoding(number: int) -> bytes | None:
    """rdbEncodeInteger: a number in a signed 8/16/32-bit encoding, or None if too large."""
    if -(1 << 7) <= number < 1 << 7:
        return bytes((0xC0 | ENC_INT8,)) + number.to_bytes(1, "little", signed=True)
    if -(1 << 15) <= number < 1 << 15:
        return bytes((0xC0 | ENC_INT16,)) + number.to_bytes(2, "little", signed=True)
    if -(1 << 31) <= number < 1 << 31:
        return bytes((0xC0 | ENC_INT32,)) + number.to_bytes(4, "little", signed=True)
    return None


def write_string(out: bytearray, data: bytes | bytearray) -> None:
    """rdbSaveRawString: an integer encoding for the text of a small integer, else LZF when
    it saves at least 4 bytes of a string over 20 bytes, else the length and the bytes."""
    size = len(data)
    if size <= INTEGER_TEXT_MAX:
        number = string2ll(bytes(data))
        if number is not None:
            encoded = integer_encoding(number)
            if encoded is not None:
                out += encoded
                return
    if size > COMPRESS_ABOVE:
        compressed = lzf.compress(data, size - 4)
        if compressed is not None:
            write_lzf_blob(out, compressed, size)
            return
    write_length(out, size)
    out += data


def write_lzf_blob(out: bytearray, compressed: bytes, size: int) -> None:
    """rdbSaveLzfBlob: the LZF marker, the compressed and the original lengths, the data."""
    out.append(0xC0 | ENC_LZF)
    write_length(out, len(compressed))
    write_length(out, size)
    out += compressed


def write_binary_double(out: bytearray, value: float) -> None:
    """rdbSaveBinaryDoubleValue: the IEEE 754 double, little-endian."""
    out += _DOUBLE.pack(value)


# -- reading ----------------------------------------------------------------------------


class Reader:
    """A cursor over a RESTORE argument (the footer included, as rio sees it)."""

    __slots__ = ("data", "position")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def take(self, size: int) -> bytes:
        """rioRead: the next `size` bytes; BadPayload if there are fewer."""
        start = self.position
        end = start + size
        if size < 0 or end > len(self.data):
            raise BadPayload("short read")
        self.position = end
        return self.data[start:end]

    def byte(self) -> int:
        position = self.position
        if position >= len(self.data):
            raise BadPayload("short read")
        self.position = position + 1
        return self.data[position]

    def length_or_encoding(self) -> tuple[int, bool]:
        """rdbLoadLenByRef: (length, False), or (encoding type, True) for a special string."""
        first = self.byte()
        kind = first >> 6
        if kind == ENCODED:
            return first & 0x3F, True
        if kind == 0:
            return first & 0x3F, False
        if kind == 1:
            return (first & 0x3F) << 8 | self.byte(), False
        if first == LEN_32BIT:
            return int.from_bytes(self.take(4), "big"), False
        if first == LEN_64BIT:
            return int.from_bytes(self.take(8), "big"), False
        raise BadPayload(f"unknown length encoding {first:#x}")

    def length(self) -> int:
        """rdbLoadLen, where a special-string marker reads as its encoding type (as Redis
        does when it does not ask)."""
        return self.length_or_encoding()[0]

    def string(self) -> bytes:
        """rdbGenericLoadStringObject: an integer's decimal text, an LZF string inflated, or
        the bytes as stored."""
        length, encoded = self.length_or_encoding()
        if not encoded:
            return self.take(length)
        if length == ENC_INT8:
            return b"%d" % int.from_bytes(self.take(1), "little", signed=True)
        if length == ENC_INT16:
            return b"%d" % int.from_bytes(self.take(2), "little", signed=True)
        if length == ENC_INT32:
            return b"%d" % int.from_bytes(self.take(4), "little", signed=True)
        if length == ENC_LZF:
            compressed_size = self.length()
            size = self.length()
            compressed = self.take(compressed_size)
            data = lzf.decompress(compressed, size)
            if data is None:
                raise BadPayload("invalid LZF compressed string")
            return data
        raise BadPayload(f"unknown string encoding {length}")

    def binary_double(self) -> float:
        """rdbLoadBinaryDoubleValue."""
        value: float = _DOUBLE.unpack(self.take(8))[0]
        return value

    def text_double(self) -> float:
        """rdbLoadDoubleValue (RDB_TYPE_ZSET): a length byte (253 nan, 254 inf, 255 -inf)
        then the text, read as sscanf("%lg") reads it (the text ends at a NUL)."""
        size = self.byte()
        if size == 255:
            return -math.inf
        if size == 254:
            return math.inf
        if size == 253:
            return math.nan
        value = c_double(self.take(size).split(b"\0", 1)[0], whole=False)
        if value is None:
            raise BadPayload("unreadable double")
        return value


def c_double(text: bytes, *, whole: bool) -> float | None:
    """The double C reads from `text`: strtod's correctly rounded value (an out-of-range
    magnitude is inf or 0, as strtod returns it). `whole`: the text must be nothing else
    (else None); otherwise only its start is read, as sscanf("%lg") reads it. None if it
    does not start with a number."""
    match = _C_DOUBLE.match(text)
    if match is None or (whole and match.end() != len(text)):
        return None
    if not whole and _scanf_dead_end(text[match.start(2) :].lower()):
        return None
    sign, body = match.group(1), match.group(2).lower()
    if body.startswith(b"inf"):
        value = math.inf
    elif body.startswith(b"nan"):
        value = math.nan
    elif body.startswith(b"0x"):
        try:
            value = float.fromhex(body.decode())
        except OverflowError:
            value = math.inf
    else:
        value = float(body)
    return -value if sign == b"-" else value


def _scanf_dead_end(body: bytes) -> bool:
    """Where glibc's sscanf("%lg") fails though strtod reads a number: it has consumed a
    prefix it cannot give back, "0x" with no hex digit or point after it, or "inf" followed
    by part of "inity"."""
    if body.startswith(b"0x"):
        return body[2:3] not in _HEX_CONTINUATIONS
    if body.startswith(b"inf"):
        rest = body[3:8]
        matched = next((n for n in range(len(rest), 0, -1) if b"inity".startswith(rest[:n])), 0)
        return 0 < matched < len(b"inity")
    return False

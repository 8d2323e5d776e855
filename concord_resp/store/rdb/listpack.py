"""Listpacks as Redis 7.0's listpack.c lays them out: the encoding of small hashes, sorted
sets and list nodes in DUMP payloads.

A listpack is a 6-byte header (total bytes, element count, little-endian; a count of 65535
means "count them"), the entries, and a 0xFF terminator. An entry is an encoding byte (7-bit
uint, 6-bit/12-bit/32-bit string length, 13/16/24/32/64-bit int), its data, and a back-length
(its size so far, 7 bits a byte, most significant first) that lets Redis walk it backwards.
`entry` encodes one element as lpAppend does: a string that is the canonical text of a 64-bit
integer (lpStringToInt64) is stored as that integer, in the narrowest encoding. `decode`
reads a listpack with every check of Redis's deep lpValidateIntegrity (sizes, bounds,
back-lengths, terminator, count), whatever the server's sanitize-dump-payload setting: a
malformed listpack raises `BadPayload` instead of being trusted. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ...resp import string2ll
from .primitives import BadPayload

HEADER_SIZE: Final = 6
EOF: Final = 0xFF
COUNT_UNKNOWN: Final = 0xFFFF
EMPTY_SIZE: Final = HEADER_SIZE + 1
INTEGER_TEXT_MAX: Final = 20  # lpStringToInt64 refuses texts of LONG_STR_SIZE (21) or more
_NUMBER_START: Final = frozenset(b"-0123456789")


def backlen(size: int) -> bytes:
    """lpEncodeBacklen: `size` in 7-bit groups, the last byte first in memory order
    reversed (the byte nearest the entry's end holds the low bits and no flag)."""
    if size <= 127:
        return bytes((size,))
    if size < 16383:
        return bytes((size >> 7, (size & 127) | 128))
    if size < 2097151:
        return bytes((size >> 14, ((size >> 7) & 127) | 128, (size & 127) | 128))
    if size < 268435455:
        return bytes(
            (size >> 21, ((size >> 14) & 127) | 128, ((size >> 7) & 127) | 128, (size & 127) | 128)
        )
    return bytes(
        (
            size >> 28,
            ((size >> 21) & 127) | 128,
            ((size >> 14) & 127) | 128,
            ((size >> 7) & 127) | 128,
            (size & 127) | 128,
        )
    )


def integer_entry(number: int) -> bytes:
    """lpEncodeIntegerGetType, with the back-length: one integer's entry."""
    if 0 <= number <= 127:
        return bytes((number, 1))
    if -4096 <= number <= 4095:
        number &= 0x1FFF
        return bytes(((number >> 8) | 0xC0, number & 0xFF, 2))
    if -32768 <= number <= 32767:
        return b"\xf1" + number.to_bytes(2, "little", signed=True) + b"\x03"
    if -8388608 <= number <= 8388607:
        return b"\xf2" + number.to_bytes(3, "little", signed=True) + b"\x04"
    if -(1 << 31) <= number < 1 << 31:
        return b"\xf3" + number.to_bytes(4, "little", signed=True) + b"\x05"
    return b"\xf4" + number.to_bytes(8, "little", signed=True) + b"\x09"


def string_entry(data: bytes) -> bytes:
    """lpEncodeString, with the back-length: one string's entry (never integer-encoded)."""
    size = len(data)
    if size < 64:
        return bytes((size | 0x80,)) + data + bytes((size + 1,))
    if size < 4096:
        head = bytes(((size >> 8) | 0xE0, size & 0xFF))
    else:
        head = b"\xf0" + size.to_bytes(4, "little")
    return head + data + backlen(len(head) + size)


def entry(data: bytes) -> bytes:
    """What lpAppend stores for `data`: an integer entry for an integer's text, else a
    string entry."""
    if data and len(data) <= INTEGER_TEXT_MAX and data[0] in _NUMBER_START:
        number = string2ll(data)
        if number is not None:
            return integer_entry(number)
    return string_entry(data)


def assemble(entries: list[bytes] | tuple[bytes, ...]) -> bytes:
    """A listpack of already encoded entries."""
    body = b"".join(entries)
    total = HEADER_SIZE + len(body) + 1
    count = min(len(entries), COUNT_UNKNOWN)
    return total.to_bytes(4, "little") + count.to_bytes(2, "little") + body + b"\xff"


def encode(items: Iterable[bytes]) -> bytes:
    """A listpack of these strings, appended in order."""
    return assemble([entry(item) for item in items])


# -- reading ------------------------------------------------------------------------------


def decode(blob: bytes) -> list[bytes | int]:
    """The elements of a listpack, integers as ints and strings as bytes, after Redis's
    deep integrity checks; BadPayload if any fails."""
    size = len(blob)
    if size < EMPTY_SIZE:
        raise BadPayload("listpack shorter than its header")
    if int.from_bytes(blob[0:4], "little") != size or blob[size - 1] != EOF:
        raise BadPayload("listpack size or terminator")
    declared = blob[4] | blob[5] << 8
    last = size - 1  # the terminator: no entry may reach it
    items: list[bytes | int] = []
    append = items.append
    p = HEADER_SIZE
    while blob[p] != EOF:
        first = blob[p]
        if first < 0x80:  # 7-bit uint
            data_end = p + 1
            append(first)
        elif first < 0xC0:  # 6-bit string
            data_end = p + 1 + (first & 0x3F)
            if data_end > last:
                raise BadPayload("listpack entry out of range")
            append(blob[p + 1 : data_end])
        elif first < 0xE0:  # 13-bit int
            data_end = p + 2
            if data_end > last:
                raise BadPayload("listpack entry out of range")
            value = (first & 0x1F) << 8 | blob[p + 1]
            append(value - 8192 if value >= 4096 else value)
        elif first < 0xF0:  # 12-bit string
            if p + 2 > last:
                raise BadPayload("listpack entry out of range")
            data_end = p + 2 + ((first & 0x0F) << 8 | blob[p + 1])
            if data_end > last:
                raise BadPayload("listpack entry out of range")
            append(blob[p + 2 : data_end])
        elif first == 0xF0:  # 32-bit string
            if p + 5 > last:
                raise BadPayload("listpack entry out of range")
            data_end = p + 5 + int.from_bytes(blob[p + 1 : p + 5], "little")
            if data_end > last:
                raise BadPayload("listpack entry out of range")
            append(blob[p + 5 : data_end])
        elif 0xF1 <= first <= 0xF4:  # 16, 24, 32, 64-bit int
            width = (2, 3, 4, 8)[first - 0xF1]
            data_end = p + 1 + width
            if data_end > last:
                raise BadPayload("listpack entry out of range")
            append(int.from_bytes(blob[p + 1 : data_end], "little", signed=True))
        else:
            raise BadPayload(f"listpack entry encoding {first:#x}")
        encoded = data_end - p
        next_entry = data_end + len(backlen(encoded))
        if next_entry > last:
            raise BadPayload("listpack entry out of range")
        if _read_backlen(blob, next_entry - 1) != encoded:
            raise BadPayload("listpack back-length")
        p = next_entry
    if p != last:
        raise BadPayload("listpack ends before its terminator")
    if declared != COUNT_UNKNOWN and declared != len(items):
        raise BadPayload("listpack element count")
    return items


def _read_backlen(blob: bytes, position: int) -> int:
    """lpDecodeBacklen from the entry's last byte backwards; -1 for more than 5 bytes."""
    value = 0
    shift = 0
    while True:
        byte = blob[position]
        value |= (byte & 127) << shift
        if not byte & 128:
            return value
        shift += 7
        position -= 1
        if shift > 28:
            return -1

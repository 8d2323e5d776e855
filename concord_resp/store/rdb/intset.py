"""Intsets as Redis's intset.c lays them out: a set of integers in a DUMP payload.

An intset is its encoding (2, 4 or 8: bytes per member), its length (both 32-bit
little-endian) and its members, ascending, little-endian. Redis widens the encoding when a
member needs it and never narrows it again, so a set that once held a wide member keeps the
wide encoding after losing it; Concord keeps no such history and writes the narrowest
encoding for the members it has (Redis writes the same bytes for a set built by adding
members). `decode` checks what intsetValidateIntegrity checks with deep sanitization (the
header, the size, a strictly ascending order), whatever the server's setting. Pure: no I/O.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence
from itertools import pairwise
from typing import Final

from .primitives import BadPayload

HEADER_SIZE: Final = 8
_CODES: Final = {2: "h", 4: "i", 8: "q"}


def width(low: int, high: int) -> int:
    """_intsetValueEncoding of the extremes: the narrowest encoding holding both."""
    if low >= -(1 << 15) and high < 1 << 15:
        return 2
    if low >= -(1 << 31) and high < 1 << 31:
        return 4
    return 8


def encode(members: Sequence[int]) -> bytes:
    """The intset of these members (ascending, at least one)."""
    size = width(members[0], members[-1])
    body = b"".join(number.to_bytes(size, "little", signed=True) for number in members)
    return size.to_bytes(4, "little") + len(members).to_bytes(4, "little") + body


def decode(blob: bytes) -> list[int]:
    """The members of an intset, after intsetValidateIntegrity's deep checks."""
    if len(blob) < HEADER_SIZE:
        raise BadPayload("intset shorter than its header")
    size = int.from_bytes(blob[0:4], "little")
    length = int.from_bytes(blob[4:8], "little")
    if size not in _CODES:
        raise BadPayload(f"intset encoding {size}")
    if HEADER_SIZE + length * size != len(blob) or length == 0:
        raise BadPayload("intset length")
    members = array(_CODES[size], blob[HEADER_SIZE:])
    if sys.byteorder == "big":
        members.byteswap()
    if any(a >= b for a, b in pairwise(members)):
        raise BadPayload("intset not strictly ascending")
    return members.tolist()

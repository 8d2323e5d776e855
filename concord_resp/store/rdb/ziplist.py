"""The encodings older RDB versions wrote, read for RESTORE only: ziplists and zipmaps.

A ziplist (Redis 2.6 to 6.2: small lists, hashes and sorted sets) is a 10-byte header (total
bytes, offset of the last entry, count), entries each starting with the previous entry's size
(1 byte, or 0xFE and 4 bytes) and an encoding (6/14/32-bit string length; 8/16/24/32/64-bit
or 4-bit immediate integer), and a 0xFF terminator. Redis always validates a ziplist deeply
when it loads one (ziplistValidateIntegrity), and so does `decode_ziplist`. A zipmap (Redis
2.4 hashes) is a count byte, then length-prefixed field and value (with a free-space byte)
pairs, ended by 0xFF; `decode_zipmap` checks what zipmapValidateIntegrity checks. Redis writes
neither any more, so there is no encoder. Malformed input raises `BadPayload`. Pure: no I/O.
"""

from __future__ import annotations

from typing import Final

from .primitives import BadPayload

HEADER_SIZE: Final = 10
END: Final = 0xFF
BIG_PREVLEN: Final = 0xFE
COUNT_UNKNOWN: Final = 0xFFFF
ZIPMAP_BIGLEN: Final = 254

# Integer encodings: (data bytes) by encoding byte.
_INT_WIDTHS: Final = {0xFE: 1, 0xC0: 2, 0xF0: 3, 0xD0: 4, 0xE0: 8}


def decode_ziplist(blob: bytes) -> list[bytes | int]:
    """The entries of a ziplist (strings as bytes, integers as ints), after Redis's deep
    integrity checks."""
    size = len(blob)
    if size < HEADER_SIZE + 1:
        raise BadPayload("ziplist shorter than its header")
    if int.from_bytes(blob[0:4], "little") != size or blob[size - 1] != END:
        raise BadPayload("ziplist size or terminator")
    tail = int.from_bytes(blob[4:8], "little")
    if tail > size - 1:
        raise BadPayload("ziplist tail offset")
    declared = blob[8] | blob[9] << 8
    last = size - 1  # zllast: no entry may reach past the terminator
    entries: list[bytes | int] = []
    p = HEADER_SIZE
    previous_start = -1
    previous_size = 0
    while blob[p] != END:
        if blob[p] < BIG_PREVLEN:
            prevlen_size, prevlen = 1, blob[p]
        else:
            prevlen_size = 5
            if p + 5 > last:
                raise BadPayload("ziplist entry out of range")
            prevlen = int.from_bytes(blob[p + 1 : p + 5], "little")
        head = p + prevlen_size
        if head > last:
            raise BadPayload("ziplist entry out of range")
        encoding = blob[head]
        if encoding < 0xC0:
            kind = encoding & 0xC0
            if kind == 0x00:
                length_size, length = 1, encoding & 0x3F
            elif kind == 0x40:
                length_size = 2
                if head + 2 > last:
                    raise BadPayload("ziplist entry out of range")
                length = (encoding & 0x3F) << 8 | blob[head + 1]
            else:
                length_size = 5
                if head + 5 > last:
                    raise BadPayload("ziplist entry out of range")
                length = int.from_bytes(blob[head + 1 : head + 5], "big")
            data = head + length_size
            end = data + length
            if end > last:
                raise BadPayload("ziplist entry out of range")
            entries.append(blob[data:end])
        elif 0xF1 <= encoding <= 0xFD:
            end = head + 1
            entries.append((encoding & 0x0F) - 1)
        else:
            width = _INT_WIDTHS.get(encoding)
            if width is None:
                raise BadPayload(f"ziplist entry encoding {encoding:#x}")
            end = head + 1 + width
            if end > last:
                raise BadPayload("ziplist entry out of range")
            entries.append(int.from_bytes(blob[head + 1 : end], "little", signed=True))
        if p - prevlen < HEADER_SIZE or prevlen != previous_size:
            raise BadPayload("ziplist previous entry length")
        previous_start, previous_size = p, end - p
        p = end
    if p != size - 1:
        raise BadPayload("ziplist does not end at its terminator")
    if previous_start >= 0 and previous_start != tail:
        raise BadPayload("ziplist tail offset")
    if declared != COUNT_UNKNOWN and declared != len(entries):
        raise BadPayload("ziplist entry count")
    return entries


def decode_zipmap(blob: bytes) -> list[tuple[bytes, bytes]]:
    """The (field, value) pairs of a zipmap, after zipmapValidateIntegrity's deep checks."""
    size = len(blob)
    if size < 2 or blob[size - 1] != END:
        raise BadPayload("zipmap size or terminator")
    last = size - 1
    pairs: list[tuple[bytes, bytes]] = []
    p = 1  # after the count byte
    while blob[p] != END:
        field_start, field_end = _zipmap_string(blob, p, last)
        if field_end > last:
            raise BadPayload("zipmap entry out of range")
        value_start, value_end = _zipmap_string(blob, field_end, last, free=True)
        free = blob[value_start - 1]
        p = value_end + free
        if p > last:
            raise BadPayload("zipmap entry out of range")
        pairs.append((blob[field_start:field_end], blob[value_start:value_end]))
    if not pairs:
        raise BadPayload("empty zipmap")
    if blob[0] != ZIPMAP_BIGLEN and blob[0] != len(pairs):
        raise BadPayload("zipmap count")
    return pairs


def _zipmap_string(blob: bytes, p: int, last: int, *, free: bool = False) -> tuple[int, int]:
    """(start, end) of the string whose length is encoded at `p` (a value's is followed by
    its free-space byte)."""
    if blob[p] < ZIPMAP_BIGLEN:
        size_bytes, length = 1, blob[p]
    else:
        size_bytes = 5
        if p + 5 > last:
            raise BadPayload("zipmap entry out of range")
        length = int.from_bytes(blob[p + 1 : p + 5], "little")
        if length < ZIPMAP_BIGLEN:
            # Redis validates by the first byte but walks by the decoded length: the two
            # disagree here, and Redis would read the wrong bytes.
            raise BadPayload("zipmap length not in its shortest form")
    if p + size_bytes > last:
        raise BadPayload("zipmap entry out of range")
    start = p + size_bytes + (1 if free else 0)
    return start, start + length

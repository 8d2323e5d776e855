"""LZF as Redis's lzf_c.c and lzf_d.c do it, so compressed RDB strings match Redis's bytes.

Redis compresses an RDB string longer than 20 bytes with LZF (liblzf 3.6 built with HLOG 16,
VERY_FAST, no ULTRA_FAST): a hash table of 65536 slots, indexed by the next three bytes, holds
the last position seen with that index; a slot that points back less than 8 kB, past the
first byte of the input, at the same three bytes starts a back reference as long as the
bytes match (at most 264); everything else is copied in literal runs of at most 32 bytes.
After a reference only the two positions before its end are hashed. The encoder here follows
that loop step for step, including its output-size checks (a result that would not fit in
`limit` bytes is refused exactly where lzf_compress gives up, so the caller stores the string
verbatim exactly when Redis does) and its unrolled match loop, which may run a match two
bytes past `maxlen` near the end of the input. Redis leaves the table uninitialised; a stale
slot never yields a reference a cleared one would not (its position is never behind the
current one and inside this input unless this run wrote it), so a cleared table is exact.

The decoder accepts what lzf_decompress accepts and refuses the rest (None). Pure: no I/O.
"""

from __future__ import annotations

import sys
from array import array
from typing import Final

HASH_SLOTS: Final = 1 << 16  # HLOG 16
MAX_LITERAL: Final = 1 << 5
MAX_OFFSET: Final = 1 << 13
MAX_REFERENCE: Final = (1 << 8) + (1 << 3)
_UINT32: Final = next(code for code in "ILH" if array(code).itemsize == 4)


def compress(data: bytes | bytearray, limit: int) -> bytes | None:
    """`lzf_compress(data, len, out, limit)`: the compressed bytes, or None where it returns
    0 (the result would not fit in `limit` bytes, or there is nothing to compress)."""
    size = len(data)
    if not size or limit <= 0:
        return None
    data = bytes(data)
    last = size - 2  # the main loop runs while ip < in_end - 2
    keys, slots = _hash_positions(data)
    table = [0] * HASH_SLOTS  # positions; 0 is an empty slot (position 0 is never a ref)
    out = bytearray()
    # lzf_compress reserves a run's control byte before its literals: the C output position
    # is len(out) + 1 + the literals pending since `literal_start`.
    literal_start = 0
    ip = 0
    while ip < last:
        # A literal run: hash each position until one starts a back reference.
        run_start = ip
        for ip in range(run_start, last):
            slot = slots[ip]
            ref = table[slot]
            table[slot] = ip
            if ref and keys[ref] == keys[ip] and ip - ref <= MAX_OFFSET:
                break
        else:
            ip = last
        if ip > run_start and _literal_position(out, ip - 1 - literal_start) >= limit:
            return None  # lzf_compress's `op >= out_end` before its last literal
        if ip >= last:
            break
        lit = ip - literal_start
        while lit >= MAX_LITERAL:  # the runs filled on the way
            _flush_literals(out, data, literal_start, literal_start + MAX_LITERAL)
            literal_start += MAX_LITERAL
            lit -= MAX_LITERAL
        op = len(out) + 1 + lit
        if op + 4 >= limit and op - (not lit) + 4 >= limit:
            return None
        if lit:
            _flush_literals(out, data, literal_start, ip)
        offset = ip - ref - 1
        length = _match_length(data, ref, ip, min(size - ip - 2, MAX_REFERENCE))
        code = length - 2  # lzf's `len`: the octets matched, minus 2
        if code < 7:
            out.append((offset >> 8) + (code << 5))
        else:
            out.append((offset >> 8) + (7 << 5))
            out.append(code - 7)
        out.append(offset & 0xFF)
        ip += length
        literal_start = ip
        if ip >= last:
            break
        # VERY_FAST: hash the two positions before the end of the match.
        table[slots[ip - 2]] = ip - 2
        table[slots[ip - 1]] = ip - 1
    lit = ip - literal_start
    while lit >= MAX_LITERAL:
        _flush_literals(out, data, literal_start, literal_start + MAX_LITERAL)
        literal_start += MAX_LITERAL
        lit -= MAX_LITERAL
    if len(out) + 1 + lit + 3 > limit:  # `op + 3 > out_end`: at most 3 bytes missing
        return None
    ip = size
    while ip - literal_start >= MAX_LITERAL:
        _flush_literals(out, data, literal_start, literal_start + MAX_LITERAL)
        literal_start += MAX_LITERAL
    if ip > literal_start:
        _flush_literals(out, data, literal_start, ip)
    return bytes(out)


def _literal_position(out: bytearray, pending: int) -> int:
    """The C output position before the literal that follows `pending` literals (runs of
    32 already closed among them count their control bytes)."""
    return len(out) + (pending // MAX_LITERAL) * (MAX_LITERAL + 1) + 1 + pending % MAX_LITERAL


def _hash_positions(data: bytes) -> tuple[array[int], array[int]]:
    """For every position with 3 bytes from it: the 3 bytes as a number, and the hash slot
    lzf_compress computes from them (IDX: ((h >> 8) - h * 5) & 0xffff, which only depends
    on these 3 bytes). Computed for all positions at once in 32-bit lanes of big integers,
    so the compressor's loop does no arithmetic."""
    count = max(len(data) - 2, 0)
    lanes = bytearray(4 * count)
    lanes[0::4] = data[2 : 2 + count]
    lanes[1::4] = data[1 : 1 + count]
    lanes[2::4] = data[0:count]
    keys = array(_UINT32, lanes)
    packed = int.from_bytes(lanes, "little")
    low16 = int.from_bytes(b"\xff\xff\x00\x00" * count, "little")
    bias = int.from_bytes(b"\x00\x00\x08\x00" * count, "little")  # keeps each lane >= 0
    mixed = (((packed >> 8) & low16) + bias - 5 * (packed & low16)) & low16
    slots = array(_UINT32, mixed.to_bytes(4 * count, "little"))
    if sys.byteorder == "big":
        keys.byteswap()
        slots.byteswap()
    return keys, slots


def _flush_literals(out: bytearray, data: bytes, start: int, end: int) -> None:
    out.append(end - start - 1)
    out += data[start:end]


def _match_length(data: bytes, ref: int, ip: int, maxlen: int) -> int:
    """The octets lzf_compress's match loop takes: the common prefix of the two positions
    (at least the 3 already compared), bounded by `maxlen`, except that the loop unrolled for
    `maxlen > 16` compares 16 more octets unchecked, so there a match reaches 19 octets even
    when `maxlen` is 17 or 18 (those octets exist: the input holds maxlen + 2 from `ip`)."""
    bound = max(maxlen, 19) if maxlen > 16 else max(maxlen, 3)
    # The first differing octet is the lowest set bit of the XOR of the two stretches.
    differ = int.from_bytes(data[ref : ref + bound], "little") ^ int.from_bytes(
        data[ip : ip + bound], "little"
    )
    if not differ:
        return bound
    return ((differ & -differ).bit_length() - 1) >> 3


def decompress(data: bytes | bytearray | memoryview, expected: int) -> bytes | None:
    """`lzf_decompress(data, len, out, expected)` checked as rdbLoadLzfStringObject checks
    it: the output if it is exactly `expected` bytes long, else None. (lzf_decompress returns
    0 on any error, so a declared length of 0 accepts any input, as it does in Redis.)"""
    data = bytes(data)
    out = bytearray()
    ip, end = 0, len(data)
    while ip < end:
        ctrl = data[ip]
        ip += 1
        if ctrl < MAX_LITERAL:
            run = ctrl + 1
            if len(out) + run > expected or ip + run > end:
                return b"" if expected == 0 else None
            out += data[ip : ip + run]
            ip += run
            continue
        length = ctrl >> 5
        back = ((ctrl & 0x1F) << 8) + 1
        if ip >= end:
            return b"" if expected == 0 else None
        if length == 7:
            length += data[ip]
            ip += 1
            if ip >= end:
                return b"" if expected == 0 else None
        back += data[ip]
        ip += 1
        length += 2
        start = len(out) - back
        if len(out) + length > expected or start < 0:
            return b"" if expected == 0 else None
        if back >= length:
            out += out[start : start + length]
        else:
            # Overlapping: the copy repeats the last `back` octets.
            pattern = out[start:]
            out += (pattern * (length // back + 1))[:length]
    return bytes(out) if len(out) == expected else None

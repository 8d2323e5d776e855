"""HyperLogLog sketches in Redis 7.0's exact byte representation (hyperloglog.c).

A sketch is a string value: a 16-byte header ("HYLL", the encoding byte, three unused bytes,
the cached cardinality as 8 little-endian bytes whose top bit says "stale"), then either 16384
6-bit registers packed from each byte's low bits up (dense, 12288 bytes) or a run-length code
of ZERO (00xxxxxx), XZERO (01xxxxxx yyyyyyyy) and VAL (1vvvvvxx) opcodes (sparse). Sparse
bytes depend on the order registers were set in, so `Sketch` replays Redis's in-place edits
(split an opcode, then merge equal VALs in a 5-opcode window) on a list of opcodes, and
promotes to dense exactly where Redis does. Whole-register work (counting, merging, packing)
goes through bytes-level tricks (`translate`, big-integer SWAR), never a loop per register.
Pure: no clock, no randomness; the same operations give the same bytes on every replica.
"""

from __future__ import annotations

import math
import re
import struct
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import Final

MAGIC: Final = b"HYLL"
HEADER_SIZE: Final = 16
P: Final = 14
REGISTERS: Final = 1 << P  # 16384
Q: Final = 64 - P  # hash bits left for the run of zeros
DENSE_BYTES: Final = REGISTERS * 6 // 8  # 12288
DENSE_SIZE: Final = HEADER_SIZE + DENSE_BYTES
DENSE: Final = 0
SPARSE: Final = 1
STALE_BIT: Final = 0x80  # in the header's last byte: the cached cardinality is stale
SEED: Final = 0xADC83B19
ALPHA_INF: Final = 0.721347520444481703680  # 0.5 / ln(2)

VAL_MAX_VALUE: Final = 32
VAL_MAX_LEN: Final = 4
ZERO_MAX_LEN: Final = 64
XZERO_MAX_LEN: Final = 16384

_MASK64: Final = (1 << 64) - 1
_MURMUR_M: Final = 0xC6A4A7935BD1E995
_LLONG_MIN: Final = -(1 << 63)

EMPTY: Final = MAGIC + bytes([SPARSE]) + bytes(11) + b"\x7f\xff"
"""A new sketch as Redis's `createHLLObject` makes it: sparse, one XZERO:16384, cache valid 0."""


class Corrupted(Exception):
    """The registers of a sparse sketch do not add up (Redis's INVALIDOBJ)."""


# -- hashing --------------------------------------------------------------------------------


def murmurhash64a(data: bytes, seed: int = SEED) -> int:
    """Redis's MurmurHash64A (endian-neutral: 8-byte blocks read little-endian)."""
    m = _MURMUR_M
    size = len(data)
    h = (seed ^ (size * m)) & _MASK64
    blocks = size >> 3
    if blocks:
        for k in struct.unpack_from(f"<{blocks}Q", data):
            k = (k * m) & _MASK64
            k ^= k >> 47
            h ^= (k * m) & _MASK64
            h = (h * m) & _MASK64
    tail = size & 7
    if tail:
        h ^= int.from_bytes(data[size - tail :], "little")
        h = (h * m) & _MASK64
    h ^= h >> 47
    h = (h * m) & _MASK64
    return h ^ (h >> 47)


def pattern(element: bytes) -> tuple[int, int]:
    """Redis's `hllPatLen`: (register index, length of the 0..01 run of the hash's rest)."""
    hash_ = murmurhash64a(element)
    rest = (hash_ >> P) | (1 << Q)
    return hash_ & (REGISTERS - 1), (rest & -rest).bit_length()


# -- the header -------------------------------------------------------------------------------


def is_sketch(value: bytes | bytearray) -> bool:
    """What Redis's `isHLLObjectOrReply` checks of a string: the magic, a known encoding and,
    when dense, the exact size. Sparse opcodes are only checked when they are read."""
    if len(value) < HEADER_SIZE or value[:4] != MAGIC or value[4] > SPARSE:
        return False
    return value[4] == SPARSE or len(value) == DENSE_SIZE


def cached_cardinality(value: bytes | bytearray) -> int | None:
    """The cardinality cached in the header, or None when it is stale."""
    if value[15] & STALE_BIT:
        return None
    return int.from_bytes(value[8:16], "little")


# -- registers as one byte each -----------------------------------------------------------------


def _table(function: Callable[[int], int]) -> bytes:
    return bytes(function(byte) & 0xFF for byte in range(256))


_LOW6: Final = _table(lambda b: b & 63)
_SHR2: Final = _table(lambda b: b >> 2)
_SHR4: Final = _table(lambda b: b >> 4)
_SHR6: Final = _table(lambda b: b >> 6)
_LOW2_SHL4: Final = _table(lambda b: (b & 3) << 4)
_LOW4_SHL2: Final = _table(lambda b: (b & 15) << 2)
_LOW4_SHL4: Final = _table(lambda b: (b & 15) << 4)
_SHL2: Final = _table(lambda b: b << 2)
_SHL6: Final = _table(lambda b: b << 6)
_QUARTER: Final = REGISTERS // 4  # 4 registers in every 3 bytes
_LANES_HIGH: Final = int.from_bytes(b"\x80" * REGISTERS, "little")
ZERO_REGISTERS: Final = bytes(REGISTERS)


def _or(a: bytes | bytearray, b: bytes | bytearray) -> bytes:
    """Byte-wise OR of two equally long byte strings whose set bits do not overlap."""
    size = len(a)
    return (int.from_bytes(a, "little") | int.from_bytes(b, "little")).to_bytes(size, "little")


def unpack_dense(packed: bytes | bytearray) -> bytes:
    """12288 bytes of packed 6-bit registers -> 16384 bytes, one register each."""
    b0, b1, b2 = packed[0::3], packed[1::3], packed[2::3]
    out = bytearray(REGISTERS)
    out[0::4] = b0.translate(_LOW6)
    out[1::4] = _or(b0.translate(_SHR6), b1.translate(_LOW4_SHL2))
    out[2::4] = _or(b1.translate(_SHR4), b2.translate(_LOW2_SHL4))
    out[3::4] = b2.translate(_SHR2)
    return bytes(out)


def pack_dense(registers: bytes | bytearray) -> bytearray:
    """16384 registers (each below 64) -> the 12288 bytes Redis's dense encoding holds."""
    r0, r1, r2, r3 = registers[0::4], registers[1::4], registers[2::4], registers[3::4]
    out = bytearray(DENSE_BYTES)
    out[0::3] = _or(r0, r1.translate(_SHL6))
    out[1::3] = _or(r1.translate(_SHR2), r2.translate(_LOW4_SHL4))
    out[2::3] = _or(r2.translate(_SHR4), r3.translate(_SHL2))
    return out


def max_registers(a: bytes, b: bytes) -> bytes:
    """The register-wise maximum of two register arrays (values below 128), in one pass of
    big-integer SWAR: a lane's top bit of (a|0x80) - b is set exactly where a >= b."""
    left = int.from_bytes(a, "little")
    right = int.from_bytes(b, "little")
    keep_left = ((((left | _LANES_HIGH) - right) & _LANES_HIGH) >> 7) * 0xFF
    return (right ^ ((left ^ right) & keep_left)).to_bytes(REGISTERS, "little")


def histogram(registers: bytes) -> list[int]:
    """How many registers hold each value 0..63: one C `count` per value, from 0 up until
    every register is counted (register values are dense from 0 up to the largest)."""
    counts = [0] * 64
    left = len(registers)
    for value in range(64):
        if not left:
            break
        found = registers.count(value)
        counts[value] = found
        left -= found
    return counts


# -- sparse opcodes -------------------------------------------------------------------------------
#
# An opcode is kept as one int: a ZERO or VAL opcode is its byte (0x00-0x3f, 0x80-0xff), an
# XZERO its two bytes big-endian (0x4000-0x7fff), so the three kinds are told apart by range.
# Sparse bytes are split into runs of one-byte opcodes and the XZEROs between them by a regex
# (scanning from the left, `[\x40-\x7f].` meets exactly the XZEROs), so that whole runs of
# one-byte opcodes go through `translate`, `map` and `join` instead of a Python loop.

_XZERO_OPCODE: Final = re.compile(rb"[\x40-\x7f].", re.DOTALL)
_SINGLE_BYTES: Final = [bytes([byte]) for byte in range(256)]


def _val_value(opcode: int) -> int:
    return ((opcode >> 2) & 0x1F) + 1


def _span(opcode: int) -> int:
    if opcode >= 0x4000:
        return (opcode & 0x3FFF) + 1
    if opcode & 0x80:
        return (opcode & 3) + 1
    return opcode + 1


_SINGLE_SPANS: Final = bytes(0 if 0x40 <= byte < 0x80 else _span(byte) for byte in range(256))
"""The run of each one-byte opcode (0 for the bytes that start an XZERO)."""
_SINGLE_REGISTERS: Final = [
    b""
    if 0x40 <= byte < 0x80
    else _SINGLE_BYTES[_val_value(byte) if byte & 0x80 else 0] * _span(byte)
    for byte in range(256)
]
"""The registers each one-byte opcode stands for."""


def _zero_opcode(run: int) -> int:
    return (0x4000 | (run - 1)) if run > ZERO_MAX_LEN else run - 1


def _val_opcode(value: int, run: int) -> int:
    return 0x80 | ((value - 1) << 2) | (run - 1)


def _opcode_size(opcode: int) -> int:
    return 2 if opcode >= 0x4000 else 1


def _segments(data: bytes | bytearray) -> Iterator[tuple[bytes | bytearray, int | None]]:
    """(one-byte opcodes, the XZERO after them or None at the end). A last XZERO cut after
    its first byte reads its second byte as 0, as Redis reads the string's NUL terminator."""
    position = 0
    for match in _XZERO_OPCODE.finditer(data):
        start = match.start()
        yield data[position:start], (data[start] << 8) | data[start + 1]
        position = start + 2
    tail = data[position:]
    if tail and 0x40 <= tail[-1] < 0x80:
        yield tail[:-1], tail[-1] << 8
    else:
        yield tail, None


def parse_sparse(data: bytes | bytearray) -> list[int]:
    """The opcodes of sparse register bytes (the header excluded)."""
    opcodes: list[int] = []
    for singles, xzero in _segments(data):
        opcodes.extend(singles)
        if xzero is not None:
            opcodes.append(xzero)
    return opcodes


def parse_sparse_starts(data: bytes | bytearray) -> tuple[list[int], list[int]]:
    """The opcodes of sparse register bytes and the first register each covers."""
    opcodes: list[int] = []
    spans: list[int] = []
    for singles, xzero in _segments(data):
        opcodes.extend(singles)
        spans.extend(singles.translate(_SINGLE_SPANS))
        if xzero is not None:
            opcodes.append(xzero)
            spans.append(_span(xzero))
    starts = list(accumulate(spans, initial=0))
    starts.pop()
    return opcodes, starts


def encode_sparse(opcodes: list[int]) -> bytes:
    """The bytes of a list of opcodes."""
    pairs = array("H", opcodes)
    pairs.byteswap()  # big-endian pairs: a one-byte opcode is 0x00 then its byte
    raw = pairs.tobytes()
    pieces = []
    position = 0
    for match in re.finditer(rb"[^\x00]", raw[0::2]):  # the XZEROs' first bytes
        at = match.start()
        pieces.append(raw[2 * position + 1 : 2 * at : 2])
        pieces.append(raw[2 * at : 2 * at + 2])
        position = at + 1
    pieces.append(raw[2 * position + 1 :: 2])
    return b"".join(pieces)


def sparse_registers(data: bytes | bytearray) -> bytes:
    """The registers of sparse bytes, one byte each, as `hllMerge`, `hllSparseToDense` and
    `hllSparseRegHisto` read them: Corrupted unless the runs cover exactly 16384 registers.
    (Since the fix of CVE-2025-32023, which Redis 7.0.15 as packaged carries, any run past
    the last register is corruption, a trailing VAL run too.)"""
    segments = list(_segments(data))
    covered = 0
    for singles, xzero in segments:  # count first: corrupted runs could be huge
        covered += sum(singles.translate(_SINGLE_SPANS))
        if xzero is not None:
            covered += _span(xzero)
    if covered != REGISTERS:
        raise Corrupted
    pieces: list[bytes] = []
    for singles, xzero in segments:
        pieces.extend(map(_SINGLE_REGISTERS.__getitem__, singles))
        if xzero is not None:
            pieces.append(bytes(_span(xzero)))
    return b"".join(pieces)


def decode_sparse(opcodes: list[int]) -> bytes:
    """PFDEBUG DECODE's text: `z:<run>`, `Z:<run>` and `v:<value>,<run>`, space separated."""
    words = []
    for opcode in opcodes:
        run = _span(opcode)
        if opcode >= 0x4000:
            words.append(b"Z:%d" % run)
        elif opcode & 0x80:
            words.append(b"v:%d,%d" % (_val_value(opcode), run))
        else:
            words.append(b"z:%d" % run)
    return b" ".join(words)


def registers_of(value: bytes | bytearray) -> bytes:
    """The 16384 registers of a sketch (`is_sketch` holds), one byte each; Corrupted for a
    sparse sketch whose runs do not add up."""
    if value[4] == DENSE:
        return unpack_dense(value[HEADER_SIZE:])
    return sparse_registers(value[HEADER_SIZE:])


def histogram_of(value: bytes | bytearray) -> list[int]:
    """The register histogram as PFCOUNT of one key computes it (Corrupted as Redis finds it)."""
    return histogram(registers_of(value))


# -- the estimator -------------------------------------------------------------------------------


def _sigma(x: float) -> float:
    # Ertl, "New cardinality estimation algorithms for HyperLogLog sketches" (2017).
    if x == 1.0:
        return math.inf
    y = 1.0
    z = x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if previous == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y = 1.0
    z = 1 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= (1 - x) ** 2 * y
        if previous == z:
            return z / 3


def estimate(counts: list[int]) -> int:
    """Redis 7.0's `hllCount` from a register histogram, float for float, and its reply: the
    estimate goes through `llroundl`, a double and a uint64 cast, as in C (an estimate past
    2^63, or an infinite one, comes out as -2^63)."""
    m = float(REGISTERS)
    z = m * _tau((m - counts[Q + 1]) / m)
    for j in range(Q, 0, -1):
        z += counts[j]
        z *= 0.5
    z += m * _sigma(counts[0] / m)
    if z == 0.0:
        return _LLONG_MIN
    x = ALPHA_INF * m * m / z
    if not x < 2.0**63:  # llroundl cannot represent it (or it is infinite)
        return _LLONG_MIN
    whole = math.floor(x)
    rounded = whole + 1 if x - whole >= 0.5 else whole
    as_double = float(rounded)
    return _LLONG_MIN if as_double >= 2.0**63 else int(as_double)


# -- a sketch being changed ------------------------------------------------------------------------


class Sketch:
    """A mutable copy of a sketch (`is_sketch` holds) that replays Redis's edits.

    Dense: the 12288 packed register bytes. Sparse: the opcodes, the first register each
    covers (`starts`, for bisection: a split or merge never moves another opcode's start)
    and the byte size the opcodes take, which decides the promotion to dense.
    """

    __slots__ = ("dense", "header", "opcodes", "size", "starts")

    def __init__(self, value: bytes | bytearray) -> None:
        self.header = bytearray(value[:HEADER_SIZE])
        self.dense: bytearray | None = None
        self.opcodes: list[int] = []
        self.starts: list[int] = []
        self.size = 0
        if value[4] == DENSE:
            self.dense = bytearray(value[HEADER_SIZE:])
        else:
            self.opcodes, self.starts = parse_sparse_starts(value[HEADER_SIZE:])
            self.size = len(value) - HEADER_SIZE

    @property
    def is_dense(self) -> bool:
        return self.dense is not None

    def to_bytes(self) -> bytes:
        if self.dense is not None:
            return bytes(self.header) + self.dense
        return bytes(self.header) + encode_sparse(self.opcodes)

    def invalidate(self) -> None:
        """Mark the cached cardinality stale (HLL_INVALIDATE_CACHE)."""
        self.header[15] |= STALE_BIT

    def registers(self) -> bytes:
        if self.dense is not None:
            return unpack_dense(self.dense)
        return sparse_registers(encode_sparse(self.opcodes))

    def to_dense(self) -> bool:
        """Redis's `hllSparseToDense` (the header is kept, cache included). False if the
        sparse runs are corrupted (then nothing changes); True if dense already."""
        if self.dense is not None:
            return True
        try:
            registers = sparse_registers(encode_sparse(self.opcodes))
        except Corrupted:
            return False
        self.dense = pack_dense(registers)
        self.header[4] = DENSE
        self.opcodes, self.starts, self.size = [], [], 0
        return True

    def set(self, index: int, count: int, sparse_max_bytes: int) -> int:
        """Raise register `index` to `count` if it is lower: 1 if it changed, 0 if not, -1
        if the sparse form is corrupted (Redis's hllDenseSet / hllSparseSet)."""
        dense = self.dense
        if dense is not None:
            return _dense_set(dense, index, count)
        if count > VAL_MAX_VALUE:
            return self._promote(index, count)
        opcodes, starts = self.opcodes, self.starts
        at = bisect_right(starts, index) - 1
        if at < 0:
            return -1
        opcode = opcodes[at]
        first = starts[at]
        run = _span(opcode)
        if index >= first + run:
            return -1  # the runs end before the register
        is_val = 0x80 <= opcode < 0x100
        if is_val:
            if _val_value(opcode) >= count:
                return 0
            if run == 1:
                opcodes[at] = _val_opcode(count, 1)
                return self._updated(at)
        elif opcode < 0x40 and run == 1:
            opcodes[at] = _val_opcode(count, 1)
            return self._updated(at)
        # Split the opcode into up to three: the run before, the register, the run after.
        last = first + run - 1
        sequence: list[int] = []
        sequence_starts: list[int] = []
        if index != first:
            before = index - first
            sequence.append(
                _val_opcode(_val_value(opcode), before) if is_val else _zero_opcode(before)
            )
            sequence_starts.append(first)
        sequence.append(_val_opcode(count, 1))
        sequence_starts.append(index)
        if index != last:
            after = last - index
            sequence.append(
                _val_opcode(_val_value(opcode), after) if is_val else _zero_opcode(after)
            )
            sequence_starts.append(index + 1)
        delta = sum(map(_opcode_size, sequence)) - _opcode_size(opcode)
        if delta > 0 and HEADER_SIZE + self.size + delta > sparse_max_bytes:
            return self._promote(index, count)
        opcodes[at : at + 1] = sequence
        starts[at : at + 1] = sequence_starts
        self.size += delta
        return self._updated(at)

    def _updated(self, at: int) -> int:
        """Merge adjacent equal VAL opcodes in the 5 opcodes from the one before the change,
        as Redis does after every sparse edit; then mark the cache stale."""
        opcodes, starts = self.opcodes, self.starts
        position = at - 1 if at > 0 else 0
        budget = 5
        while position < len(opcodes) and budget:
            budget -= 1
            opcode = opcodes[position]
            if 0x80 <= opcode < 0x100 and position + 1 < len(opcodes):
                following = opcodes[position + 1]
                if 0x80 <= following < 0x100 and (opcode ^ following) < 4:  # same value
                    run = (opcode & 3) + (following & 3) + 2
                    if run <= VAL_MAX_LEN:
                        opcodes[position] = _val_opcode(_val_value(opcode), run)
                        del opcodes[position + 1]
                        del starts[position + 1]
                        self.size -= 1
                        continue  # try the merged opcode with the next one
            position += 1
        self.invalidate()
        return 1

    def _promote(self, index: int, count: int) -> int:
        if not self.to_dense():
            return -1
        assert self.dense is not None
        changed = _dense_set(self.dense, index, count)
        assert changed == 1, "a promotion always raises the register"
        return changed

    def merge(self, registers: bytes, sparse_max_bytes: int) -> None:
        """PFMERGE's last step: every non-zero register of `registers` set in index order
        (on a sparse sketch that may promote it half way; dense, it is one maximum)."""
        if self.dense is None:
            for match in re.finditer(rb"[^\x00]", registers):
                index = match.start()
                self.set(index, registers[index], sparse_max_bytes)
                if self.dense is not None:
                    break
        if self.dense is not None:
            merged = max_registers(unpack_dense(self.dense), registers)
            self.dense = pack_dense(merged)


def _dense_set(dense: bytearray, index: int, count: int) -> int:
    """Redis's `hllDenseSet` on the packed registers."""
    bit = index * 6
    byte = bit >> 3
    shift = bit & 7
    if byte + 1 < DENSE_BYTES:
        pair = dense[byte] | (dense[byte + 1] << 8)
        if (pair >> shift) & 63 >= count:
            return 0
        pair = (pair & ~(63 << shift)) | (count << shift)
        dense[byte] = pair & 0xFF
        dense[byte + 1] = pair >> 8
        return 1
    current = dense[byte]  # the last register: its bits all lie in the last byte
    if (current >> shift) & 63 >= count:
        return 0
    dense[byte] = (current & ~(63 << shift) & 0xFF) | ((count << shift) & 0xFF)
    return 1

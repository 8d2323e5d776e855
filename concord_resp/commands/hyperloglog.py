"""HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG and PFSELFTEST (hyperloglog.c).

A sketch is a string value in Redis's exact bytes (`hll_encoding`), so GET and SET carry
sketches between Redis and Concord unchanged. Writes rebuild the value through a `Sketch`
and store it whole (at most 12 kB) only if it changed; a write that changes nothing only
records the raw encoding Redis's `dbUnshareStringValue` leaves.

One deliberate difference: Redis's PFCOUNT of one key writes the cardinality it computed
back into the header's cache (and makes the string raw). PFCOUNT is a read here, and reads
never change replicated state, so the header keeps its stale mark: PFCOUNT answers the same
number, but GET of a sketch after PFCOUNT differs from Redis in the header's 8 cache bytes.
"""

from __future__ import annotations

import math
import random
from typing import Final

from ..resp import OK, Reply, SimpleString
from ..store.events import NOTIFY_STRING
from ..store.types import STRING, String
from .bitmaps import keep_raw
from .context import Context
from .errors import CommandError
from .hll_encoding import (
    DENSE,
    EMPTY,
    HEADER_SIZE,
    REGISTERS,
    SPARSE,
    ZERO_REGISTERS,
    Corrupted,
    Sketch,
    cached_cardinality,
    decode_sparse,
    estimate,
    histogram,
    histogram_of,
    is_sketch,
    max_registers,
    pack_dense,
    parse_sparse,
    pattern,
    registers_of,
    unpack_dense,
)
from .lookup import get_string_for_write, lookup_read_typed
from .registry import Route
from .spec import command

INVALID: Final = "INVALIDOBJ Corrupted HLL object detected"
NOT_SKETCH: Final = "WRONGTYPE Key is not a valid HyperLogLog string value."
NO_KEY: Final = "ERR The specified key does not exist"
NOT_SPARSE: Final = "ERR HLL encoding is not sparse"


def _check(value: String) -> String:
    """Redis's `isHLLObjectOrReply` for a string value (WRONGTYPE was checked already)."""
    if not is_sketch(value):
        raise CommandError(NOT_SKETCH)
    return value


def _sketch_for_read(ctx: Context, key: bytes, *, purge: bool = False) -> String | None:
    value = lookup_read_typed(ctx, key, STRING, purge=purge)
    return None if value is None else _check(value)


def _registers(value: String) -> bytes:
    try:
        return registers_of(value)
    except Corrupted:
        raise CommandError(INVALID) from None


def _store(ctx: Context, key: bytes, sketch: Sketch) -> None:
    """Store a changed sketch whole, raw, keeping the key's TTL (the bytes are at most a
    dense sketch's 12 kB, or hll-sparse-max-bytes)."""
    ctx.db.set(key, bytearray(sketch.to_bytes()), ctx.index, keep_ttl=True)


@command("pfadd")
def pfadd(ctx: Context, argv: list[bytes]) -> Reply:
    key = argv[1]
    value = get_string_for_write(ctx, key)
    if value is None:
        sketch = Sketch(EMPTY)
        updated = True
    else:
        sketch = Sketch(_check(value))
        updated = False
    changed = updated
    sparse_max = ctx.keyspace.config.hll_sparse_max_bytes
    for element in argv[2:]:
        index, count = pattern(element)
        result = sketch.set(index, count, sparse_max)
        if result < 0:
            # Redis keeps what the elements before this one changed, and answers an error.
            if changed:
                _store(ctx, key, sketch)
            raise CommandError(INVALID)
        if result:
            updated = changed = True
    if not updated:
        assert value is not None
        keep_raw(ctx, key, value)
        return 0
    sketch.invalidate()
    _store(ctx, key, sketch)
    ctx.notify(NOTIFY_STRING, b"pfadd", key)
    return 1


@command("pfcount", route=Route.READ)
def pfcount(ctx: Context, argv: list[bytes]) -> Reply:
    if len(argv) > 2:
        merged = ZERO_REGISTERS
        for key in argv[1:]:
            value = _sketch_for_read(ctx, key)
            if value is not None:
                merged = max_registers(merged, _registers(value))
        return estimate(histogram(merged))
    value = _sketch_for_read(ctx, argv[1])
    if value is None:
        return 0
    cached = cached_cardinality(value)
    if cached is not None:
        return cached
    try:
        return estimate(histogram_of(value))
    except Corrupted:
        raise CommandError(INVALID) from None


@command("pfmerge")
def pfmerge(ctx: Context, argv: list[bytes]) -> Reply:
    merged = ZERO_REGISTERS
    use_dense = False
    for key in argv[1:]:
        value = _sketch_for_read(ctx, key, purge=True)
        if value is None:
            continue
        use_dense = use_dense or value[4] == DENSE
        merged = max_registers(merged, _registers(value))
    target = argv[1]
    value = get_string_for_write(ctx, target)  # a sketch: it was a source above
    sketch = Sketch(EMPTY if value is None else value)
    if use_dense and not sketch.to_dense():
        raise CommandError(INVALID)  # cannot happen: the target was read as a source
    sketch.merge(merged, ctx.keyspace.config.hll_sparse_max_bytes)
    sketch.invalidate()
    _store(ctx, target, sketch)
    # Redis publishes PFMERGE as a PFADD (a mass-add of elements).
    ctx.notify(NOTIFY_STRING, b"pfadd", target)
    return OK


@command("pfdebug", route=Route.LOG)
def pfdebug(ctx: Context, argv: list[bytes]) -> Reply:
    name, key = argv[1], argv[2]
    value = get_string_for_write(ctx, key)
    if value is None:
        raise CommandError(NO_KEY)
    _check(value)
    subcommand = name.split(b"\0", 1)[0].lower()  # strcasecmp on a C string
    if subcommand in (b"getreg", b"todense") and value[4] == SPARSE:
        sketch = Sketch(value)
        if sketch.to_dense():  # the header, stale mark and all, is kept
            _store(ctx, key, sketch)
            if subcommand == b"todense":
                return 1
            assert sketch.dense is not None
            return list(unpack_dense(sketch.dense))
        keep_raw(ctx, key, value)
        raise CommandError(INVALID)
    keep_raw(ctx, key, value)
    if subcommand == b"getreg":
        return list(unpack_dense(value[HEADER_SIZE:]))
    if subcommand == b"todense":
        return 0
    if subcommand == b"decode":
        if value[4] != SPARSE:
            raise CommandError(NOT_SPARSE)
        return decode_sparse(parse_sparse(value[HEADER_SIZE:]))
    if subcommand == b"encoding":
        return SimpleString(b"sparse" if value[4] == SPARSE else b"dense")
    raise CommandError(b"ERR Unknown PFDEBUG subcommand '%s'" % name.split(b"\0", 1)[0])


# -- PFSELFTEST ---------------------------------------------------------------------------------

SELFTEST_CYCLES: Final = 20
"""Register round trips of Redis's test 1 (Redis runs 1000, in C)."""
SELFTEST_ELEMENTS: Final = 10_000
"""Elements of test 2 (Redis adds 10 million, in C; this stays well under a second)."""


@command("pfselftest", route=Route.LOCAL)
def pfselftest(ctx: Context, argv: list[bytes]) -> Reply:
    """Redis's self test of the register and estimator code, on this implementation: dense
    registers read back as written, and dense and sparse sketches fed the same elements
    agree with each other and stay within 6 standard errors of the true count."""
    rng = random.Random(ctx.rng.randrange(1 << 64))
    error = _selftest_registers(rng) or _selftest_estimates(
        rng, ctx.keyspace.config.hll_sparse_max_bytes
    )
    if error is not None:
        raise CommandError(b"ERR TESTFAILED " + error)
    return OK


def _selftest_registers(rng: random.Random) -> bytes | None:
    """Test 1: registers set one by one read back exactly, and packing round-trips."""
    for cycle in range(SELFTEST_CYCLES):
        wanted = rng.randbytes(REGISTERS).translate(bytes(range(64)) * 4)
        if cycle == 0:
            sketch = Sketch(EMPTY)
            sketch.to_dense()
            for index, count in enumerate(wanted):
                if count:
                    sketch.set(index, count, 0)
            assert sketch.dense is not None
            packed = sketch.dense
        else:
            packed = pack_dense(wanted)
        got = unpack_dense(packed)
        if got != wanted:
            index = next(i for i in range(REGISTERS) if got[i] != wanted[i])
            return b"Register %d should be %d but is %d" % (index, wanted[index], got[index])
    return None


def _selftest_estimates(rng: random.Random, sparse_max: int) -> bytes | None:
    """Test 2: dense and sparse sketches of the same elements agree, within the error bound."""
    dense = Sketch(EMPTY)
    dense.to_dense()
    sparse = Sketch(EMPTY)
    relative_error = 1.04 / math.sqrt(REGISTERS)
    seed = rng.randrange(1 << 64)
    checkpoint = 1
    for j in range(1, SELFTEST_ELEMENTS + 1):
        index, count = pattern((j ^ seed).to_bytes(8, "little"))
        dense.set(index, count, sparse_max)
        sparse.set(index, count, sparse_max)
        if j != checkpoint:
            continue
        if j < sparse_max // 2 and sparse.is_dense:
            return b"sparse encoding not used"
        card = estimate(histogram(dense.registers()))
        sparse_card = estimate(
            histogram(sparse.registers()) if sparse.is_dense else _sparse_counts(sparse)
        )
        if card != sparse_card:
            return b"dense/sparse disagree"
        max_error = 1 if j == 10 else math.ceil(relative_error * 6 * checkpoint)
        if abs(checkpoint - card) > max_error:
            return b"Too big error. card:%d abserr:%d" % (checkpoint, abs(checkpoint - card))
        checkpoint *= 10
    return None


def _sparse_counts(sketch: Sketch) -> list[int]:
    return histogram_of(sketch.to_bytes())

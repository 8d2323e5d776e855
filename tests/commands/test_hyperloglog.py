"""HyperLogLog: the representation (`hll_encoding`) against a byte-by-byte model of Redis's
in-place sparse edits, the commands on the state machine (what changes, what never does),
and sketches exchanged with a real Redis 7.0 (made there, used here, and the other way).
Replies and errors are also compared byte for byte in compat/scenarios/hll_*.txt."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from concord_resp.commands import build_table
from concord_resp.commands import hll_encoding as hll
from concord_resp.resp import OK, ErrorReply, Reply
from concord_resp.state import Command, StateMachine
from concord_resp.store import Database
from tests.support.processes import ConcordProcess, RedisProcess

SECOND = 1_000_000
INVALID = ErrorReply(b"INVALIDOBJ Corrupted HLL object detected")
NOT_SKETCH = ErrorReply(b"WRONGTYPE Key is not a valid HyperLogLog string value.")
HEADER = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80"  # sparse, cache stale


class Node:
    def __init__(self) -> None:
        self.machine = StateMachine(build_table())
        self.index = 0

    def write(self, *args: bytes | str | int) -> Reply:
        self.index += 1
        return self.machine.apply(self.index, Command(SECOND, 0, _argv(args))).reply

    def read(self, *args: bytes | str | int) -> Reply:
        ctx = self.machine.read_context(0, SECOND, random.Random(0))
        return self.machine.run(ctx, _argv(args))

    @property
    def db(self) -> Database:
        return self.machine.keyspace.dbs[0]

    def sparse_max(self, size: int) -> None:
        keyspace = self.machine.keyspace
        keyspace.config = keyspace.config.changed([("hll_sparse_max_bytes", size)])


def _argv(args: tuple[bytes | str | int, ...]) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


SHARED = Node()
"""One node for the property tests (building a command table per example is slow)."""


# -- a byte-by-byte model of Redis's edits --------------------------------------------------------


def _model_dense_set(data: bytearray, index: int, count: int) -> int:
    """Set a 6-bit register of a whole dense sketch if `count` is larger."""
    registers = int.from_bytes(data[16:], "little")
    old = (registers >> (6 * index)) & 63
    if count <= old:
        return 0
    registers ^= (old ^ count) << (6 * index)
    data[16:] = registers.to_bytes(12288, "little")
    return 1


def _model_runs(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(value, run, opcode size) of each sparse opcode, walking the bytes one at a time."""
    p = 16
    while p < len(data):
        byte = data[p]
        if byte & 0x80:
            yield ((byte >> 2) & 31) + 1, (byte & 3) + 1, 1
            p += 1
        elif byte & 0x40:
            low = data[p + 1] if p + 1 < len(data) else 0
            yield 0, ((byte & 0x3F) << 8 | low) + 1, 2
            p += 2
        else:
            yield 0, byte + 1, 1
            p += 1


def _model_to_dense(data: bytearray) -> bool:
    registers = []
    for value, run, _ in _model_runs(bytes(data)):
        registers += [value] * run
    if len(registers) != 16384:
        return False
    packed = int("".join(format(value, "06b") for value in reversed(registers)), 2)
    data[:] = data[:4] + b"\x00" + data[5:16] + packed.to_bytes(12288, "little")
    return True


def _zero(run: int) -> bytes:
    return bytes([0x40 | (run - 1) >> 8, (run - 1) & 0xFF]) if run > 64 else bytes([run - 1])


def _val(value: int, run: int) -> bytes:
    return bytes([0x80 | (value - 1) << 2 | (run - 1)])


def model_set(data: bytearray, index: int, count: int, sparse_max: int) -> int:
    """Redis's hllSparseSet/hllDenseSet, step by step on the bytes."""
    if data[4] == 0:
        return _model_dense_set(data, index, count)
    if count <= 32:
        p, first = 16, 0
        prev = None
        while p < len(data):
            value, run, size = next(_model_runs(bytes(data[:16] + data[p:])))
            if index <= first + run - 1:
                break
            prev = p
            p += size
            first += run
        else:
            return -1
        value, run, size = next(_model_runs(bytes(data[:16] + data[p:])))
        if value and value >= count:
            return 0
        if (value and run == 1) or (size == 1 and not value and run == 1):
            data[p : p + 1] = _val(count, 1)
        else:
            last = first + run - 1
            sequence = b""
            if index != first:
                sequence += _val(value, index - first) if value else _zero(index - first)
            sequence += _val(count, 1)
            if index != last:
                sequence += _val(value, last - index) if value else _zero(last - index)
            if len(sequence) > size and len(data) + len(sequence) - size > sparse_max:
                return _model_promote(data, index, count)
            data[p : p + size] = sequence
        # Merge equal VAL neighbours, at most 5 opcodes from the one before the change.
        q = prev if prev is not None else 16
        for _ in range(5):
            if q >= len(data):
                break
            if not data[q] & 0x80:
                q += 2 if data[q] & 0x40 else 1
                continue
            if q + 1 < len(data) and data[q + 1] & 0x80 and data[q] >> 2 == data[q + 1] >> 2:
                run = (data[q] & 3) + (data[q + 1] & 3) + 2
                if run <= 4:
                    data[q : q + 2] = _val(((data[q] >> 2) & 31) + 1, run)
                    continue
            q += 1
        data[15] |= 0x80
        return 1
    return _model_promote(data, index, count)


def _model_promote(data: bytearray, index: int, count: int) -> int:
    if not _model_to_dense(data):
        return -1
    return _model_dense_set(data, index, count)


def _sketch_set(
    value: bytes, updates: list[tuple[int, int]], sparse_max: int
) -> tuple[list[int], bytes]:
    sketch = hll.Sketch(value)
    results = [sketch.set(index, count, sparse_max) for index, count in updates]
    return results, sketch.to_bytes()


_updates = st.lists(
    st.tuples(
        st.integers(0, 16383) | st.integers(0, 40) | st.integers(16340, 16383),
        st.integers(1, 8) | st.integers(1, 40),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(updates=_updates, sparse_max=st.sampled_from([0, 20, 40, 80, 300, 3000]))
def test_sketch_edits_match_the_byte_model(updates: list[tuple[int, int]], sparse_max: int) -> None:
    model = bytearray(hll.EMPTY)
    expected = [model_set(model, index, count, sparse_max) for index, count in updates]
    assert _sketch_set(hll.EMPTY, updates, sparse_max) == (expected, bytes(model))


@st.composite
def _sparse_bytes(draw: st.DrawFn) -> bytes:
    """Sparse opcodes in any shape: runs that may fall short of or pass 16384 registers,
    non-canonical XZEROs, adjacent equal VALs."""
    out = bytearray()
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["zero", "xzero", "val"]))
        if kind == "zero":
            out.append(draw(st.integers(0, 63)))
        elif kind == "xzero":
            run = draw(st.integers(1, 16384))
            out += bytes([0x40 | (run - 1) >> 8, (run - 1) & 0xFF])
        else:
            out.append(0x80 | draw(st.integers(0, 31)) << 2 | draw(st.integers(0, 3)))
    covered = sum(run for _, run, _ in _model_runs(HEADER + bytes(out)))
    if covered < 16384 and draw(st.booleans()):
        out += _zero(16384 - covered)
    return HEADER + bytes(out)


@settings(max_examples=300, deadline=None)
@given(value=_sparse_bytes(), updates=_updates, sparse_max=st.sampled_from([0, 40, 3000]))
def test_edits_of_any_sparse_bytes_match_the_byte_model(
    value: bytes, updates: list[tuple[int, int]], sparse_max: int
) -> None:
    model = bytearray(value)
    expected = []
    for index, count in updates:
        expected.append(model_set(model, index, count, sparse_max))
        if expected[-1] < 0:
            break
    results, got = _sketch_set(value, updates[: len(expected)], sparse_max)
    assert (results, got) == (expected, bytes(model))


@settings(max_examples=200, deadline=None)
@given(value=_sparse_bytes())
def test_sparse_reads_agree_with_the_model(value: bytes) -> None:
    runs = list(_model_runs(value))
    registers = [v for v, run, _ in runs for _ in range(run)]
    if len(registers) != 16384:
        with pytest.raises(hll.Corrupted):
            hll.registers_of(value)
        with pytest.raises(hll.Corrupted):
            hll.histogram_of(value)
        return
    assert hll.registers_of(value) == bytes(registers)
    counts = Counter(registers)
    assert hll.histogram_of(value) == [counts[v] for v in range(64)]
    assert hll.encode_sparse(hll.parse_sparse(value[16:])) == value[16:]


# -- registers, whole ---------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), top=st.integers(0, 63))
def test_packing_merging_and_counting_registers(seed: int, top: int) -> None:
    rng = random.Random(seed)
    a = bytes(rng.randint(0, top) for _ in range(16384))
    b = bytes(rng.randint(0, 63) for _ in range(16384))
    packed = hll.pack_dense(a)
    assert len(packed) == 12288
    bits = "".join(format(value, "06b") for value in reversed(a))  # register 0 lowest
    assert int.from_bytes(packed, "little") == int(bits, 2)
    assert hll.unpack_dense(packed) == a
    assert hll.max_registers(a, b) == bytes(map(max, a, b))
    counts = Counter(a)
    assert hll.histogram(a) == [counts[v] for v in range(64)]


def test_murmurhash64a_and_the_pattern() -> None:
    # Redis's MurmurHash64A with its seed: the register and run PFADD derives. Checked
    # against sketches Redis builds in test_sketches_made_by_redis_work_here.
    assert hll.murmurhash64a(b"") == hll.murmurhash64a(b"", hll.SEED)
    for element in (b"", b"a", b"abcdefgh", b"abcdefghi", bytes(range(256))):
        index, count = hll.pattern(element)
        digest = hll.murmurhash64a(element)
        assert index == digest & 16383
        rest = digest >> 14 | 1 << 50
        assert count == next(n for n in range(1, 52) if rest >> (n - 1) & 1)


def test_estimate_of_extreme_histograms() -> None:
    assert hll.estimate([16384] + [0] * 63) == 0
    all_at = [0] * 64
    all_at[63] = 16384
    assert hll.estimate(all_at) == -(2**63)  # z is 0: llroundl of an infinity, as in C
    all_at = [0] * 64
    all_at[50] = 16384
    assert hll.estimate(all_at) == -(2**63)  # past 2^63
    one = [16383, 1] + [0] * 62
    assert hll.estimate(one) == 1


# -- the commands ----------------------------------------------------------------------------------


def test_pfadd_creates_a_raw_sparse_sketch_and_reports_changes() -> None:
    node = Node()
    assert node.write("PFADD", "h") == 1  # created
    assert node.read("GET", "h") == HEADER + b"\x7f\xff"
    assert node.read("OBJECT", "ENCODING", "h") == b"raw"
    assert node.write("PFADD", "h") == 0
    assert node.write("PFADD", "h", "a", "b", "c") == 1
    version = node.db.versions[b"h"]
    assert node.write("PFADD", "h", "a", "b") == 0
    assert node.db.versions[b"h"] == version  # no register changed: no change (WATCH)
    assert node.read("PFCOUNT", "h") == 3


def test_pfcount_is_a_read_that_changes_nothing() -> None:
    node = Node()
    node.write("PFADD", "h", *[f"e{i}" for i in range(100)])
    node.write("SET", "small", HEADER + b"\x7f\xff")
    before = {key: bytes(value) for key, value in node.db.data.items()}
    versions = dict(node.db.versions)
    assert node.read("PFCOUNT", "h") == 100
    assert node.read("PFCOUNT", "h", "small", "missing") == 100
    assert node.read("PFCOUNT", "small") == 0
    assert {key: bytes(value) for key, value in node.db.data.items()} == before
    assert node.db.versions == versions
    assert node.read("OBJECT", "ENCODING", "small") == b"embstr"  # Redis would make it raw
    assert node.read("GET", "h")[15] & 0x80  # the cache stays stale


def test_a_valid_cached_count_is_answered_as_is() -> None:
    node = Node()
    node.write("SET", "c", b"HYLL\x01\x00\x00\x00\x2a" + bytes(7) + b"\x7f\xff")
    assert node.read("PFCOUNT", "c") == 42
    assert node.read("PFCOUNT", "c", "missing") == 0


def test_pfadd_keeps_what_it_changed_before_a_corrupted_part() -> None:
    node = Node()
    node.write("SET", "bad", HEADER + b"\x7e\x7f")  # 16000 registers: 384 missing
    assert node.write("PFADD", "bad", "e17", "e62", "e44") == INVALID  # e62 is register 16242
    value = node.read("GET", "bad")
    assert isinstance(value, bytes)
    assert value != HEADER + b"\x7e\x7f"
    assert node.read("PFDEBUG", "DECODE", "bad") == b"Z:566 v:3,1 Z:15433"


def test_sketch_checks() -> None:
    node = Node()
    node.write("RPUSH", "l", "a")
    assert node.write("PFADD", "l", "a") == ErrorReply(
        b"WRONGTYPE Operation against a key holding the wrong kind of value"
    )
    for text in (b"HYLL", b"HYLX" + bytes(14), b"HYLL\x02" + bytes(13), b"HYLL\x00" + bytes(13)):
        node.write("SET", "s", text)
        assert node.write("PFADD", "s", "a") == NOT_SKETCH
        assert node.read("PFCOUNT", "s") == NOT_SKETCH
        assert node.write("PFMERGE", "d", "s") == NOT_SKETCH
    assert b"d" not in node.db.data


def test_pfmerge_writes_the_target_even_unchanged_and_keeps_its_ttl() -> None:
    node = Node()
    node.write("PFADD", "a", "x", "y")
    node.write("PFADD", "t", "x")
    node.write("EXPIRE", "t", 100)
    version = node.db.versions[b"t"]
    assert node.write("PFMERGE", "t", "a", "missing") == OK
    assert node.db.versions[b"t"] > version
    assert node.db.ttl_ms(b"t") == 101_000
    assert node.read("PFCOUNT", "t") == 2
    version = node.db.versions[b"t"]
    assert node.write("PFMERGE", "t") == OK
    assert node.db.versions[b"t"] > version


def test_pfdebug_todense_and_getreg() -> None:
    node = Node()
    node.write("PFADD", "h", "a", "b")
    version = node.db.versions[b"h"]
    assert node.write("PFDEBUG", "ENCODING", "h") == b"sparse"
    assert node.db.versions[b"h"] == version
    registers = node.write("PFDEBUG", "GETREG", "h")
    assert isinstance(registers, list)
    assert len(registers) == 16384
    assert sum(registers) > 0
    assert node.db.versions[b"h"] > version  # GETREG made it dense
    assert node.write("PFDEBUG", "ENCODING", "h") == b"dense"
    assert node.write("PFDEBUG", "TODENSE", "h") == 0
    assert node.write("PFDEBUG", "DECODE", "h") == ErrorReply(b"ERR HLL encoding is not sparse")
    assert node.write("PFDEBUG", "GETREG", "missing") == ErrorReply(
        b"ERR The specified key does not exist"
    )
    assert node.write("PFDEBUG", b"nope\x00x", "h") == ErrorReply(
        b"ERR Unknown PFDEBUG subcommand 'nope'"
    )


def test_promotion_to_dense_at_the_configured_size() -> None:
    node = Node()
    node.sparse_max(30)
    node.write("PFADD", "h", "a")
    assert node.write("PFDEBUG", "ENCODING", "h") == b"sparse"
    node.write("PFADD", "h", *[f"e{i}" for i in range(10)])
    assert node.write("PFDEBUG", "ENCODING", "h") == b"dense"
    value = node.read("GET", "h")
    assert isinstance(value, bytes)
    assert len(value) == hll.DENSE_SIZE


def test_pfselftest_passes() -> None:
    assert SHARED.read("PFSELFTEST") == OK


def test_the_same_writes_give_the_same_bytes_everywhere() -> None:
    first, second = Node(), Node()
    for node in (first, second):
        node.sparse_max(200)
        node.write("PFADD", "a", *[f"x{i}" for i in range(300)])
        node.write("PFADD", "b", *[f"y{i}" for i in range(50)])
        node.write("PFMERGE", "c", "b", "a")
    assert first.db.data == second.db.data
    assert first.read("DEBUG", "DIGEST") == second.read("DEBUG", "DIGEST")


# -- with a real Redis -------------------------------------------------------------------------------


@pytest.fixture
def real(redis_server: RedisProcess) -> Iterator[redis.Redis]:
    client = redis.Redis(port=redis_server.port)
    yield client
    client.config_set("hll-sparse-max-bytes", 3000)
    client.delete(*[key for key in client.keys("hll-test:*")])
    client.close()


def _both_add(real: redis.Redis, node: Node, key: str, elements: list[str]) -> None:
    assert node.write("PFADD", key, *elements) == real.pfadd(key, *elements)


def test_sketches_made_by_redis_work_here(real: redis.Redis) -> None:
    """Sketches Redis built (sparse, near the limit, dense) copied with GET and SET: adding,
    counting and merging them here answer as Redis does and leave Redis's bytes."""
    node = Node()
    sizes = {"hll-test:tiny": 3, "hll-test:sparse": 800, "hll-test:dense": 20_000}
    for key, size in sizes.items():
        real.pfadd(key, *[f"{key}-{i}" for i in range(size)])
        value = real.get(key)
        assert isinstance(value, bytes)
        node.write("SET", key, value)
        assert node.read("GET", key) == value  # made by Redis, the same here
    for key in sizes:
        _both_add(real, node, key, [f"more-{i}" for i in range(40)])
        _both_add(real, node, key, ["more-1"])
        assert node.read("GET", key) == real.get(key)
    for key in sizes:  # counts, single and merged (Redis caches the single one)
        assert node.read("PFCOUNT", key) == real.pfcount(key)
        assert node.read("PFCOUNT", key, "hll-test:tiny") == real.pfcount(key, "hll-test:tiny")
        assert node.read("GETRANGE", key, 16, -1) == real.getrange(key, 16, -1)
    assert node.read("PFCOUNT", *sizes) == real.pfcount(*sizes)
    for target, sources in (
        ("hll-test:m1", ["hll-test:tiny", "hll-test:sparse"]),
        ("hll-test:m2", ["hll-test:sparse", "hll-test:dense"]),
        ("hll-test:tiny", ["hll-test:sparse"]),
    ):
        assert node.write("PFMERGE", target, *sources) == OK
        assert real.pfmerge(target, *sources)
        assert node.read("GETRANGE", target, 16, -1) == real.getrange(target, 16, -1)
        assert node.read("PFCOUNT", target, "missing") == real.pfcount(target, "hll-test:none")


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    sparse_max=st.sampled_from([0, 50, 200, 1000, 3000]),
    sizes=st.lists(st.integers(0, 600), min_size=1, max_size=3),
)
def test_sketches_made_here_are_redis_sketches(
    redis_server: RedisProcess, seed: int, sparse_max: int, sizes: list[int]
) -> None:
    """Random PFADDs and PFMERGEs (into sparse targets that may outgrow the limit half way)
    on both: every sketch made here is byte for byte what Redis made."""
    real = redis.Redis(port=redis_server.port)
    try:
        real.config_set("hll-sparse-max-bytes", sparse_max)
        node = SHARED
        node.sparse_max(sparse_max)
        rng = random.Random(seed)
        keys = [f"hll-test:p{i}" for i in range(len(sizes))]
        real.delete(*keys, "hll-test:dest")
        node.write("DEL", *keys, "hll-test:dest")
        for key, size in zip(keys, sizes, strict=True):
            elements = [f"{rng.randrange(10**6)}" for _ in range(size)]
            for start in range(0, len(elements), 97):
                _both_add(real, node, key, elements[start : start + 97])
            assert node.read("GET", key) == real.get(key)
        assert node.write("PFMERGE", "hll-test:dest", *keys) == OK
        real.pfmerge("hll-test:dest", *keys)
        assert node.read("GET", "hll-test:dest") == real.get("hll-test:dest")
        assert node.read("PFCOUNT", *keys) == real.pfcount(*keys)
        node.sparse_max(3000)
    finally:
        real.config_set("hll-sparse-max-bytes", 3000)
        real.close()


def test_crafted_dense_registers_count_as_in_redis(real: redis.Redis) -> None:
    """Dense sketches written with SET whose registers no element could produce: the
    estimator's C conversions (a zero denominator, estimates past 2^63) answer alike."""
    node = Node()
    for register in (0, 1, 20, 45, 50, 51, 52, 63):
        packed = hll.pack_dense(bytes([register]) * 16384)
        value = b"HYLL\x00" + bytes(10) + b"\x80" + bytes(packed)
        key = f"hll-test:crafted{register}"
        real.set(key, value)
        node.write("SET", key, value)
        assert node.read("PFCOUNT", key) == real.pfcount(key), register
        assert node.read("PFCOUNT", key, "missing") == real.pfcount(key, "hll-test:none")


def test_a_redis_sketch_through_a_running_server(
    redis_server: RedisProcess, concord_server: ConcordProcess
) -> None:
    """A dense sketch made by Redis, SET on a concord-server over the wire: PFADD, PFCOUNT
    and PFMERGE answer as Redis does, and the bytes stay Redis's."""
    real = redis.Redis(port=redis_server.port)
    ours = redis.Redis(port=concord_server.port)
    keys = ["hll-test:wire", "hll-test:wire-small", "hll-test:wire-merged"]
    try:
        real.pfadd(keys[0], *[f"w{i}" for i in range(5000)])
        real.pfadd(keys[1], "a", "b", "c")
        for key in keys[:2]:
            value = real.get(key)
            assert isinstance(value, bytes)
            ours.set(key, value)
        for client in (real, ours):
            client.pfadd(keys[0], *[f"extra{i}" for i in range(100)])
            client.pfmerge(keys[2], keys[1], keys[0])
        assert ours.get(keys[0]) == real.get(keys[0])
        assert ours.get(keys[2]) == real.get(keys[2])
        assert ours.pfcount(*keys) == real.pfcount(*keys)
        assert ours.pfcount(keys[0]) == real.pfcount(keys[0])
    finally:
        real.delete(*keys)
        ours.delete(*keys)
        real.close()
        ours.close()


def test_after_pfcount_only_the_cache_bytes_differ_from_redis(real: redis.Redis) -> None:
    """Redis's PFCOUNT of one key writes its count into the header; here it is a read and
    writes nothing. The bytes after it differ in the 8 cache bytes (and only there)."""
    node = Node()
    elements = [f"c{i}" for i in range(500)]
    _both_add(real, node, "hll-test:cached", elements)
    assert node.read("GET", "hll-test:cached") == real.get("hll-test:cached")
    count = real.pfcount("hll-test:cached")
    assert node.read("PFCOUNT", "hll-test:cached") == count
    theirs, ours = real.get("hll-test:cached"), node.read("GET", "hll-test:cached")
    assert isinstance(theirs, bytes)
    assert isinstance(ours, bytes)
    assert theirs[8:16] == count.to_bytes(8, "little")  # cached, valid
    assert ours[8:16] == b"\x00" * 7 + b"\x80"  # still marked stale
    assert theirs[:8] + theirs[16:] == ours[:8] + ours[16:]

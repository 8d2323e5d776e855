"""The RDB building blocks: CRC-64, LZF, RDB lengths/strings/doubles, listpacks, intsets,
ziplists and zipmaps. Expected bytes were produced by Redis 7.0.15 (DUMP of the value, or its
own test vectors); malformed structures must raise BadPayload and nothing else."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord_resp.store.rdb import crc64, intset, listpack, lzf, ziplist
from concord_resp.store.rdb.primitives import (
    BadPayload,
    Reader,
    c_double,
    write_binary_double,
    write_length,
    write_string,
)
from tests.support.rdb_legacy import ziplist as make_ziplist
from tests.support.rdb_legacy import zipmap as make_zipmap

# -- CRC-64 ---------------------------------------------------------------------------------

LOREM = (
    b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    b"incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
    b"exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure "
    b"dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. "
    b"Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt "
    b"mollit anim id est laborum.\0"
)


def test_crc64_matches_redis_test_vectors() -> None:
    # crc64.c's own test: "123456789" and the Lorem ipsum text with its NUL.
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA
    assert crc64(LOREM) == 0xC7794709E69683B3
    assert crc64(b"") == 0


@given(st.binary(max_size=300), st.integers(0, 300))
def test_crc64_continues_from_a_previous_value(data: bytes, cut: int) -> None:
    cut = min(cut, len(data))
    assert crc64(data[cut:], crc64(data[:cut])) == crc64(data)


def test_crc64_checks_a_redis_dump_footer() -> None:
    payload = bytes.fromhex("000568656c6c6f0a006372df766534200a")  # DUMP of "hello"
    assert crc64(payload[:-8]).to_bytes(8, "little") == payload[-8:]


# -- LZF ------------------------------------------------------------------------------------

X = b"abcdefghijklmnopqrs"
# (string, rdbSaveRawString's bytes as Redis 7.0.15 wrote them in a DUMP)
REDIS_LZF = [
    (b"a" * 100, "c3094064016161e05700016161"),
    (b"abc" * 10, "c30b1e0361626361e00f02016263"),
    # A match reaching the end of the input: lzf's unrolled loop takes 19 octets where
    # maxlen says 17, and 17/18 where it says so.
    (b"Z" + X + X, "c31827135a6162636465666768696a6b6c6d6e6f70717273e00a12"),
    (b"Z" + X + X[:-1], "c31b26135a6162636465666768696a6b6c6d6e6f70717273e00712017172"),
    (b"Z" + X + X + b"!", "c31a28135a6162636465666768696a6b6c6d6e6f70717273e00a120021"),
    (b"Z" + X + X[:-2], "c31b25135a6162636465666768696a6b6c6d6e6f70717273e00612017071"),
    (b"a" * 1000, "c31243e8016161e0ff00e0ff00e0ff00e0c300016161"),
    (b"ab" * 300 + b"c" * 5, "c313425d02616261e0ff01e0ff01e03c01006320000063"),
    (
        bytes(range(64)) * 3,
        "c3404a40c01f000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f1f"
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f0000e0743f013e3f",
    ),
    # Not compressible by 4 bytes: stored verbatim.
    (b"0123456789abcdefghijklmnopqrstuv", "20" + b"0123456789abcdefghijklmnopqrstuv".hex()),
]


@pytest.mark.parametrize(("data", "expected"), REDIS_LZF, ids=range(len(REDIS_LZF)))
def test_strings_are_written_as_redis_writes_them(data: bytes, expected: str) -> None:
    out = bytearray()
    write_string(out, data)
    assert out.hex() == expected
    assert Reader(bytes(out)).string() == data


@settings(max_examples=300)
@given(st.binary(max_size=2000), st.integers(1, 2100))
def test_lzf_round_trip_within_the_limit(data: bytes, limit: int) -> None:
    compressed = lzf.compress(data, limit)
    if compressed is not None:
        assert len(compressed) <= limit
        assert lzf.decompress(compressed, len(data)) == data


@settings(max_examples=200)
@given(st.lists(st.sampled_from([b"ab", b"abc", b"xyz", b"0", b"\xff"]), max_size=600))
def test_lzf_round_trip_of_repetitive_data(parts: list[bytes]) -> None:
    data = b"".join(parts)
    compressed = lzf.compress(data, len(data) + 64)
    assert compressed is not None or not data
    if compressed is not None:
        assert lzf.decompress(compressed, len(data)) == data


def test_lzf_refuses_what_lzf_compress_refuses() -> None:
    assert lzf.compress(b"", 10) is None
    assert lzf.compress(b"abc", 0) is None
    noise = bytes((i * 97 + 13) % 251 for i in range(100))
    assert lzf.compress(noise, 96) is None  # no repeats: more than the input


@settings(max_examples=300)
@given(st.binary(max_size=200), st.integers(0, 400))
def test_lzf_decompress_never_fails_otherwise_than_refusing(data: bytes, size: int) -> None:
    result = lzf.decompress(data, size)
    assert result is None or len(result) == size


def test_lzf_decompress_checks_like_lzf_decompress() -> None:
    assert lzf.decompress(b"\x02abc", 3) == b"abc"
    assert lzf.decompress(b"\x02abc", 4) is None  # shorter than declared
    assert lzf.decompress(b"\x02abc", 2) is None  # longer than declared
    assert lzf.decompress(b"\x02ab", 3) is None  # a literal run past the input
    assert lzf.decompress(b"\x00a\x20\x05", 4) is None  # a reference before the output
    assert lzf.decompress(b"\x00a\x20\x00", 4) == b"aaaa"  # overlapping copy
    assert lzf.decompress(b"\x01ab\x40\x01", 6) == b"ababab"
    # lzf_decompress returns 0 on errors, which a declared length of 0 accepts (Redis too).
    assert lzf.decompress(b"\x05abc", 0) == b""


# -- lengths, strings, doubles --------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, "00"),
        (63, "3f"),
        (64, "4040"),
        (16383, "7fff"),
        (16384, "8000004000"),
        (2**32 - 1, "80ffffffff"),
        (2**32, "810000000100000000"),
    ],
)
def test_lengths(length: int, encoded: str) -> None:
    out = bytearray()
    write_length(out, length)
    assert out.hex() == encoded
    assert Reader(bytes(out)).length_or_encoding() == (length, False)


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        (b"-12", "c0f4"),
        (b"127", "c07f"),
        (b"-128", "c080"),
        (b"4000", "c1a00f"),
        (b"-2147483648", "c200000080"),
        (b"2147483648", "0a" + b"2147483648".hex()),  # past 32 bits: the text
        (b"012", "03" + b"012".hex()),  # not canonical: the text
        (b"", "00"),
    ],
)
def test_integer_encoded_strings(text: bytes, encoded: str) -> None:
    out = bytearray()
    write_string(out, text)
    assert out.hex() == encoded
    assert Reader(bytes(out)).string() == text


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x05abc",
        b"\xc0",
        b"\xc1\x01",
        b"\xc2\x01\x02",
        b"\xc4",
        b"\xc3\x05",
        b"\xc3\x01\x05a",
        b"\x82",
    ],
)
def test_malformed_strings_are_bad_payloads(data: bytes) -> None:
    with pytest.raises(BadPayload):
        Reader(data).string()


def test_binary_doubles() -> None:
    out = bytearray()
    for value in (1.5, -0.0, math.inf):
        write_binary_double(out, value)
    reader = Reader(bytes(out))
    assert [reader.binary_double() for _ in range(3)] == [1.5, -0.0, math.inf]
    assert math.copysign(1, Reader(bytes(out[8:16])).binary_double()) == -1


@pytest.mark.parametrize(
    ("text", "value"),
    # What Redis 7.0.15 made of each text in an RDB_TYPE_ZSET score (sscanf "%lg").
    [
        (b"1.5", 1.5),
        (b" 1.5x", 1.5),
        (b"1e", 1.0),
        (b"1e+", 1.0),
        (b"0x1p", 1.0),
        (b"0x.p1", 0.0),
        (b"0x1.8p1", 3.0),
        (b"+.5", 0.5),
        (b"1e400", math.inf),
        (b"1e-400", 0.0),
        (b"-inf", -math.inf),
        (b"Infinity", math.inf),
        (b"infinityx", math.inf),
        (b"infx", math.inf),
        (b"1\x002", 1.0),
        (b"0x", None),
        (b"0xg", None),
        (b"infin", None),
        (b"-", None),
        (b".e3", None),
        (b"+-1", None),
        (b"", None),
    ],
)
def test_text_doubles_read_as_sscanf_reads_them(text: bytes, value: float | None) -> None:
    assert c_double(text.split(b"\0")[0], whole=False) == value
    data = bytes((len(text),)) + text
    if value is None:
        with pytest.raises(BadPayload):
            Reader(data).text_double()
    else:
        assert Reader(data).text_double() == value


def test_special_text_doubles() -> None:
    assert Reader(b"\xff").text_double() == -math.inf
    assert Reader(b"\xfe").text_double() == math.inf
    assert math.isnan(Reader(b"\xfd").text_double())
    assert c_double(b"1.5x", whole=True) is None
    assert c_double(b" 2", whole=True) == 2.0


# -- listpacks ------------------------------------------------------------------------------

# DUMP of a listpack hash in Redis 7.0.15 (HSET k f1 v1 n 12 neg -4096 big <64 x>): the
# listpack inside is LZF-compressed.
REDIS_HASH_DUMP = bytes.fromhex(
    "10c32b40641f6400000008008266310382763103816e020c01836e656704d00002836269670402e04078e0"
    "36000142ff0a0026546ce5ae5c3a2f"
)


def test_listpack_entries_as_redis_lays_them_out() -> None:
    items = [b"f1", b"v1", b"n", b"12", b"neg", b"-4096", b"big", b"x" * 64]
    packed = Reader(REDIS_HASH_DUMP[1:]).string()
    assert listpack.encode(items) == packed
    assert listpack.decode(packed) == [
        b"f1",
        b"v1",
        b"n",
        12,
        b"neg",
        -4096,
        b"big",
        b"x" * 64,
    ]


@pytest.mark.parametrize(
    ("number", "size"),
    [
        (0, 2),
        (127, 2),
        (128, 3),
        (-4096, 3),
        (4095, 3),
        (4096, 4),
        (-32768, 4),
        (32768, 5),
        (-(2**23), 5),
        (2**23, 6),
        (2**31 - 1, 6),
        (2**31, 10),
        (-(2**63), 10),
        (2**63 - 1, 10),
    ],
)
def test_listpack_integer_widths(number: int, size: int) -> None:
    entry = listpack.integer_entry(number)
    assert len(entry) == size
    assert listpack.decode(listpack.assemble([entry])) == [number]
    assert listpack.entry(b"%d" % number) == entry


@given(
    st.lists(
        st.binary(max_size=5000) | st.integers(-(2**63), 2**63 - 1).map(b"%d".__mod__), max_size=40
    )
)
def test_listpack_round_trip(items: list[bytes]) -> None:
    decoded = listpack.decode(listpack.encode(items))
    assert [item if isinstance(item, bytes) else b"%d" % item for item in decoded] == items


def test_listpack_with_an_unknown_count_is_counted() -> None:
    packed = bytearray(listpack.encode([b"a", b"b"]))
    packed[4:6] = b"\xff\xff"
    assert listpack.decode(bytes(packed)) == [b"a", b"b"]


def _corrupt(packed: bytes, position: int, value: int) -> bytes:
    data = bytearray(packed)
    data[position] = value
    return bytes(data)


GOOD = listpack.encode([b"ab", b"5", b"x" * 70])


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        GOOD[:-1],  # no terminator, size mismatch
        _corrupt(GOOD, len(GOOD) - 1, 0),  # terminator
        _corrupt(GOOD, 0, GOOD[0] + 1),  # total bytes
        _corrupt(GOOD, 4, 2),  # count
        _corrupt(GOOD, 6, 0xF5),  # an unknown encoding
        _corrupt(GOOD, 6, 0x8F),  # a string running past the end
        _corrupt(GOOD, 9, 4),  # a back-length
        _corrupt(GOOD, 6, 0xF0),  # a 32-bit string length out of range
        b"\x0b\x00\x00\x00\x01\x00\x01\x01\xff\x05\xff",  # an end before the terminator
    ],
)
def test_malformed_listpacks_are_bad_payloads(blob: bytes) -> None:
    with pytest.raises(BadPayload):
        listpack.decode(blob)


@settings(max_examples=300)
@given(st.binary(max_size=60))
def test_listpack_decode_of_noise_only_refuses(noise: bytes) -> None:
    blob = (len(noise) + 7).to_bytes(4, "little") + b"\x03\x00" + noise + b"\xff"
    try:
        listpack.decode(blob)
    except BadPayload:
        pass


# -- intsets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "hexed"),
    [
        ([-1, 2, 3], "0200000003000000ffff02000300"),
        ([3, 100000], "040000000200000003000000a0860100"),
        ([-5, 10000000000], "0800000002000000fbffffffffffffff00e40b5402000000"),
    ],
)
def test_intsets_as_redis_lays_them_out(members: list[int], hexed: str) -> None:
    assert intset.encode(members).hex() == hexed
    assert intset.decode(bytes.fromhex(hexed)) == members


@pytest.mark.parametrize(
    "blob",
    [
        b"\x02\x00\x00\x00\x01\x00",  # short header
        b"\x03\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00",  # encoding 3
        b"\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00",  # length mismatch
        b"\x02\x00\x00\x00\x00\x00\x00\x00",  # empty
        b"\x02\x00\x00\x00\x02\x00\x00\x00\x02\x00\x01\x00",  # descending
        b"\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00\x01\x00",  # duplicate
    ],
)
def test_malformed_intsets_are_bad_payloads(blob: bytes) -> None:
    with pytest.raises(BadPayload):
        intset.decode(blob)


# -- ziplists and zipmaps -------------------------------------------------------------------


def test_ziplists_of_every_entry_encoding() -> None:
    items: list[bytes | int] = [
        b"a",
        b"x" * 100,
        b"y" * 17000,
        0,
        12,
        13,
        -128,
        300,
        -70000,
        2**30,
        -(2**40),
    ]
    assert ziplist.decode_ziplist(make_ziplist(items)) == items
    assert ziplist.decode_ziplist(make_ziplist([])) == []


ZL = make_ziplist([b"ab", 7, b"cd"])


@pytest.mark.parametrize(
    "blob",
    [
        ZL[:-1],
        _corrupt(ZL, len(ZL) - 1, 0),
        _corrupt(ZL, 0, ZL[0] + 1),  # total bytes
        _corrupt(ZL, 4, ZL[4] + 1),  # tail offset not at the last entry
        _corrupt(ZL, 4, 0xFF),  # tail offset past the end
        _corrupt(ZL, 8, 2),  # count
        _corrupt(ZL, 10, 1),  # first entry's previous length
        _corrupt(ZL, 14, 3),  # second entry's previous length
        _corrupt(ZL, 15, 0xC5),  # unknown encoding
        _corrupt(ZL, 11, 0x3F),  # string past the end
    ],
)
def test_malformed_ziplists_are_bad_payloads(blob: bytes) -> None:
    with pytest.raises(BadPayload):
        ziplist.decode_ziplist(blob)


def test_zipmaps() -> None:
    pairs = [(b"f", b"v"), (b"field", b"x" * 300)]
    assert ziplist.decode_zipmap(make_zipmap(pairs, free=3)) == pairs
    many = [(b"%d" % i, b"v") for i in range(300)]
    assert ziplist.decode_zipmap(make_zipmap(many)) == many  # count byte 254: counted


@pytest.mark.parametrize(
    "blob",
    [
        b"\x00\xff",  # empty
        b"\x02\x01f\x01\x00v\xff",  # count mismatch
        b"\x01\x01f\x05\x00v\xff",  # value past the end
        b"\x01\x01f\x01\x00v",  # no terminator
        b"\x01\xfe\x01\x00\x00\x00f\x01\x00v\xff",  # a long form for a short length
    ],
)
def test_malformed_zipmaps_are_bad_payloads(blob: bytes) -> None:
    with pytest.raises(BadPayload):
        ziplist.decode_zipmap(blob)

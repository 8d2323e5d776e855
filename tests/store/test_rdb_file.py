"""Reading whole RDB files (store.rdb.file): the records around the keys, and refusals.

Files are built here record by record; the e2e tests read files a real redis-server wrote."""

from __future__ import annotations

import pytest

from concord_resp.store.encoding import EncodingConfig
from concord_resp.store.rdb import dump_payload, footer_is_valid, load_payload
from concord_resp.store.rdb.crc64 import crc64
from concord_resp.store.rdb.file import (
    RdbFileError,
    RdbFunctions,
    RdbKey,
    file_checksum,
    read_rdb,
)
from concord_resp.store.rdb.functions import library_codes
from concord_resp.store.types import ListValue

CONFIG = EncodingConfig()


def string(data: bytes) -> bytes:
    assert len(data) < 64
    return bytes([len(data)]) + data


def rdb(body: bytes, *, version: int = 10, checksum: bool = True) -> bytes:
    data = b"REDIS%04d" % version + body + b"\xff"
    return data + (crc64(data) if checksum else 0).to_bytes(8, "little")


def read_all(data: bytes) -> tuple[list[RdbKey | RdbFunctions], int]:
    records = read_rdb(data, CONFIG)
    items = []
    while True:
        try:
            items.append(next(records))
        except StopIteration as end:
            return items, end.value


def test_keys_with_their_database_and_expiry() -> None:
    value = dump_payload(ListValue([b"a", b"b"]), CONFIG)[:-10]  # type byte + value
    body = (
        b"\xfa" + string(b"redis-ver") + string(b"7.0.15")  # AUX, skipped
        + b"\xfe\x00\xfb\x02\x01"  # SELECTDB 0, RESIZEDB 2 1
        + b"\x00" + string(b"plain") + string(b"v")
        + b"\xfc" + (1_700_000_000_123).to_bytes(8, "little")  # EXPIRETIME_MS
        + b"\xf8\x05\xf9\x07"  # IDLE, FREQ: skipped
        + value[:1] + string(b"list") + value[1:]
        + b"\xfe\x03"  # SELECTDB 3
        + b"\xfd" + (1_700_000_000).to_bytes(4, "little")  # EXPIRETIME (seconds)
        + b"\x00" + string(b"old") + string(b"x")
    )  # fmt: skip
    data = rdb(body)
    items, eof = read_all(data)
    assert eof == len(data) - 9
    keys = [item for item in items if isinstance(item, RdbKey)]
    assert [(k.db, k.key, k.expires_ms) for k in keys] == [
        (0, b"plain", None),
        (0, b"list", 1_700_000_000_123),
        (3, b"old", 1_700_000_000_000),
    ]
    for key in keys:  # each payload is one RESTORE takes
        assert footer_is_valid(key.payload)
    assert load_payload(keys[1].payload, CONFIG) == ListValue([b"a", b"b"])
    assert file_checksum(data, eof) == (crc64(data[:-8]), crc64(data[:-8]))
    checked = [item for item in read_rdb(data, CONFIG, payloads=False)]
    assert [item.key for item in checked if isinstance(item, RdbKey)] == [b"plain", b"list", b"old"]
    assert {item.payload for item in checked if isinstance(item, RdbKey)} == {b""}


def test_function_libraries_become_one_function_restore_payload() -> None:
    code = b"#!lua name=lib\nreturn 1"
    data = rdb(b"\xf5" + string(code) + b"\x00" + string(b"k") + string(b"v"))
    items, _ = read_all(data)
    assert isinstance(items[0], RdbFunctions)
    assert list(library_codes(items[0].payload)) == [code]
    assert isinstance(items[1], RdbKey)
    only_functions, _ = read_all(rdb(b"\xf5" + string(code)))
    assert [type(item) for item in only_functions] == [RdbFunctions]


def test_a_checksum_of_zero_or_an_old_version_has_none() -> None:
    data = rdb(b"", checksum=False)
    assert file_checksum(data, len(data) - 9) is None
    old = b"REDIS0004\xff"
    assert file_checksum(old, len(old) - 1) is None
    damaged = bytearray(rdb(b"\x00" + string(b"k") + string(b"v")))
    damaged[12] ^= 1
    stored, computed = file_checksum(bytes(damaged), len(damaged) - 9) or (0, 0)
    assert stored != computed


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"HELLO0010\xff", "not an RDB file"),
        (b"REDIS", "not an RDB file"),
        (b"REDIS0011\xff", "RDB version 11"),
        (rdb(b"\xf7\x01"), "Concord has no modules"),
        (rdb(b"\x06" + string(b"k") + b"\x00"), "at byte 9: RDB object type 6"),
        (b"REDIS0010\x00\x01k", "at byte 9: short read"),
        (b"REDIS0010", "at byte 9: short read"),
    ],
)
def test_what_cannot_be_read_is_refused_with_where(data: bytes, message: str) -> None:
    with pytest.raises(RdbFileError, match=message):
        read_all(data)

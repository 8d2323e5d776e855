"""FUNCTION DUMP's payload: function libraries in Redis 7.0's RDB records, and back.

A payload is one record per library, RDB_OPCODE_FUNCTION2 (245) and the library's whole code
(its `#!lua name=...` line included) as an RDB string, then the RDB version and the CRC-64,
as a DUMP payload ends (rdb.c's rdbSaveFunctions, functions.c's functionDumpCommand).
`library_codes` reads them back as FUNCTION RESTORE does, one record at a time, so that its
caller loads each library before the next record is read, as Redis does: an error names the
first thing that fails, in Redis's order. The older record (246, 7.0 release candidates:
name, engine, description, code) is read too and becomes the code it stands for. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

from .crc64 import crc64
from .object_types import RDB_VERSION
from .primitives import BadPayload, Reader, write_string

FUNCTION2: Final = 245  # RDB_OPCODE_FUNCTION2: a library's code
FUNCTION_PRE_GA: Final = 246  # RDB_OPCODE_FUNCTION: name, engine, description, code
FOOTER_SIZE: Final = 10


class FunctionPayloadError(ValueError):
    """A record of the payload cannot be read: the message is Redis's text (without ERR)."""


def dump_libraries(codes: Iterable[bytes]) -> bytes:
    """The FUNCTION DUMP payload of libraries with these codes, in this order."""
    body = bytearray()
    for code in codes:
        body.append(FUNCTION2)
        write_string(body, code)
    body += RDB_VERSION.to_bytes(2, "little")
    body += crc64(body).to_bytes(8, "little")
    return bytes(body)


def library_codes(payload: bytes) -> Iterator[bytes]:
    """The code of each library in a payload (whose footer is valid), read as Redis reads
    them: records until 10 bytes are left, a string may run into the footer. Raises
    FunctionPayloadError where Redis stops."""
    reader = Reader(payload)
    while len(payload) - reader.position > FOOTER_SIZE:
        kind = reader.byte()
        if kind == FUNCTION2:
            yield _string(reader, "Failed loading library payload")
        elif kind == FUNCTION_PRE_GA:
            yield _pre_ga_code(reader)
        else:
            raise FunctionPayloadError("given type is not a function")


def _pre_ga_code(reader: Reader) -> bytes:
    name = _string(reader, "Failed loading library name")
    engine = _string(reader, "Failed loading engine name")
    try:
        has_description = reader.length()
    except BadPayload:
        raise FunctionPayloadError("Failed loading library description indicator") from None
    if has_description:
        _string(reader, "Failed loading library description")
    code = _string(reader, "Failed loading library blob")
    # sdscatfmt("#!%s name=%s\n%s"): each part as a C string, up to its first NUL
    return b"#!%s name=%s\n%s" % (_c_string(engine), _c_string(name), _c_string(code))


def _string(reader: Reader, failure: str) -> bytes:
    try:
        return reader.string()
    except BadPayload:
        raise FunctionPayloadError(failure) from None


def _c_string(data: bytes) -> bytes:
    nul = data.find(b"\0")
    return data if nul < 0 else data[:nul]
